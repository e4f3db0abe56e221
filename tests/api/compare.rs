//! `POST /api/v1/compare`: two bundles of a real session (local launcher, real Prometheus,
//! real node exporter) named `SESSION/COLLECTION`, and a problem naming the field for each
//! kind of bad input.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The aggregate `mean` of `query` in a bundle's summary.csv, as written.
fn summary_mean(bundle: &str, query: &str) -> f64 {
    let mut r = csv::Reader::from_path(std::path::Path::new(bundle).join("summary.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (q, scope, mean) = (col("query"), col("scope"), col("mean"));
    r.records()
        .map(Result::unwrap)
        .find(|rec| &rec[q] == query && &rec[scope] == "aggregate" && !rec[mean].is_empty())
        .map(|rec| rec[mean].parse().unwrap())
        .unwrap()
}

#[tokio::test]
async fn two_collections_of_a_session_compare_by_session_and_collection_name() {
    let app = spawn_app(LauncherKind::Local).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("compare");
    app.create(&from_json(json!({"run_id": id, "scrape_interval": "1s"})))
        .await
        .success(201);
    let client =
        json!({"client_id": "c1", "node": "localhost", "exporters": {"node": exporter.address()}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    let prom = app.start_and_wait(&id).await;
    query_until_present(
        &prom,
        &format!(r#"node_load1{{session="{id}"}}"#),
        Duration::from_secs(40),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut dirs = Vec::new();
    for run in ["base", "cand"] {
        let req = from_json(json!({"last": "5s", "run_id": run, "raw": false}));
        let out = app.collect(&id, &req).await.success(201);
        dirs.push(out.bundle_dir);
    }

    // A bundle against itself: every row the same, no regression, even with a 0 % gate.
    let same = json!({"baseline": format!("{id}/base"), "candidate": format!("{id}/base"),
        "tolerances": {"rules": [{"query": "*", "kpi": "*", "max_regression": "0%"}]}});
    let c = app.client.compare(&same).await.unwrap();
    let rows = c["rows"].as_array().unwrap();
    assert!(rows.len() > 10, "{c}");
    assert_eq!(c["counts"]["same"].as_u64().unwrap() as usize, rows.len());
    assert_eq!(c["regression"], false);
    assert_eq!(c["baseline"]["dir"], dirs[0].as_str());

    // Two collections: each side's value is the one in that bundle's summary.
    let two = json!({"baseline": format!("{id}/base"), "candidate": format!("{id}/cand")});
    let c = app.client.compare(&two).await.unwrap();
    let row = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"] == "target_up" && r["scope"] == "aggregate" && r["kpi"] == "mean")
        .unwrap();
    assert_eq!(
        row["baseline"].as_f64().unwrap(),
        summary_mean(&dirs[0], "target_up")
    );
    assert_eq!(
        row["candidate"].as_f64().unwrap(),
        summary_mean(&dirs[1], "target_up")
    );
    assert_eq!(c["candidate"]["id"], "cand");

    // The CLI resolves the same names through the server and reads the same bundles.
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_benchmon"))
        .args([
            "compare",
            &format!("{id}/base"),
            &format!("{id}/cand"),
            "--json",
        ])
        .args(["--server", &app.url("")])
        .env_remove("BENCHMON_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(
        cli.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let from_cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(from_cli, c);
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_benchmon"))
        .args(["compare", &format!("{id}/base"), &format!("{id}/nope")])
        .args(["--server", &app.url("")])
        .output()
        .await
        .unwrap();
    assert_eq!(cli.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cli.stderr).contains("has no collection \"nope\""));

    // Bad input: a problem naming the field.
    let cases: [(Value, u16, &str); 6] = [
        (
            json!({"baseline": "no-slash", "candidate": format!("{id}/base")}),
            422,
            "baseline",
        ),
        (
            json!({"baseline": "../x/y", "candidate": format!("{id}/base")}),
            422,
            "baseline",
        ),
        (
            json!({"baseline": format!("{id}/base"), "candidate": format!("{id}/zzz")}),
            404,
            "candidate",
        ),
        (
            json!({"baseline": "nobody-here/base", "candidate": format!("{id}/base")}),
            404,
            "baseline",
        ),
        (
            json!({"baseline": format!("{id}/base"), "candidate": format!("{id}/cand"),
            "tolerances": {"rules": [{"query": "*", "kpi": "p99", "max_regression": "-5%"}]}}),
            422,
            "tolerances.rules[0].max_regression",
        ),
        (
            json!({"baseline": format!("{id}/base"), "candidate": format!("{id}/cand"),
            "tolerances": {"rules": [{"query": "*", "kpi": "p99", "max_regression": "5%",
                "direction": "sideways"}]}}),
            422,
            "tolerances.rules[0].direction",
        ),
    ];
    for (body, status, field) in cases {
        let (got, ct, problem) = app
            .send(Method::POST, "/api/v1/compare", Some(body.clone()))
            .await;
        assert_eq!(
            (got, ct.as_str()),
            (status, "application/problem+json"),
            "{body}: {problem}"
        );
        assert_eq!(problem["field"], field, "{body}: {problem}");
        assert_eq!(problem["instance"], "/api/v1/compare");
    }
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
