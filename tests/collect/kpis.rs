//! KPIs come out exact on data with known values.

use crate::fixtures::*;
use benchmon::export::{collect, KpiKind, MarkedWindow, MetricKind, NamedQuery, Unit};

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
    let series = rows.iter().find(|r| &r[2] == "series").unwrap();
    assert_eq!(&series[1], "collection");
    assert_eq!((&series[9], &series[10], &series[12]), ("1", "100", "50.5"));
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

fn window(name: &str, start: i64, end: i64) -> MarkedWindow {
    MarkedWindow {
        name: name.into(),
        start: ts(start),
        end: ts(end),
    }
}

#[tokio::test]
async fn every_named_window_gets_its_own_kpis_next_to_the_whole_collection() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut p = plan(
        &prom.url,
        T0,
        T0 + 99 * 15,
        "15s",
        vec![
            NamedQuery::user("g", "test_gauge"),
            NamedQuery::user("c", "test_requests_total"),
        ],
        &out,
    );
    p.windows = vec![
        // The first 50 gauge samples (and the counter's 0, 10, 20 … 40, 5, 15, 25).
        window("warmup", T0 - 600, T0 + 49 * 15),
        window("steady", T0 + 50 * 15, T0 + 99 * 15),
        window("after", T0 + 200 * 15, T0 + 300 * 15),
        // Counter 0, 10, 20 | 30, 40, 5 (a reset), 15, 25 …
        window("first", T0, T0 + 30),
        window("rest", T0 + 45, T0 + 99 * 15),
    ];
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let mut r = csv::Reader::from_path(o.bundle_dir.join("summary.csv")).unwrap();
    let head: Vec<&str> = r.headers().unwrap().iter().take(3).collect();
    assert_eq!(head, ["query", "window", "scope"]);
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let agg = |q: &str, w: &str| {
        rows.iter()
            .find(|r| &r[0] == q && &r[1] == w && &r[2] == "aggregate")
            .unwrap_or_else(|| panic!("no aggregate row for {q} in {w}: {rows:?}"))
            .clone()
    };
    // Columns: samples 7, min 9, max 10, mean 11, p50 12, p95 13, p99 14, increase 15, resets 17.
    let g = agg("g", "collection");
    assert_eq!((&g[7], &g[9], &g[10], &g[11]), ("100", "1", "100", "50.5"));
    let g = agg("g", "warmup");
    assert_eq!(
        (&g[7], &g[9], &g[10], &g[11], &g[12]),
        ("50", "1", "100", "49.5", "48.5")
    );
    let g = agg("g", "steady");
    assert_eq!(
        (&g[7], &g[9], &g[10], &g[11], &g[12]),
        ("50", "2", "99", "51.5", "52")
    );
    let p95: f64 = g[13].parse().unwrap();
    assert!((p95 - 94.55).abs() < 1e-9, "{g:?}");
    // The counter's 8 samples, then 20 steps of its last value (5 min lookback): all in warmup.
    let c = agg("c", "warmup");
    assert_eq!((&c[7], &c[15], &c[17]), ("28", "65", "1"));
    assert!(!rows.iter().any(|r| &r[0] == "c" && &r[1] == "steady"));
    let c = agg("c", "first");
    assert_eq!((&c[7], &c[15], &c[17]), ("3", "20", "0"));
    let c = agg("c", "rest");
    assert_eq!((&c[7], &c[15], &c[17]), ("25", "35", "1"));
    // A window outside the collection gets no rows; series rows carry the window too.
    assert!(!rows.iter().any(|r| &r[1] == "after"));
    assert!(rows
        .iter()
        .any(|r| &r[0] == "g" && &r[1] == "steady" && &r[2] == "series"));

    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.bundle_dir.join("summary.json")).unwrap()).unwrap();
    let g = &s["queries"][0];
    assert_eq!(g["window"], "collection");
    assert_eq!(g["windows"][0]["window"], "warmup");
    assert_eq!(g["windows"][0]["start"], "2026-01-01T00:00:00Z", "clipped");
    assert_eq!(g["windows"][1]["aggregate"][0]["mean"], 51.5);
    assert_eq!(g["windows"][1]["series"][0]["kpi"]["max"], 99.0);
    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    assert!(html.contains(r#"data-window="steady""#), "per-window rows");
}

#[tokio::test]
async fn units_go_into_the_summaries_and_the_report_prints_them_for_people() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mib = 1_048_576;
    let p = plan(
        &prom.url,
        T0,
        T0 + 99 * 15,
        "15s",
        vec![
            NamedQuery::user("mem", format!("test_gauge * {mib}")).with_unit(Some(Unit::Bytes)),
            // Flat zero: the axis must not get float-noise ticks such as 6.939e-18.
            NamedQuery::user("idle", "0 * test_gauge").with_unit(Some(Unit::Ratio)),
            NamedQuery::user("plain", "test_gauge"),
        ],
        &out,
    );
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    assert_eq!(o.queries[0].unit, Some(Unit::Bytes));
    let mut r = csv::Reader::from_path(o.bundle_dir.join("summary.csv")).unwrap();
    assert_eq!(&r.headers().unwrap()[6], "unit");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let mem = rows.iter().find(|r| &r[0] == "mem").unwrap();
    // Exact numbers in the data file, in the unit.
    assert_eq!(
        (&mem[6], &mem[9], &mem[10]),
        ("bytes", "1048576", "104857600")
    );
    let plain = rows.iter().find(|r| &r[0] == "plain").unwrap();
    assert_eq!(&plain[6], "");
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.bundle_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["queries"][0]["unit"], "bytes");
    assert_eq!(s["queries"][2]["unit"], serde_json::Value::Null);

    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    // min 1 MiB, max 100 MiB, mean 50.5 MiB in the table.
    for cell in [
        "<td>1 MiB</td>",
        "<td>100 MiB</td>",
        "<td>50.5 MiB</td>",
        "<td>0 %</td>",
    ] {
        assert!(html.contains(cell), "{cell} not in the report");
    }
    assert!(!html.contains("e-1"), "no pseudo-zero ticks");
}
