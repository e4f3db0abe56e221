//! Windows over Prometheus's 11,000-point limit are fetched in chunks and merged in order.

use crate::fixtures::*;
use benchmon::export::{collect, collect_tuned, NamedQuery, Tuning};

fn fine_plan(url: &str, parent: &std::path::Path) -> benchmon::export::CollectionPlan {
    let q = vec![
        NamedQuery::user("fine", "test_fine"),
        NamedQuery::user("doubled", "2 * test_fine"),
    ];
    plan(url, T_FINE, T_FINE + FINE_SAMPLES - 1, "1s", q, parent)
}

#[tokio::test]
async fn a_window_over_the_11k_point_limit_returns_every_sample_exactly_once() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let o = collect(&reqwest::Client::new(), fine_plan(&prom.url, &out), None)
        .await
        .unwrap();
    assert_eq!(o.queries[0].chunks, 2, "12,000 points at 10,000 per chunk");
    assert_eq!(o.queries[0].samples, 2 * FINE_SAMPLES as u64);
    let rows = read_samples(&o.bundle_dir.join("samples.csv"));
    let series = read_series(&o.bundle_dir.join("series.csv"), "fine");
    assert_eq!(series.len(), 2);
    for (key, labels) in &series {
        let n: i64 = labels["n"].parse().unwrap();
        let got: Vec<(i64, i64)> = rows
            .iter()
            .filter(|r| r.1 == "fine" && &r.2 == key)
            .map(|r| (r.0.parse().unwrap(), r.3.parse().unwrap()))
            .collect();
        let want: Vec<(i64, i64)> = (0..FINE_SAMPLES)
            .map(|i| ((T_FINE + i) * 1000, i * n))
            .collect();
        assert_eq!(got, want, "series n={n}");
    }
}

#[tokio::test]
async fn the_chunk_size_does_not_change_a_byte_of_the_samples_or_kpis() {
    let prom = TestProm::start().await;
    let http = reqwest::Client::new();
    let (_a, out_a) = out_dir();
    let (_b, out_b) = out_dir();
    let with_json = |out| {
        let mut p = fine_plan(&prom.url, out);
        p.samples_json = true;
        p
    };
    let one = collect(&http, with_json(&out_a), None).await.unwrap();
    let tuning = Tuning {
        max_points_per_chunk: 777,
        concurrency: 3,
        raw_chunk_ms: None,
    };
    let many = collect_tuned(&http, with_json(&out_b), None, tuning)
        .await
        .unwrap();
    assert_eq!(many.queries[0].chunks, 16);
    for f in [
        "samples.csv",
        "samples.json",
        "series.csv",
        "summary.csv",
        "summary.json",
    ] {
        let a = std::fs::read(one.bundle_dir.join(f)).unwrap();
        let b = std::fs::read(many.bundle_dir.join(f)).unwrap();
        assert!(a == b, "{f} differs between 2 and 16 chunks");
    }
}
