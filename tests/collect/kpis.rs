//! KPIs come out exact on data with known values.

use crate::fixtures::*;
use benchmon::export::{collect, KpiKind, MetricKind, NamedQuery};

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn gauge_kpis_are_exact_for_the_values_1_to_100() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let p = plan(
        &prom.url,
        T0,
        T0 + 99 * 15,
        "15s",
        vec![NamedQuery::user("g", "test_gauge")],
        &out,
    );
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let q = &o.queries[0];
    assert_eq!((q.series, q.samples), (1, 100));
    let k = &q.aggregate[0];
    assert_eq!(k.kind, KpiKind::Gauge);
    assert_eq!((k.samples, k.min, k.max), (100, Some(1.0), Some(100.0)));
    assert!(close(k.mean, 50.5) && close(k.p50, 50.5), "{k:?}");
    assert!(close(k.p95, 95.05) && close(k.p99, 99.01), "{k:?}");
    assert!(k.method.contains("numpy 'linear'"));
    // The per-series row in summary.csv says the same.
    let mut r = csv::Reader::from_path(o.bundle_dir.join("summary.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let series = rows.iter().find(|r| &r[1] == "series").unwrap();
    assert_eq!((&series[7], &series[8], &series[10]), ("1", "100", "50.5"));
}

#[tokio::test]
async fn counter_increase_counts_the_value_after_a_reset() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let p = plan(
        &prom.url,
        T0,
        T0 + 7 * 15,
        "15s",
        vec![NamedQuery::user("c", "test_requests_total")],
        &out,
    );
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let k = &o.queries[0].aggregate[0];
    // 0→40 is +40, the drop to 5 is a restart (+5), then +20.
    assert_eq!(k.kind, KpiKind::Counter, "detected from the _total suffix");
    assert_eq!((k.increase, k.resets, k.samples), (Some(65.0), Some(1), 8));
    assert!(close(k.rate_per_second, 65.0 / 105.0), "{k:?}");
}

#[tokio::test]
async fn histogram_quantiles_come_from_the_bucket_increases() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut q = NamedQuery::user("lat", "sum by (le) (test_latency_seconds_bucket)");
    q.kind = MetricKind::Histogram;
    let auto = NamedQuery::user("lat_auto", "test_latency_seconds_bucket");
    let p = plan(&prom.url, T0, T0 + 30, "15s", vec![q, auto], &out);
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    for q in &o.queries {
        let k = &q.aggregate[0];
        assert_eq!(k.kind, KpiKind::Histogram, "{}", q.name);
        // Increases over the window: le 0.1:10, 0.5:60, 1:90, 2.5:100, +Inf:100.
        assert_eq!(k.observations, Some(100.0));
        assert!(
            close(k.p50, 0.42) && close(k.p95, 1.75) && close(k.p99, 2.35),
            "{k:?}"
        );
    }
}
