//! Pushed metrics through a real SLURM session: stored through the remote-write receiver,
//! collected like scraped series, refused whole when any line is bad.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The histogram's bucket bounds; each 100 ms step adds 40, 110, 49 and 1 observations to
/// (≤0.1], (0.1, 0.5], (0.5, 2.5] and (2.5, +Inf), so the cumulative counts grow by 40, 150,
/// 199, 200 and p50, p95 and p99 all fall inside finite buckets (interpolated, not a bound).
const BOUNDS: [&str; 4] = ["0.1", "0.5", "2.5", "+Inf"];
const PER_STEP: [f64; 4] = [40.0, 150.0, 199.0, 200.0];
const POINTS: i64 = 200;
const STEP_MS: i64 = 100;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// POSTs a push body with its content type; returns (status, body).
async fn push(app: &TestApp, path: &str, content_type: &str, body: String) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url(path))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The counter's value at step `k`: a running sum of `k % 7`, so increments vary.
fn counter_at(k: i64) -> f64 {
    (0..=k).map(|j| (j % 7) as f64).sum()
}

/// Prometheus's `histogram_quantile` over cumulative `(bound, count)` pairs, step by step as
/// Prometheus writes it (the rank in the +Inf bucket gives the highest finite bound).
pub(crate) fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    let mut rank = q * total;
    let i = buckets.iter().position(|b| b.1 >= rank).unwrap();
    if i == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let (start, count) = if i == 0 {
        (0.0, buckets[0].1)
    } else {
        rank -= buckets[i - 1].1;
        (buckets[i - 1].0, buckets[i].1 - buckets[i - 1].1)
    };
    start + (buckets[i].0 - start) * (rank / count)
}

async fn prom_series(prom: &str, promql: &str) -> Vec<Value> {
    let v: Value = reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["result"].as_array().unwrap().clone()
}

fn aggregate<'a>(out: &'a Value, query: &str) -> &'a Value {
    let q = out["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == query)
        .unwrap_or_else(|| panic!("no query {query} in {out}"));
    &q["aggregate"][0]
}

#[tokio::test]
async fn a_pushed_counter_and_histogram_give_exact_kpis_and_bad_pushes_store_nothing() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("push");
    app.create_session(&id).await;
    let prom = app.start_and_wait(&id).await;
    let started = app.session(&id).await.success(200).started_at.unwrap();
    let t0 = (started.unix_millis() / 1000 + 1) * 1000;
    let end = t0 + (POINTS - 1) * STEP_MS;

    // 200 counter samples and 4 × 200 bucket samples: 1,000, every one timestamped.
    let mut text = String::from("# TYPE harness_requests_total counter\n");
    for k in 0..POINTS {
        let ts = t0 + k * STEP_MS;
        text += &format!(
            "harness_requests_total{{status=\"200\"}} {} {ts}\n",
            counter_at(k)
        );
        for (b, per) in BOUNDS.iter().zip(PER_STEP) {
            text += &format!(
                "harness_latency_seconds_bucket{{le=\"{b}\"}} {} {ts}\n",
                per * k as f64
            );
        }
    }
    while now_ms() < end + 500 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let path = format!("/api/v1/sessions/{id}/metrics?client_id=loadgen-1");
    let (status, body) = push(&app, &path, "text/plain; version=0.0.4", text).await;
    assert_eq!((status, body), (200, json!({"samples": 1000, "series": 5})));

    let labelled = format!(
        r#"harness_requests_total{{session="{id}",run_id="{id}",source="push",client_id="loadgen-1",status="200"}}"#
    );
    assert_eq!(prom_series(&prom, &labelled).await.len(), 1);

    let window = json!({"name": "load", "start": rfc3339(t0), "end": rfc3339(end)});
    app.add_window(&id, &from_json(window)).await.success(201);
    // One event inside the window, one after it: only the first goes to events.csv.
    let events = format!("/api/v1/sessions/{id}/events");
    let inside = json!({"kind": "phase", "name": "load", "message": "load, \"ramp\"", "timestamp": rfc3339(t0 + 1000)});
    let (status, _, _) = app.send(Method::POST, &events, Some(inside)).await;
    assert_eq!(status, 201);
    let after = json!({"kind": "note", "name": "cooldown"});
    let (status, _, _) = app.send(Method::POST, &events, Some(after)).await;
    assert_eq!(status, 201);
    let collect = json!({
        "window": "load", "step": "100ms", "profiles": false, "raw": false,
        "queries": {
            "requests": "harness_requests_total{source=\"push\"}",
            "latency": "harness_latency_seconds_bucket{source=\"push\"}",
        },
    });
    let (status, _, out) = app
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{id}/collect"),
            Some(collect),
        )
        .await;
    assert_eq!(status, 201, "{out}");

    let bundle = std::path::PathBuf::from(out["bundle_dir"].as_str().unwrap());
    let csv = std::fs::read_to_string(bundle.join("events.csv")).unwrap();
    let time = chrono::DateTime::from_timestamp_millis(t0 + 1000).unwrap();
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(
        csv,
        format!("timestamp_ms,time,kind,name,severity,progress,message,windows\n{},{time},phase,load,,,\"load, \"\"ramp\"\"\",load\n", t0 + 1000)
    );

    let requests = aggregate(&out, "requests");
    let increase = counter_at(POINTS - 1) - counter_at(0);
    assert_eq!(requests["kind"], "counter", "{requests}");
    assert_eq!(requests["samples"], POINTS);
    assert_eq!(requests["increase"], increase);
    assert_eq!(requests["resets"], 0);
    assert_eq!(requests["rate_per_second"], increase / 19.9);

    let latency = aggregate(&out, "latency");
    let steps = (POINTS - 1) as f64;
    let buckets: Vec<(f64, f64)> = [0.1, 0.5, 2.5, f64::INFINITY]
        .into_iter()
        .zip(PER_STEP.map(|per| per * steps))
        .collect();
    assert_eq!(latency["kind"], "histogram", "{latency}");
    assert_eq!(latency["observations"], 200.0 * steps);
    for (kpi, q, (low, high)) in [
        ("p50", 0.5, (0.1, 0.5)),
        ("p95", 0.95, (0.5, 2.5)),
        ("p99", 0.99, (0.5, 2.5)),
    ] {
        let want = quantile(q, &buckets);
        assert!(low < want && want < high, "{kpi} = {want} is interpolated");
        assert_eq!(latency[kpi], want, "{kpi}: {latency}");
    }

    // Each bad request names its line and stores nothing, not even its good first line.
    let good = format!("harness_refused_total 1 {}\n", now_ms() - 1000);
    let future = now_ms() + 3_600_000;
    let cases = [
        (
            format!("{good}harness_refused_total{{ 2"),
            "line 2",
            "label has no '='",
        ),
        (
            format!("{good}harness_refused_total{{session=\"x\"}} 2"),
            "line 2",
            "\"session\" is set by benchmon",
        ),
        (
            format!("{good}harness_refused_total 2 {future}"),
            "line 2",
            "in the future",
        ),
        (
            format!("{good}harness_refused_total NaN"),
            "line 2",
            "not finite",
        ),
    ];
    for (body, field, reason) in cases {
        let (status, problem) = push(&app, &path, "text/plain", body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("{field}: ")) && detail.contains(reason),
            "{detail}"
        );
    }
    let json_push = json!({"metrics": [
        {"name": "harness_refused_total", "value": 1},
        {"name": "harness_refused_total", "labels": {"run_id": "x"}, "value": 2},
    ]});
    let (status, problem) = push(&app, &path, "application/json", json_push.to_string()).await;
    assert_eq!(
        (status, &problem["field"]),
        (422, &json!("metrics[1].labels.run_id"))
    );
    let (status, problem) = push(&app, &path, "text/html", good.clone()).await;
    assert_eq!((status, &problem["field"]), (415, &json!("Content-Type")));
    assert_eq!(
        prom_series(&prom, "harness_refused_total").await,
        Vec::<Value>::new()
    );

    // The JSON form stores too; after the job ends a push is a 409.
    let ok = json!({"metrics": [{"name": "harness_phase", "labels": {"phase": "warmup"}, "value": 1, "type": "gauge"}]});
    let (status, body) = push(&app, &path, "application/json", ok.to_string()).await;
    assert_eq!((status, body), (200, json!({"samples": 1, "series": 1})));
    app.client.stop_session(&id).await.unwrap();
    let (status, problem) = push(&app, &path, "text/plain", good).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("cannot push metrics to session"));
    app.shutdown().await;
}

#[tokio::test]
async fn fifty_concurrent_pushes_lose_nothing_and_oversized_pushes_are_refused() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("push-many");
    app.create_session(&id).await;
    let prom = app.start_and_wait(&id).await;
    let base = now_ms();

    // 50 clients, 20 samples each, all at once; all in the past, so a query at now sees them.
    let pushes = (0..50).map(|c| {
        let text: String = (0..20)
            .map(|k| {
                format!(
                    "harness_ops_total{{worker=\"w{c}\"}} {k} {}\n",
                    base - 200 + k * 10
                )
            })
            .collect();
        let path = format!("/api/v1/sessions/{id}/metrics?client_id=c{c}");
        let app = &app;
        async move { push(app, &path, "text/plain", text).await }
    });
    for (status, body) in futures_util::future::join_all(pushes).await {
        assert_eq!((status, body), (200, json!({"samples": 20, "series": 1})));
    }
    let count =
        format!(r#"sum(count_over_time(harness_ops_total{{session="{id}",source="push"}}[5m]))"#);
    let result = prom_series(&prom, &count).await;
    assert_eq!(result[0]["value"][1], "1000", "{result:?}");

    // Over server.max_body_bytes (1 MiB): 413; over 50,000 samples: 422 naming the line.
    let path = format!("/api/v1/sessions/{id}/metrics");
    let huge = "harness_big_total 1\n".repeat(10 * 1024 * 1024 / 20);
    let (status, problem) = push(&app, &path, "text/plain", huge).await;
    assert_eq!(
        (status, &problem["field"]),
        (413, &json!("body")),
        "{problem}"
    );
    let many = "harness_big_total 1\n".repeat(50_001);
    let (status, problem) = push(&app, &path, "text/plain", many).await;
    assert_eq!(
        (status, &problem["field"]),
        (422, &json!("line 50001")),
        "{problem}"
    );
    assert_eq!(
        prom_series(&prom, "harness_big_total").await,
        Vec::<Value>::new()
    );

    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
