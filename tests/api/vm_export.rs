//! The raw export from a VictoriaMetrics through its `/api/v1/export` writes the same files as
//! the range-vector fallback does from the same store: odd values, label sorting, samples on
//! the window's and the chunks' edges, Parquet rows equal to the CSV's.

use crate::scaleout::OwnStore;
use benchmon::domain::Timestamp;
use benchmon::export::formats::{Formats, SampleFormat};
use benchmon::export::{collect_tuned, CollectionOutcome, CollectionPlan, RawSource, Tuning};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::path::Path;

/// Dense series and their samples per second of the window (and 5 s either side).
const DENSE_SERIES: i64 = 200;
const WINDOW_S: i64 = 600;
const SELECTOR: &str = r#"{__name__=~"vx_.*"}"#;

/// One series per case (VictoriaMetrics keeps one decimal exponent per block, so a series
/// mixing magnitudes would lose its small values), at whole seconds after the window's start.
const ODD: &[(&str, &str)] = &[
    ("tiny", "1e-7"),
    ("huge", "123456789012345680000"),
    ("exp21", "1e21"),
    ("pinf", "+Inf"),
    ("ninf", "-Inf"),
    ("nan", "NaN"),
    ("third", "0.30000000000000004"),
    ("neg", "-2.5"),
];

async fn post(url: &str, body: String) {
    let r = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
}

/// Writes the fixtures into `store`; returns the window's start (ms).
async fn import(store: &OwnStore) -> i64 {
    let t0 = (chrono::Utc::now().timestamp() - 7200) * 1000;
    let mut lines = String::new();
    for n in 0..DENSE_SERIES {
        let stamps: Vec<i64> = (-5..=WINDOW_S + 5).map(|s| t0 + s * 1000).collect();
        let values: Vec<String> = (0..stamps.len())
            .map(|k| format!("{}", n as f64 * 0.5 + k as f64 * 0.001))
            .collect();
        let zone = if n % 2 == 0 { "a" } else { "b\"q,é" };
        lines.push_str(&format!(
            "{{\"metric\":{{\"__name__\":\"vx_dense\",\"n\":\"{n}\",\"Zone\":{}}},\
             \"values\":[{}],\"timestamps\":[{}]}}\n",
            serde_json::to_string(zone).unwrap(),
            values.join(","),
            stamps
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    post(&format!("{}/api/v1/import", store.base), lines).await;
    let mut text = String::new();
    for (case, v) in ODD {
        for s in [0, 3, WINDOW_S] {
            text.push_str(&format!(
                "vx_odd{{case=\"{case}\"}} {v} {}\n",
                t0 + s * 1000
            ));
        }
    }
    post(&format!("{}/api/v1/import/prometheus", store.base), text).await;
    reqwest::get(format!("{}/internal/force_flush", store.base))
        .await
        .unwrap();
    t0
}

fn plan(base: &str, out: &Path, t0: i64, source: RawSource, name: &str) -> CollectionPlan {
    CollectionPlan {
        prometheus_url: base.to_owned(),
        start: Timestamp::from_unix(t0 as f64 / 1000.0).unwrap(),
        end: Timestamp::from_unix((t0 + WINDOW_S * 1000) as f64 / 1000.0).unwrap(),
        step: None,
        scrape_interval: Some(benchmon::domain::PromDuration::parse("1s").unwrap()),
        queries: vec![],
        raw_selectors: vec![SELECTOR.into()],
        coverage_selector: None,
        windows: vec![],
        events: vec![],
        bundle_parent: out.to_owned(),
        bundle_name: name.into(),
        raw_options: benchmon::export::RawOptions {
            source,
            formats: Formats::from_list(&[
                SampleFormat::Parquet,
                SampleFormat::Csv,
                SampleFormat::Json,
            ]),
            ..Default::default()
        },
        max_points: None,
        samples_parquet: false,
        samples_json: false,
        manifest_extra: serde_json::json!({}),
        quality: Default::default(),
        extra_files: Vec::new(),
        known_gaps: Vec::new(),
    }
}

/// Raw chunks of 7 s: many chunk edges fall on samples.
async fn run(p: CollectionPlan) -> CollectionOutcome {
    let tuning = Tuning {
        raw_chunk_ms: Some(7_000),
        ..Tuning::default()
    };
    collect_tuned(&reqwest::Client::new(), p, None, tuning)
        .await
        .unwrap()
}

fn manifest(o: &CollectionOutcome) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(o.bundle_dir.join("MANIFEST.json")).unwrap()).unwrap()
}

/// `raw.parquet` as `timestamp_ms,raw,series,value` lines (value as f64, printed back).
fn parquet_rows(path: &Path) -> Vec<(i64, String, f64)> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let (mut ts, mut series, mut value) = (None, None, None);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("timestamp", Field::TimestampMillis(t)) => ts = Some(*t),
                ("series", Field::Str(s)) => series = Some(s.clone()),
                ("value", Field::Double(v)) => value = Some(*v),
                _ => {}
            }
        }
        rows.push((ts.unwrap(), series.unwrap(), value.unwrap()));
    }
    rows
}

fn csv_rows(path: &Path) -> Vec<(i64, String, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let v = match f[3] {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap(),
            };
            (f[0].parse().unwrap(), f[2].to_owned(), v)
        })
        .collect()
}

#[tokio::test]
async fn victoriametrics_export_writes_the_same_raw_files_as_range_vector_queries() {
    let store = OwnStore::start("victoria-metrics").await;
    let t0 = import(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();

    // Auto on a VictoriaMetrics takes its export (no remote read is tried).
    let export = run(plan(&store.base, out, t0, RawSource::Auto, "export")).await;
    let query = run(plan(&store.base, out, t0, RawSource::Query, "query")).await;
    assert_eq!(manifest(&export)["raw"]["method"], "export");
    assert_eq!(
        manifest(&export)["raw"]["fallback_reason"],
        serde_json::Value::Null
    );
    assert_eq!(manifest(&query)["raw"]["method"], "query");

    // Both window edges are inclusive; NaN is not stored by VictoriaMetrics.
    let dense = DENSE_SERIES * (WINDOW_S + 1);
    let odd = (ODD.len() as i64 - 1) * 3;
    assert_eq!(export.raw_samples as i64, dense + odd);
    assert_eq!(query.raw_samples, export.raw_samples);
    assert_eq!(
        export.raw_series as i64,
        DENSE_SERIES + ODD.len() as i64 - 1
    );
    assert_eq!(query.raw_series, export.raw_series);
    for file in ["raw.csv", "raw_series.csv", "raw.json"] {
        let a = std::fs::read(export.bundle_dir.join(file)).unwrap();
        let b = std::fs::read(query.bundle_dir.join(file)).unwrap();
        assert!(a == b, "{file} differs between export and queries");
    }
    // Values as VictoriaMetrics writes them (its query API too), not re-formatted.
    let csv = std::fs::read_to_string(export.bundle_dir.join("raw.csv")).unwrap();
    for text in [",0.0000001\n", ",+Inf\n", ",-Inf\n", ",-2.5\n"] {
        assert!(csv.contains(text), "{text:?} not in raw.csv");
    }
    // The Parquet file holds exactly the CSV's rows, typed; the fallback writes none.
    let rows = parquet_rows(&export.bundle_dir.join("raw.parquet"));
    assert_eq!(rows, csv_rows(&export.bundle_dir.join("raw.csv")));
    assert!(!query.bundle_dir.join("raw.parquet").exists());

    // Several selectors: VictoriaMetrics answers their union, each series once.
    let mut p = plan(&store.base, out, t0, RawSource::Export, "several");
    p.raw_selectors = vec![r#"vx_odd{case="tiny"}"#.into(), SELECTOR.into()];
    let several = run(p).await;
    assert_eq!(several.raw_samples, export.raw_samples);
    let a = std::fs::read(several.bundle_dir.join("raw.csv")).unwrap();
    assert!(a == csv.as_bytes(), "several selectors wrote other rows");
}

#[tokio::test]
async fn export_only_against_a_prometheus_fails_naming_the_endpoint() {
    let store = OwnStore::start("prometheus").await;
    let dir = tempfile::tempdir().unwrap();
    let t0 = (chrono::Utc::now().timestamp() - 60) * 1000;
    let p = plan(&store.base, dir.path(), t0, RawSource::Export, "refused");
    let err = collect_tuned(&reqwest::Client::new(), p, None, Tuning::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no VictoriaMetrics export") && err.contains("/api/v1/export"),
        "{err}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
