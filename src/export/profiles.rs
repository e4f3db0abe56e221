//! Default queries, chosen from what a session registered.
//!
//! Every series of a session carries `session` and `run_id`; exporters add `exporter="<kind>"`
//! and `node`; services add `service`. Rates use `$__rate_interval`, which the collection
//! replaces with `max(4 × scrape interval, step + scrape interval)`. Rate results are gauges;
//! histogram queries keep their buckets summed by `le` so the KPIs can compute quantiles over
//! the window, and a `histogram_quantile` query next to them gives the chart over time.

use super::{MetricKind, NamedQuery, QueryOrigin, Unit};

const RI: &str = "$__rate_interval";

/// Profile queries of metrics that only some hardware has (RAPL needs Intel/AMD package
/// counters readable by the exporter; older DCGM lacks the energy counter): when absent, the
/// verdict notes it instead of calling the collection partial.
pub(crate) const OPTIONAL: [&str; 2] = ["cpu_package_energy_joules", "gpu_energy_joules"];

fn q(profile: &str, name: &str, kind: MetricKind, promql: String, unit: Unit) -> NamedQuery {
    NamedQuery {
        name: name.to_owned(),
        promql,
        kind,
        origin: QueryOrigin::Profile(profile.to_owned()),
        unit: Some(unit),
    }
}

/// Default queries for a session whose clients registered `exporter_kinds` (`node`, `dcgm`, …)
/// and which registered `services`. `session_selector` is a list of label matchers
/// (`session="benchmark-01"`), with or without braces. Unknown exporter kinds get no profile
/// (their series are still in the raw export); the `services` profile (`up`, scrape duration of
/// every target) is always included, and the vLLM profile whenever services are registered —
/// its queries are reported absent when the services are not vLLM.
pub fn default_queries(
    exporter_kinds: &[String],
    services: &[String],
    session_selector: &str,
) -> Vec<NamedQuery> {
    let sel = session_selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let with = |extra: &str| match (sel.is_empty(), extra.is_empty()) {
        (true, _) => extra.to_owned(),
        (false, true) => sel.to_owned(),
        (false, false) => format!("{sel},{extra}"),
    };
    let has = |k: &str| exporter_kinds.iter().any(|e| e == k);
    let mut out = Vec::new();
    use MetricKind::{Gauge, Histogram};
    if has("node") {
        let n = with("exporter=\"node\"");
        let p = "node";
        out.push(q(
            p,
            "node_cpu_utilisation",
            Gauge,
            format!(
            "1 - avg by (node, instance) (rate(node_cpu_seconds_total{{{n},mode=\"idle\"}}[{RI}]))"
        ),
            Unit::Ratio,
        ));
        out.push(q(
            p,
            "node_memory_used_bytes",
            Gauge,
            format!("node_memory_MemTotal_bytes{{{n}}} - node_memory_MemAvailable_bytes{{{n}}}"),
            Unit::Bytes,
        ));
        for (name, metric, filter) in [
            (
                "node_network_receive_bytes_per_second",
                "node_network_receive_bytes_total",
                ",device!=\"lo\"",
            ),
            (
                "node_network_transmit_bytes_per_second",
                "node_network_transmit_bytes_total",
                ",device!=\"lo\"",
            ),
            (
                "node_disk_read_bytes_per_second",
                "node_disk_read_bytes_total",
                "",
            ),
            (
                "node_disk_written_bytes_per_second",
                "node_disk_written_bytes_total",
                "",
            ),
        ] {
            out.push(q(
                p,
                name,
                Gauge,
                format!("sum by (node, instance) (rate({metric}{{{n}{filter}}}[{RI}]))"),
                Unit::BytesPerSecond,
            ));
        }
    }
    if has("node") {
        // RAPL package counters (node exporter's rapl collector), in joules.
        let n = with("exporter=\"node\"");
        out.push(q(
            "node",
            "cpu_package_energy_joules",
            MetricKind::Counter,
            format!("node_rapl_package_joules_total{{{n}}}"),
            Unit::Joules,
        ));
    }
    if has("ipmi") {
        let i = with("exporter=\"ipmi\"");
        out.push(q(
            "ipmi",
            "node_power_watts",
            Gauge,
            format!("ipmi_dcmi_power_consumption_watts{{{i}}}"),
            Unit::Watts,
        ));
    }
    if has("dcgm") {
        let d = with("exporter=\"dcgm\"");
        for (name, metric, unit) in [
            (
                "gpu_utilisation_percent",
                "DCGM_FI_DEV_GPU_UTIL",
                Unit::Percent,
            ),
            (
                "gpu_memory_used_mib",
                "DCGM_FI_DEV_FB_USED",
                Unit::Mebibytes,
            ),
            ("gpu_power_watts", "DCGM_FI_DEV_POWER_USAGE", Unit::Watts),
            (
                "gpu_temperature_celsius",
                "DCGM_FI_DEV_GPU_TEMP",
                Unit::Celsius,
            ),
        ] {
            out.push(q("dcgm", name, Gauge, format!("{metric}{{{d}}}"), unit));
        }
        // The board's energy counter since the driver loaded, in mJ: a counter in joules.
        out.push(q(
            "dcgm",
            "gpu_energy_joules",
            MetricKind::Counter,
            format!("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{d}}} / 1000"),
            Unit::Joules,
        ));
    }
    let all = with("");
    out.push(q(
        "services",
        "target_up",
        Gauge,
        format!("up{{{all}}}"),
        Unit::Ratio,
    ));
    out.push(q(
        "services",
        "scrape_duration_seconds",
        Gauge,
        format!("scrape_duration_seconds{{{all}}}"),
        Unit::Seconds,
    ));
    if !services.is_empty() {
        let by = "service, instance, model_name";
        let v = |m: &str| format!("{m}{{{all}}}");
        let p = "vllm";
        out.push(q(
            p,
            "vllm_requests_running",
            Gauge,
            format!("sum by ({by}) ({})", v("vllm:num_requests_running")),
            Unit::Count,
        ));
        out.push(q(
            p,
            "vllm_requests_waiting",
            Gauge,
            format!("sum by ({by}) ({})", v("vllm:num_requests_waiting")),
            Unit::Count,
        ));
        for (name, metric, unit) in [
            (
                "vllm_request_rate",
                "vllm:request_success_total",
                Unit::RequestsPerSecond,
            ),
            (
                "vllm_prompt_tokens_per_second",
                "vllm:prompt_tokens_total",
                Unit::TokensPerSecond,
            ),
            (
                "vllm_generation_tokens_per_second",
                "vllm:generation_tokens_total",
                Unit::TokensPerSecond,
            ),
        ] {
            out.push(q(
                p,
                name,
                Gauge,
                format!("sum by ({by}) (rate({}[{RI}]))", v(metric)),
                unit,
            ));
        }
        // The work done, for energy per token.
        out.push(q(
            p,
            "vllm_generation_tokens",
            MetricKind::Counter,
            format!("sum by ({by}) ({})", v("vllm:generation_tokens_total")),
            Unit::Tokens,
        ));
        for (name, metric) in [
            (
                "vllm_e2e_latency_seconds",
                "vllm:e2e_request_latency_seconds_bucket",
            ),
            (
                "vllm_ttft_seconds",
                "vllm:time_to_first_token_seconds_bucket",
            ),
        ] {
            out.push(q(
                p,
                name,
                Histogram,
                format!("sum by ({by}, le) ({})", v(metric)),
                Unit::Seconds,
            ));
            out.push(q(
                p,
                &format!("{name}_p95"),
                Gauge,
                format!(
                    "histogram_quantile(0.95, sum by ({by}, le) (rate({}[{RI}])))",
                    v(metric)
                ),
                Unit::Seconds,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_follow_registered_exporters_and_services() {
        let node = default_queries(&["node".into()], &[], "{session=\"s1\"}");
        let names: Vec<&str> = node.iter().map(|q| q.name.as_str()).collect();
        assert!(names.contains(&"node_cpu_utilisation") && names.contains(&"target_up"));
        assert!(!names
            .iter()
            .any(|n| n.starts_with("gpu_") || n.starts_with("vllm_")));
        assert_eq!(
            node[0].promql,
            "1 - avg by (node, instance) (rate(node_cpu_seconds_total{session=\"s1\",exporter=\"node\",mode=\"idle\"}[$__rate_interval]))"
        );
        let all = default_queries(&["dcgm".into()], &["llm".into()], "session=\"s1\"");
        assert!(all.iter().any(|q| q.name == "gpu_power_watts"
            && q.promql == "DCGM_FI_DEV_POWER_USAGE{session=\"s1\",exporter=\"dcgm\"}"));
        let lat = all
            .iter()
            .find(|q| q.name == "vllm_e2e_latency_seconds")
            .unwrap();
        assert_eq!(lat.kind, MetricKind::Histogram);
        assert_eq!(lat.origin, QueryOrigin::Profile("vllm".into()));
        assert!(
            all.iter().all(|q| q.unit.is_some()),
            "every profile query has a unit"
        );
        let power = all.iter().find(|q| q.name == "gpu_power_watts").unwrap();
        assert_eq!(power.unit, Some(Unit::Watts));
        let names: std::collections::HashSet<_> = all.iter().map(|q| &q.name).collect();
        assert_eq!(names.len(), all.len(), "names are unique");
    }
}
