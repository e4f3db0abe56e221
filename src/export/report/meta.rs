//! The run metadata at the top of the report: who ran what, where, with which versions. Read
//! from the manifest's `context` (what the caller recorded: a session snapshot and its targets
//! for a session collection, the source for `benchmon export`), so the engine needs no session
//! types.

use serde_json::Value;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `k=v, k=v` of a JSON object of strings.
fn pairs(v: &Value) -> Option<String> {
    let o = v.as_object().filter(|o| !o.is_empty())?;
    Some(
        o.iter()
            .map(|(k, v)| format!("{k}={}", text(v).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// `(label, value)` rows, the empty ones left out.
pub(super) fn run_metadata(
    context: &Value,
    prometheus: &str,
    version: &str,
) -> Vec<(String, String)> {
    let s = &context["session"];
    let clients = context["targets"]["clients"].as_array();
    let mut nodes: Vec<String> = clients
        .into_iter()
        .flatten()
        .filter_map(|c| text(&c["node"]))
        .collect();
    nodes.sort();
    nodes.dedup();
    let targets: Vec<String> = clients
        .into_iter()
        .flatten()
        .map(|c| {
            let exporters = c["exporters"]
                .as_object()
                .map(|e| e.keys().cloned().collect::<Vec<_>>().join("+"))
                .unwrap_or_default();
            format!(
                "{} on {} ({exporters})",
                text(&c["client_id"]).unwrap_or_default(),
                text(&c["node"]).unwrap_or_default()
            )
        })
        .chain(
            context["targets"]["services"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    format!(
                        "service {} at {}",
                        text(&v["name"]).unwrap_or_default(),
                        text(&v["endpoint"]).unwrap_or_default()
                    )
                }),
        )
        .collect();
    let job = text(&s["slurm_job_id"]).or_else(|| text(&s["job_id"]));
    let rows = [
        ("Session", text(&s["session_id"])),
        ("Run id", text(&s["run_id"])),
        ("SLURM job", job),
        ("Partition", text(&s["resources"]["partition"])),
        ("Prometheus node", text(&s["node"])),
        (
            "Nodes monitored",
            (!nodes.is_empty()).then(|| nodes.join(", ")),
        ),
        ("Targets", (!targets.is_empty()).then(|| targets.join("; "))),
        ("Session labels", pairs(&s["labels"])),
        ("Scrape interval", text(&s["scrape_interval"])),
        ("Named window collected", text(&context["window"])),
        (
            "Data source",
            text(&context["prometheus_source"]).or_else(|| text(&context["source"])),
        ),
        (
            "Prometheus",
            Some(format!("{prometheus} (version {version})")),
        ),
        ("benchmon", Some(env!("CARGO_PKG_VERSION").to_owned())),
    ];
    rows.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_header_names_the_session_job_nodes_and_targets() {
        let ctx = json!({
            "session": {"session_id": "bench-1", "run_id": "bench-1", "slurm_job_id": "42",
                        "resources": {"partition": "gpu"}, "node": "n0",
                        "labels": {"model": "gpt2"}, "scrape_interval": "5s"},
            "targets": {"clients": [{"client_id": "c1", "node": "n1", "exporters": {"dcgm": "n1:9400", "node": "n1:9100"}}],
                        "services": [{"name": "vllm", "endpoint": "http://n1:8000/metrics"}]},
            "prometheus_source": "job",
        });
        let rows = run_metadata(&ctx, "http://n0:9090", "2.42.0");
        let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1.as_str());
        assert_eq!(get("SLURM job"), Some("42"));
        assert_eq!(get("Partition"), Some("gpu"));
        assert_eq!(get("Nodes monitored"), Some("n1"));
        assert_eq!(
            get("Targets"),
            Some("c1 on n1 (dcgm+node); service vllm at http://n1:8000/metrics")
        );
        assert_eq!(get("Session labels"), Some("model=gpt2"));
        assert_eq!(get("Prometheus"), Some("http://n0:9090 (version 2.42.0)"));
        assert_eq!(get("Named window collected"), None);
    }
}
