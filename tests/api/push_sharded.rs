//! Pushed metrics into a sharded session (`store: "victoriametrics"`, scraper jobs on real
//! SLURM): `POST …/metrics` remote-writes into the VictoriaMetrics job the scrapers feed, the
//! series are queryable there with `source="push"`, and a collection of the store gives their
//! exact KPIs and exports them raw next to the scraped series.

use crate::push::quantile;
use crate::scaleout::SyntheticExporters;
use crate::support::*;
use benchmon::launcher::LauncherKind;
use serde_json::{json, Value};
use std::time::Duration;

const POINTS: i64 = 40;
const STEP_MS: i64 = 250;
const BOUNDS: [&str; 4] = ["0.1", "0.5", "2.5", "+Inf"];
const PER_STEP: [f64; 4] = [40.0, 150.0, 199.0, 200.0];

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn aggregate<'a>(out: &'a Value, query: &str) -> &'a Value {
    let q = out["queries"].as_array().unwrap().iter();
    let q = q.clone().find(|q| q["name"] == query);
    &q.unwrap_or_else(|| panic!("no query {query} in {out}"))["aggregate"][0]
}

#[tokio::test]
async fn pushes_into_a_victoriametrics_session_are_stored_queried_and_collected() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporters = SyntheticExporters::start(3).await;
    let id = unique_id("push-vm");
    app.create(&from_json(json!({
        "run_id": id, "scrape_interval": "1s", "store": "victoriametrics", "scrapers": 2
    })))
    .await
    .success(201);
    for (i, port) in exporters.ports.iter().enumerate() {
        let client = json!({"client_id": format!("c{i}"), "node": "localhost",
            "exporters": {"node": format!("127.0.0.1:{port}")}});
        app.register_client(&id, &from_json(client))
            .await
            .success(201);
    }
    let store = app.start_and_wait(&id).await;
    let s = app.session(&id).await.success(200);
    assert_eq!(
        (s.store.kind(), s.scraper_jobs.len()),
        ("victoriametrics", 2)
    );
    // The window starts once every target's `up` is in the store: `running` means the agents
    // listen, and on a loaded machine their first scrape can come seconds later.
    let all_up = format!(r#"count(up{{session="{id}"}} == 1) == 3"#);
    query_until_present(&store, &all_up, Duration::from_secs(60)).await;
    let t0 = (chrono::Utc::now().timestamp_millis() / 1000 + 1) * 1000;
    assert!(t0 > s.started_at.unwrap().unix_millis());
    let end = t0 + (POINTS - 1) * STEP_MS;
    while chrono::Utc::now().timestamp_millis() < end + 500 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A counter growing by k each step and a histogram whose cumulative buckets gain 40, 150,
    // 199 and 200 observations per step: p50, p95 and p99 all fall inside finite buckets.
    let mut text = String::from("# TYPE loadgen_requests_total counter\n");
    for k in 0..POINTS {
        let ts = t0 + k * STEP_MS;
        text += &format!("loadgen_requests_total {} {ts}\n", k * (k + 1) / 2);
        for (le, per) in BOUNDS.iter().zip(PER_STEP) {
            text += &format!(
                "loadgen_latency_seconds_bucket{{le=\"{le}\"}} {} {ts}\n",
                per * k as f64
            );
        }
    }
    let r = reqwest::Client::new()
        .post(app.url(&format!(
            "/api/v1/sessions/{id}/metrics?client_id=loadgen-1"
        )))
        .header("Content-Type", "text/plain")
        .body(text)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!((status, body), (200, json!({"samples": 200, "series": 5})));

    // In the store, with the session's labels and source="push", every sample.
    let count = format!(
        r#"count_over_time(loadgen_requests_total{{session="{id}",run_id="{id}",source="push",client_id="loadgen-1"}}[30s])"#
    );
    let counted = query_until_present(&store, &count, Duration::from_secs(20)).await;
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0]["value"][1], POINTS.to_string(), "{counted:?}");

    let collect = json!({
        "window_start": rfc3339(t0), "window_end": rfc3339(end), "step": "250ms",
        "profiles": false, "formats": ["csv"],
        "queries": {
            "requests": "loadgen_requests_total{source=\"push\"}",
            "latency": "loadgen_latency_seconds_bucket{source=\"push\"}",
        },
    });
    let out = app.collect(&id, &from_json(collect)).await.success(201);
    assert_eq!(out.manifest["context"]["store"], "victoriametrics");
    let out = serde_json::to_value(&out).unwrap();
    let requests = aggregate(&out, "requests");
    let last = POINTS - 1;
    assert_eq!(requests["kind"], "counter", "{requests}");
    assert_eq!(requests["samples"], POINTS, "{requests}");
    assert_eq!(requests["increase"], (last * (last + 1) / 2) as f64);
    let latency = aggregate(&out, "latency");
    assert_eq!(latency["kind"], "histogram", "{latency}");
    let steps = last as f64;
    let buckets: Vec<(f64, f64)> = [0.1, 0.5, 2.5, f64::INFINITY]
        .into_iter()
        .zip(PER_STEP.map(|per| per * steps))
        .collect();
    assert_eq!(latency["observations"], 200.0 * steps);
    for (kpi, q, bucket) in [("p50", 0.5, 0.5), ("p95", 0.95, 2.5), ("p99", 0.99, 2.5)] {
        let want = quantile(q, &buckets);
        assert_eq!(latency[kpi], want, "{latency}");
        assert!(want < bucket, "{kpi} {want} inside a finite bucket");
    }

    // The raw export has the pushed series next to the scraped ones.
    let bundle = std::path::PathBuf::from(out["bundle_dir"].as_str().unwrap());
    let series = std::fs::read_to_string(bundle.join("raw_series.csv")).unwrap();
    let pushed = series
        .lines()
        .filter(|l| l.contains("source=\"\"push\"\"") || l.contains("source=push"))
        .count();
    assert_eq!(pushed, 5, "{series}");
    assert!(series.contains("synthetic_value"), "{series}");

    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
