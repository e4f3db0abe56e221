//! Bundles: checksums, absent queries, failures that leave nothing, no overwrites, the report.

use crate::fixtures::*;
use benchmon::export::bundle::hash_file;
use benchmon::export::formats::{Formats, SampleFormat};
use benchmon::export::{
    collect, collect_tuned, default_queries, CollectError, MarkedWindow, NamedQuery, Progress,
    QueryStatus, Tuning,
};

#[tokio::test]
async fn the_manifest_lists_every_file_with_its_size_and_sha256() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut p = plan(
        &prom.url,
        T0,
        T0 + 99 * 15,
        "15s",
        vec![NamedQuery::user("g", "test_gauge")],
        &out,
    );
    p.raw_selectors = vec!["{case=\"c\"}".into()];
    p.samples_parquet = true;
    p.samples_json = true;
    p.raw_options.formats =
        Formats::from_list(&[SampleFormat::Parquet, SampleFormat::Csv, SampleFormat::Json]);
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let m = manifest(&o.bundle_dir);
    assert_eq!(m["complete"], true);
    assert_eq!(m["raw"]["method"], "remote_read");
    assert_eq!(m["context"]["test"], true);
    assert_eq!(m["step"], "15s");
    assert!(m["prometheus"]["version"]
        .as_str()
        .unwrap()
        .starts_with('2'));
    let files = m["files"].as_array().unwrap();
    let mut listed: Vec<String> = files
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    for f in files {
        let (bytes, sha) = hash_file(&o.bundle_dir.join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(f["bytes"], bytes);
        assert_eq!(f["sha256"], sha);
    }
    listed.push("MANIFEST.json".into());
    listed.sort();
    assert_eq!(
        listed,
        entries(&o.bundle_dir),
        "every file is listed, nothing else is left"
    );
    for name in [
        "samples.csv",
        "samples.json",
        "series.csv",
        "summary.csv",
        "summary.json",
        "samples.parquet",
        "raw.parquet",
        "raw.csv",
        "raw.json",
        "raw_series.csv",
        "report.html",
    ] {
        assert!(listed.iter().any(|l| l == name), "{name} missing");
    }
    // samples.parquet holds the rows of samples.csv, typed.
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let f = std::fs::File::open(o.bundle_dir.join("samples.parquet")).unwrap();
        let rows = SerializedFileReader::new(f)
            .unwrap()
            .metadata()
            .file_metadata()
            .num_rows();
        let csv_rows = read_samples(&o.bundle_dir.join("samples.csv")).len();
        assert_eq!(rows as usize, csv_rows);
        assert!(csv_rows > 0);
    }
    // The raw export has the counter's real samples.
    let raw = read_samples(&o.bundle_dir.join("raw.csv"));
    let values: Vec<&str> = raw.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(values, ["0", "10", "20", "30", "40", "5", "15", "25"]);
    assert_eq!(o.raw_samples, 8);
}

#[tokio::test]
async fn a_query_that_matches_nothing_is_reported_absent() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut queries = default_queries(&["node".into(), "dcgm".into()], &[], "session=\"s1\"");
    queries.push(NamedQuery::user("nothing", "does_not_exist_metric"));
    let mut p = plan(&prom.url, T_COV, T_COV + 1800, "15s", queries, &out);
    p.scrape_interval = Some(dur("15s"));
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    for name in [
        "nothing",
        "gpu_utilisation_percent",
        "gpu_power_watts",
        "node_memory_used_bytes",
    ] {
        assert!(
            o.absent_queries.iter().any(|a| a == name),
            "{name} not in {:?}",
            o.absent_queries
        );
        let q = o.queries.iter().find(|q| q.name == name).unwrap();
        assert_eq!((q.status, q.series), (QueryStatus::Absent, 0));
    }
    let cpu = o
        .queries
        .iter()
        .find(|q| q.name == "node_cpu_utilisation")
        .unwrap();
    assert_eq!(cpu.status, QueryStatus::Ok);
    let m = manifest(&o.bundle_dir);
    assert!(m["absent_queries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "nothing"));
    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    assert!(html.contains("absent"));
}

#[tokio::test]
async fn a_failing_query_after_a_good_one_leaves_no_bundle() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let queries = vec![
        NamedQuery::user("good", "test_fine"),
        NamedQuery::user("bad", "rate(test_fine"),
    ];
    let p = plan(&prom.url, T_FINE, T_FINE + 3000, "1s", queries, &out);
    let err = collect(&reqwest::Client::new(), p, None).await.unwrap_err();
    match err {
        CollectError::Query {
            query,
            error_type,
            message,
        } => {
            assert_eq!(query, "bad");
            assert_eq!(error_type, "bad_data");
            assert!(message.contains("parse error"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(entries(&out).is_empty(), "left {:?}", entries(&out));
}

#[tokio::test]
async fn killing_prometheus_mid_collection_leaves_no_bundle() {
    let mut prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let p = plan(
        &prom.url,
        T_FINE,
        T_FINE + FINE_SAMPLES - 1,
        "1s",
        vec![NamedQuery::user("fine", "test_fine")],
        &out,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tuning = Tuning {
        max_points_per_chunk: 100,
        concurrency: 1,
        raw_chunk_ms: None,
    };
    let http = reqwest::Client::new();
    let run = tokio::spawn(async move { collect_tuned(&http, p, Some(tx), tuning).await });
    while let Some(ev) = rx.recv().await {
        if matches!(ev, Progress::ChunkFetched { .. }) {
            prom.kill();
            break;
        }
    }
    let err = run.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            CollectError::Http { .. } | CollectError::Response { .. }
        ),
        "{err:?}"
    );
    assert!(entries(&out).is_empty(), "left {:?}", entries(&out));
}

#[tokio::test]
async fn an_existing_bundle_is_never_overwritten() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let http = reqwest::Client::new();
    let mk = || {
        plan(
            &prom.url,
            T0,
            T0 + 99 * 15,
            "15s",
            vec![NamedQuery::user("g", "test_gauge")],
            &out,
        )
    };
    std::fs::create_dir(out.join("run")).unwrap();
    std::fs::write(out.join("run/keep.txt"), "earlier").unwrap();
    let a = collect(&http, mk(), None).await.unwrap();
    let b = collect(&http, mk(), None).await.unwrap();
    assert_eq!(
        (a.bundle_name.as_str(), b.bundle_name.as_str()),
        ("run-2", "run-3")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("run/keep.txt")).unwrap(),
        "earlier"
    );
    assert_eq!(entries(&out), ["run", "run-2", "run-3"]);
}

#[tokio::test]
async fn the_report_is_self_contained_with_a_chart_per_query_and_marked_windows() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let queries = vec![
        NamedQuery::user("fine", "test_fine"),
        NamedQuery::user("doubled", "2 * test_fine"),
    ];
    let mut p = plan(&prom.url, T_FINE, T_FINE + 3600, "10s", queries, &out);
    p.windows = vec![MarkedWindow {
        name: "warm<up>".into(),
        start: ts(T_FINE + 600),
        end: ts(T_FINE + 1200),
    }];
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "one chart per query");
    assert!(html.contains("warm&lt;up&gt;") && !html.contains("warm<up>"));
    for external in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(external), "report references {external}");
    }
}

/// Scrapes at timestamps with milliseconds, and labels pandas would take for numbers or NaN.
fn typed_fixture() -> String {
    let mut s = String::from("# TYPE http_requests counter\n");
    for (i, v) in [1, 2, 3].into_iter().enumerate() {
        let t = format!("{}.{:03}", T0 + 15 * i as i64 + 35, 883 + i);
        s.push_str(&format!(
            "http_requests_total{{cpu=\"0\",code=\"200\",note=\"NA\",ratio=\"1e3\"}} {v} {t}\n"
        ));
    }
    s.push_str("# EOF\n");
    s
}

#[tokio::test]
async fn pandas_reads_exact_millisecond_timestamps_and_labels_as_strings() {
    let prom = TestProm::start_with(&typed_fixture(), &[]).await;
    let (_d, out) = out_dir();
    let mut p = plan(
        &prom.url,
        T0,
        T0 + 90,
        "15s",
        vec![NamedQuery::user("req", "http_requests_total")],
        &out,
    );
    p.raw_selectors = vec!["{__name__=\"http_requests_total\"}".into()];
    p.raw_options.formats = Formats::from_list(&[SampleFormat::Csv]);
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let raw = read_samples(&o.bundle_dir.join("raw.csv"));
    let ts: Vec<&str> = raw.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        ts,
        ["1767225635883", "1767225650884", "1767225665885"],
        "integer milliseconds, as scraped"
    );
    // The recipe the manifest and README give, in pandas itself.
    let script = r#"
import sys, pandas as pd
d = sys.argv[1]
for stem in ("samples", "raw"):
    df = pd.read_csv(f"{d}/{stem}.csv")
    assert str(df.timestamp_ms.dtype) == "int64", df.dtypes
    t = pd.to_datetime(df.timestamp_ms, unit="ms", utc=True)
    print(stem, t.iloc[0].isoformat(timespec="milliseconds"), int(df.timestamp_ms.iloc[0]))
for stem in ("series", "raw_series"):
    s = pd.read_csv(f"{d}/{stem}.csv", dtype=str, keep_default_na=False)
    row = s.iloc[0]
    assert all(isinstance(row[c], str) for c in ("cpu", "code", "note", "ratio")), row
    print(stem, repr(row["cpu"]), repr(row["code"]), repr(row["note"]), repr(row["ratio"]))
"#;
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&o.bundle_dir)
        .output()
        .expect("python3 with pandas (slurm/dev-cluster.sh installs it)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        stdout,
        "samples 2026-01-01T00:00:45.000+00:00 1767225645000\n\
         raw 2026-01-01T00:00:35.883+00:00 1767225635883\n\
         series '0' '200' 'NA' '1e3'\n\
         raw_series '0' '200' 'NA' '1e3'\n"
    );
}
