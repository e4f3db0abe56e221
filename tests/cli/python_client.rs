//! `examples/python/benchmon_client.py`, driven by Python as a harness would: the seed's example
//! rewritten with it runs a whole session on SLURM, and its errors and context managers behave
//! (`tests/python/check_client.py`); it pushes samples and records events
//! (`tests/python/check_push.py`).

use crate::binary::*;
use crate::support::{spawn_app, unique_id, NodeExporter};
use benchmon::launcher::LauncherKind;

#[tokio::test]
async fn the_python_client_runs_a_whole_session_on_slurm_and_stops_it() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("py-client");
    let mut cmd = command("python3", &app.url(""));
    cmd.arg(repo_file("examples/python/seed_example.py"))
        .env("RUN_ID", &id)
        .env("NODE_EXPORTER", exporter.address())
        .env("SCRAPE_INTERVAL", "1s")
        .env("BENCHMARK", "sleep 4");
    let run = output(cmd).await.success();
    assert!(run.stdout.contains("Prometheus at http://"), "{run}");
    let report = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line: {run}"));
    assert!(report.ends_with("report.html"), "{run}");
    let manifest = std::path::Path::new(report).with_file_name("MANIFEST.json");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert!(m["samples"].as_u64().unwrap() > 0, "{m}");
    // The window opened after the first scrape: the target is covered from its start.
    // (The exporter, and Prometheus's own target.)
    assert_eq!(m["coverage"]["targets"].as_array().unwrap().len(), 2, "{m}");
    assert_eq!(m["coverage"]["flagged"], 0, "{m}");
    assert!(run.stdout.contains("Metrics saved to: ['"), "{run}");
    // The context manager stopped the session on the way out.
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state.as_str(), "stopped");
    app.shutdown().await;
}

#[tokio::test]
async fn the_python_client_raises_typed_errors_and_closes_windows_on_failure() {
    let app = spawn_app(LauncherKind::Local).await;
    let mut cmd = command("python3", &app.url(""));
    cmd.arg(repo_file("tests/python/check_client.py"))
        .env("RUN_ID", unique_id("py-check"));
    let run = output(cmd).await.success();
    assert!(run.stdout.contains("client checks passed"), "{run}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_python_client_pushes_samples_that_the_sessions_prometheus_serves_and_records_events() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("py-push");
    let mut cmd = command("python3", &app.url(""));
    cmd.arg(repo_file("tests/python/check_push.py"))
        .env("RUN_ID", &id);
    let run = output(cmd).await.success();
    assert!(run.stdout.contains("push and event checks passed"), "{run}");
    // What the script saw, seen from here too: the events, kept with the session.
    let session = benchmon::domain::RunId::parse(&id).unwrap();
    let events = app.client.events(&session).await.unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state.as_str(), "stopped");
    app.shutdown().await;
}
