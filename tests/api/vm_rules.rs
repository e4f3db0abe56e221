//! Rules on sharded sessions: a `victoriametrics` session's rules are evaluated by vmalert in
//! its store's SLURM job (Prometheus agents evaluate none), written back into the store with
//! the session's labels, reloaded on `PUT …/rules`, and its alerts collected like a single
//! Prometheus's. A store benchmon does not run takes no rules (a 422 naming `rules`).

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RULES: &str = "groups:
  - name: bench
    rules:
      - alert: DrivenHigh
        expr: bench_driven == 1
        for: 0s
        labels:
          severity: page
      - record: bench:driven:max
        expr: max(bench_driven)
";

/// A rule promtool takes and vmalert (1.79) does not.
const VMALERT_REFUSES: &str = "groups:
  - name: g
    rules:
      - alert: Kept
        expr: up == 0
        keep_firing_for: 1m
";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn secs(rfc3339: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0
}

/// An exporter serving `bench_driven <value>`, the value set by the test (aborted on drop).
struct DrivenExporter {
    port: u16,
    value: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl DrivenExporter {
    async fn start() -> DrivenExporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let value = Arc::new(AtomicU8::new(0));
        let shared = value.clone();
        let task = serve_exposition(listener, move || {
            format!("bench_driven {}\n", shared.load(Ordering::SeqCst))
        });
        DrivenExporter { port, value, task }
    }

    fn drive(&self, v: u8) {
        self.value.store(v, Ordering::SeqCst);
    }
}

impl Drop for DrivenExporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every sample's time of the series `promql` selects in the last `range` at `store`.
async fn sample_times(store: &str, promql: &str, range: &str) -> Vec<f64> {
    let v: Value = reqwest::Client::new()
        .get(format!("{store}/api/v1/query"))
        .query(&[("query", format!("{promql}[{range}]"))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|p| p[0].as_f64().unwrap())
        .collect()
}

/// The rule groups vmalert evaluates, asked at the port the store job published for it.
async fn vmalert_groups(app: &TestApp, id: &str, store: &str) -> Vec<String> {
    let endpoint = std::fs::read_to_string(
        app.dirs
            .state
            .join("sessions")
            .join(id)
            .join("runtime/endpoint"),
    )
    .unwrap();
    let rules_port: u16 = endpoint
        .lines()
        .find_map(|l| l.strip_prefix("rules_port="))
        .unwrap()
        .parse()
        .unwrap();
    let mut vmalert = url::Url::parse(store).unwrap();
    vmalert.set_port(Some(rules_port)).unwrap();
    let groups: Value = reqwest::get(vmalert.join("/api/v1/rules").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups["status"], "success", "{groups}");
    // vmalert without rules answers `"groups": null`.
    groups["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_victoriametrics_sessions_rules_are_evaluated_by_vmalert_in_its_store_job() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = DrivenExporter::start().await;
    let id = unique_id("vmrules");

    // Refused before anything exists: promtool's syntax check, then vmalert's own.
    for (bad, says) in [
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n",
            "promtool check rules: ",
        ),
        (VMALERT_REFUSES, "vmalert -dryRun: "),
    ] {
        let (status, _, p) = app
            .send(
                Method::POST,
                "/api/v1/sessions",
                Some(json!({"run_id": id, "store": "victoriametrics", "rules": bad})),
            )
            .await;
        assert_eq!((status, &p["field"]), (422, &json!("rules")), "{p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.starts_with(says), "{detail}");
        assert!(!detail.contains("/tmp"), "{detail}");
        app.session(&id).await.problem(404);
    }
    let detail = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": id, "store": "victoriametrics", "rules": VMALERT_REFUSES})),
        )
        .await
        .2["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("keep_firing_for"), "{detail}");

    let (status, _, created) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(
                json!({"run_id": id, "scrape_interval": "1s", "store": "victoriametrics",
                "scrapers": 2, "rules": RULES}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let client = json!({"client_id": "c1", "node": "localhost",
        "exporters": {"bench": format!("127.0.0.1:{}", exporter.port)}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    let store = app.start_and_wait(&id).await;
    let config = app.config(&id).await.success(200);
    assert_eq!(config.rules.as_deref(), Some(RULES));
    let script = config.job_script.unwrap();
    let rules_path = app.dirs.state.join("sessions").join(&id).join("rules.yml");
    for flag in [
        format!("-rule='{}'", rules_path.display()),
        "-evaluationInterval=1000ms".to_owned(),
        format!("-external.label='session={id}'"),
        format!("-external.label='run_id={id}'"),
        r#"-remoteWrite.url="http://127.0.0.1:$port""#.to_owned(),
        r#"-remoteRead.url="http://127.0.0.1:$port""#.to_owned(),
    ] {
        assert!(script.contains(&flag), "{flag} not in {script}");
    }
    // vmalert runs in the store's job: on the store's node, its port published beside it.
    assert_eq!(vmalert_groups(&app, &id, &store).await, ["bench"]);

    // The recording rule's series is in the store with the session's labels, though its
    // expression aggregated them away.
    let rec = query_until_present(&store, "bench:driven:max", Duration::from_secs(40)).await;
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0]["metric"]["session"], id.as_str());
    assert_eq!(rec[0]["metric"]["run_id"], id.as_str());
    assert_eq!(rec[0]["value"][1], "0");

    let start = now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let on = now();
    exporter.drive(1);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let off = now();
    exporter.drive(0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = now();
    let req = from_json(json!({"window_start": format!("{start:.3}"),
        "window_end": format!("{end:.3}"), "run_id": "alerts", "raw": false,
        "queries": {"rec": "bench:driven:max"}}));
    let out = app.collect(&id, &req).await.success(201);
    let bundle = Path::new(&out.bundle_dir);
    let mut csv = csv::Reader::from_path(bundle.join("alerts.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((&r[0], &r[1]), ("DrivenHigh", "firing"));
    for label in [
        r#"severity="page""#.to_owned(),
        format!(r#"session="{id}""#),
        format!(r#"run_id="{id}""#),
        r#"scraper=""#.to_owned(),
    ] {
        assert!(r[5].contains(&label), "{label} not in {}", &r[5]);
    }
    // Scraped within 1 s of the switch, sent within 1 s, evaluated within 1 s (plus slack).
    let (first, last) = (secs(&r[2]), secs(&r[3]));
    assert!(
        first >= on - 1.0 && first <= on + 4.0,
        "first {first}, on {on}"
    );
    assert!(
        first >= start && last <= end,
        "{first}..{last} outside {start}..{end}"
    );
    assert!(
        last >= off - 2.0 && last <= off + 4.0,
        "last {last}, off {off}"
    );
    assert!(r[4].parse::<u64>().unwrap() >= 3, "{r:?}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["context"]["store"], "victoriametrics");
    assert_eq!(manifest["context"]["alerts"][0]["first_seen"], &r[2]);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["alerts"][0]["alertname"], "DrivenHigh");
    let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(
        report.contains("<td class=\"l\">DrivenHigh</td><td class=\"l\">firing</td>"),
        "the alert is not in the report"
    );
    let rec = manifest["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "rec")
        .unwrap();
    assert_eq!(rec["status"], "ok");
    assert_eq!(rec["aggregate"][0]["max"], 1.0);

    // New rules while it runs: checked by both, then vmalert reloads them.
    for bad in [json!("groups: [{"), json!(VMALERT_REFUSES)] {
        let (status, _, p) = app
            .send(
                Method::PUT,
                &format!("/api/v1/sessions/{id}/rules"),
                Some(json!({"rules": bad})),
            )
            .await;
        assert_eq!((status, &p["field"]), (422, &json!("rules")), "{p}");
    }
    assert_eq!(
        app.config(&id).await.success(200).rules.as_deref(),
        Some(RULES)
    );
    let low = json!({"groups": [{"name": "low",
        "rules": [{"alert": "DrivenLow", "expr": "bench_driven == 0"}]}]});
    let (status, _, view) = app
        .send(
            Method::PUT,
            &format!("/api/v1/sessions/{id}/rules"),
            Some(json!({"rules": low})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["reloaded"], true);
    assert_eq!(vmalert_groups(&app, &id, &store).await, ["low"]);
    let put_at = now();
    let alert = query_until_present(
        &store,
        &format!(r#"ALERTS{{alertname="DrivenLow",session="{id}"}}"#),
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(alert[0]["metric"]["run_id"], id.as_str());
    // The old rules are gone: driven high again, DrivenHigh fires no more.
    exporter.drive(1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let high_after: Vec<f64> = sample_times(&store, r#"ALERTS{alertname="DrivenHigh"}"#, "1m")
        .await
        .into_iter()
        .filter(|t| *t > put_at + 1.0)
        .collect();
    assert!(
        high_after.is_empty(),
        "DrivenHigh still evaluated at {high_after:?}"
    );
    assert!(app
        .config(&id)
        .await
        .success(200)
        .rules
        .unwrap()
        .contains("DrivenLow"));

    let session = app.session(&id).await.success(200);
    let job = session.job_id.clone().unwrap();
    app.client.stop_session(&id).await.unwrap();
    assert_eq!(squeue_state(&job), "");
    let output =
        std::fs::read_to_string(app.dirs.state.join("sessions").join(&id).join("job.out")).unwrap();
    assert!(
        output.contains("benchmon: starting vmalert on "),
        "{output}"
    );
    assert!(
        !output.contains("vmalert exited") && !output.contains("vmalert did not start"),
        "{output}"
    );
    assert!(
        processes_mentioning(&format!("session={id}")).is_empty(),
        "vmalert outlived its job"
    );
    // The store (vmalert's results with it) was copied back once both had stopped: the same
    // window read offline has the same alerts.
    let req = from_json(json!({"window_start": format!("{start:.3}"),
        "window_end": format!("{end:.3}"), "run_id": "alerts-offline", "raw": false}));
    let offline = app.collect(&id, &req).await.success(201);
    assert_eq!(offline.manifest["context"]["prometheus_source"], "offline");
    let alerts = |dir: &str| std::fs::read(Path::new(dir).join("alerts.csv")).unwrap();
    assert!(
        alerts(&offline.bundle_dir) == alerts(&out.bundle_dir),
        "alerts.csv differs offline"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn rules_on_a_store_benchmon_does_not_run_are_a_422_naming_rules() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("remoterules");
    let store = json!({"remote_write_url": "http://127.0.0.1:9/api/v1/write",
        "query_url": "http://127.0.0.1:9"});
    let rules = "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n";
    let (status, ct, p) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": id, "store": store, "rules": rules})),
        )
        .await;
    assert_eq!(
        (status, ct.as_str()),
        (422, "application/problem+json"),
        "{p}"
    );
    assert_eq!(p["field"], "rules");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("not evaluated on a store benchmon does not run"),
        "{p}"
    );
    app.session(&id).await.problem(404);
    // Created without rules, it takes none later either.
    app.create(&from_json(json!({"run_id": id, "store": store})))
        .await
        .success(201);
    let (status, _, p) = app
        .send(
            Method::PUT,
            &format!("/api/v1/sessions/{id}/rules"),
            Some(json!({"rules": rules})),
        )
        .await;
    assert_eq!((status, &p["field"]), (422, &json!("rules")), "{p}");
    assert_eq!(app.config(&id).await.success(200).rules, None);
    app.shutdown().await;
}

#[tokio::test]
async fn rules_put_on_a_running_session_without_any_load_and_a_lost_vmalert_fails_the_session() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = DrivenExporter::start().await;
    let id = unique_id("vmrules-late");
    app.create(&from_json(json!({"run_id": id, "scrape_interval": "1s",
        "store": "victoriametrics", "scrapers": 1})))
        .await
        .success(201);
    let client = json!({"client_id": "c1", "node": "localhost",
        "exporters": {"bench": format!("127.0.0.1:{}", exporter.port)}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    let store = app.start_and_wait(&id).await;
    assert_eq!(app.config(&id).await.success(200).rules, None);
    assert!(vmalert_groups(&app, &id, &store).await.is_empty());
    // No rule file when the job started: vmalert ran on none, and loads the new one.
    let (status, _, view) = app
        .send(
            Method::PUT,
            &format!("/api/v1/sessions/{id}/rules"),
            Some(json!({"rules": RULES})),
        )
        .await;
    assert_eq!((status, &view["reloaded"]), (200, &json!(true)), "{view}");
    assert_eq!(vmalert_groups(&app, &id, &store).await, ["bench"]);
    exporter.drive(1);
    let alert = query_until_present(
        &store,
        &format!(r#"ALERTS{{alertname="DrivenHigh",session="{id}"}}"#),
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(alert[0]["metric"]["alertstate"], "firing");

    // vmalert dies: the store stops with it and the session fails, saying why.
    let vmalert: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            let pid = p.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmd = std::fs::read(p.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.starts_with("vmalert ") && cmd.contains(&format!("session={id} "))).then_some(pid)
        })
        .collect();
    assert_eq!(vmalert.len(), 1, "{vmalert:?}");
    sh("kill", &["-KILL", &vmalert[0].to_string()]);
    let failed = app
        .client
        .wait_for(
            &id,
            benchmon::session::SessionState::Failed,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let said = format!(
        "{} {}",
        failed.failure_reason.unwrap_or_default(),
        failed.output_tail.unwrap_or_default()
    );
    assert!(
        said.contains("benchmon: vmalert exited with status 137"),
        "{said}"
    );
    assert_eq!(squeue_state(failed.job_id.as_deref().unwrap()), "");
    for s in &failed.scraper_jobs {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !squeue_state(&s.job_id).is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "scraper {} runs on",
                s.job_id
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    app.shutdown().await;
}
