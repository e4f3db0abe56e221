//! The raw export in a whole collection: remote read and range-vector queries write the same
//! bytes; Parquet reads back typed; a low sample limit stops neither remote read nor the queries
//! (a request refused as too many samples is halved); the budget and
//! the step floor refuse before anything is written; a corrupt stream leaves no bundle.

use crate::fixtures::{entries, out_dir, plan, ts};
use crate::remote_read::{own_prom, DENSE_SAMPLES, DENSE_SERIES, T_RR};
use benchmon::export::formats::{Formats, SampleFormat};
use benchmon::export::{collect, CollectError, CollectionOutcome, CollectionPlan, RawSource};
use parquet::basic::{LogicalType, TimeUnit, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::path::Path;

/// Every raw series of the own fixtures (odd values at irregular times, and dense series).
const SELECTOR: &str = r#"{__name__=~"rr_.*"}"#;
/// Long enough for the odd series' gaps of over an hour.
const WINDOW_S: i64 = 60 * 3600;

fn raw_plan(
    url: &str,
    parent: &Path,
    source: RawSource,
    formats: &[SampleFormat],
) -> CollectionPlan {
    let mut p = plan(url, T_RR, T_RR + WINDOW_S, "15s", vec![], parent);
    p.raw_selectors = vec![SELECTOR.into()];
    p.raw_options.source = source;
    p.raw_options.formats = Formats::from_list(formats);
    p.bundle_name = format!("{source:?}");
    p
}

async fn raw_collect(url: &str, parent: &Path, source: RawSource) -> CollectionOutcome {
    let all = [SampleFormat::Parquet, SampleFormat::Csv, SampleFormat::Json];
    collect(
        &reqwest::Client::new(),
        raw_plan(url, parent, source, &all),
        None,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn remote_read_and_range_vector_queries_write_the_same_raw_bytes() {
    let prom = own_prom(&[]).await;
    let (_d, out) = out_dir();
    let remote = raw_collect(&prom.url, &out, RawSource::RemoteRead).await;
    let query = raw_collect(&prom.url, &out, RawSource::Query).await;
    let want = DENSE_SERIES * DENSE_SAMPLES + 300;
    assert_eq!(remote.raw_samples as i64, want);
    assert_eq!(query.raw_samples as i64, want);
    assert_eq!(remote.raw_series, query.raw_series);
    for file in ["raw.csv", "raw_series.csv", "raw.json"] {
        let a = std::fs::read(remote.bundle_dir.join(file)).unwrap();
        let b = std::fs::read(query.bundle_dir.join(file)).unwrap();
        assert!(a == b, "{file} differs between remote read and queries");
    }
    // NaN, infinities and exponents are written as Prometheus writes them.
    let csv = std::fs::read_to_string(remote.bundle_dir.join("raw.csv")).unwrap();
    for text in [
        ",NaN\n",
        ",+Inf\n",
        ",-Inf\n",
        ",1e+308\n",
        ",1e-09\n",
        ",-0\n",
    ] {
        assert!(csv.contains(text), "{text:?} not in raw.csv");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(remote.bundle_dir.join("MANIFEST.json")).unwrap())
            .unwrap();
    assert_eq!(m["raw"]["method"], "remote_read");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(query.bundle_dir.join("MANIFEST.json")).unwrap())
            .unwrap();
    assert_eq!(m["raw"]["method"], "query");
}

#[tokio::test]
async fn several_raw_selectors_write_each_series_once_and_only_remote_read_takes_them() {
    let prom = own_prom(&[]).await;
    let (_d, out) = out_dir();
    let csv = [SampleFormat::Csv];
    let one = collect(
        &reqwest::Client::new(),
        raw_plan(&prom.url, &out, RawSource::RemoteRead, &csv),
        None,
    )
    .await
    .unwrap();
    // The odd series, then every series again (overlapping the first) and one of the dense.
    let mut p = raw_plan(&prom.url, &out, RawSource::Auto, &csv);
    p.bundle_name = "several".into();
    p.raw_selectors = vec![
        r#"{__name__="rr_odd"}"#.into(),
        SELECTOR.into(),
        r#"rr_dense{n="2"}"#.into(),
    ];
    let several = collect(&reqwest::Client::new(), p.clone(), None)
        .await
        .unwrap();
    assert_eq!(several.raw_series, one.raw_series);
    assert_eq!(several.raw_samples, one.raw_samples);
    let lines = |o: &CollectionOutcome| {
        let text = std::fs::read_to_string(o.bundle_dir.join("raw.csv")).unwrap();
        let mut l: Vec<String> = text.lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    assert!(
        lines(&several) == lines(&one),
        "the same rows, in selector order"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(several.bundle_dir.join("MANIFEST.json")).unwrap())
            .unwrap();
    assert_eq!(m["raw"]["selectors"].as_array().unwrap().len(), 3);
    assert_eq!(m["raw"]["selector"], r#"{__name__="rr_odd"}"#);
    // Range-vector queries cannot tell a series two selectors share: refused, nothing written.
    p.raw_options.source = RawSource::Query;
    p.bundle_name = "refused".into();
    let err = collect(&reqwest::Client::new(), p, None).await.unwrap_err();
    assert!(
        matches!(&err, CollectError::InvalidPlan { field, .. } if field == "raw_source"),
        "{err:?}"
    );
    assert!(!out.join("refused").exists());
}

#[tokio::test]
async fn raw_parquet_reads_back_with_typed_columns_and_every_sample() {
    let prom = own_prom(&[]).await;
    let (_d, out) = out_dir();
    let o = collect(
        &reqwest::Client::new(),
        raw_plan(&prom.url, &out, RawSource::Auto, &[SampleFormat::Parquet]),
        None,
    )
    .await
    .unwrap();
    let names: Vec<String> = o.artifacts.iter().map(|a| a.name.clone()).collect();
    assert!(names.contains(&"raw.parquet".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n == "raw.csv" || n == "raw.json"));
    let file = std::fs::File::open(o.bundle_dir.join("raw.parquet")).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let meta = reader.metadata();
    assert_eq!(
        meta.file_metadata().num_rows(),
        DENSE_SERIES * DENSE_SAMPLES + 300
    );
    let schema = meta.file_metadata().schema_descr();
    let col = |name: &str| {
        (0..schema.num_columns())
            .map(|i| schema.column(i))
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    assert_eq!(col("timestamp").physical_type(), Physical::INT64);
    assert_eq!(
        col("timestamp").logical_type_ref(),
        Some(&LogicalType::timestamp(true, TimeUnit::MILLIS))
    );
    assert_eq!(col("value").physical_type(), Physical::DOUBLE);
    for name in ["query", "series", "__name__", "case", "n"] {
        assert_eq!(
            col(name).logical_type_ref(),
            Some(&LogicalType::String),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_prometheus_with_a_low_sample_limit_still_exports_every_raw_sample() {
    let prom = own_prom(&["--query.max-samples=1000"]).await;
    let (_d, out) = out_dir();
    let http = reqwest::Client::new();
    let p = raw_plan(&prom.url, &out, RawSource::Auto, &[SampleFormat::Csv]);
    let remote = collect(&http, p, None).await.unwrap();
    assert_eq!(
        remote.raw_samples as i64,
        DENSE_SERIES * DENSE_SAMPLES + 300
    );
    // The queries too: the plan assumes the default 15 s scrape interval, the dense series
    // have a sample every second, so Prometheus refuses requests, which are halved until it
    // takes them.
    let p = raw_plan(&prom.url, &out, RawSource::Query, &[SampleFormat::Csv]);
    let query = collect(&http, p, None).await.unwrap();
    for file in ["raw.csv", "raw_series.csv"] {
        let a = std::fs::read(remote.bundle_dir.join(file)).unwrap();
        let b = std::fs::read(query.bundle_dir.join(file)).unwrap();
        assert!(a == b, "{file} differs between remote read and queries");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(query.bundle_dir.join("MANIFEST.json")).unwrap())
            .unwrap();
    let plan = &m["raw"]["query_plan"];
    assert_eq!(plan["request_samples"], 500);
    assert!(plan["refused_and_halved"].as_u64().unwrap() > 0, "{plan}");
}

#[tokio::test]
async fn a_collection_over_the_budget_is_refused_before_anything_is_written() {
    let prom = own_prom(&[]).await;
    let (_d, out) = out_dir();
    let mut p = raw_plan(&prom.url, &out, RawSource::Auto, &[SampleFormat::Parquet]);
    p.scrape_interval = Some(crate::fixtures::dur("1s"));
    p.max_points = Some(100_000);
    let err = collect(&reqwest::Client::new(), p, None).await.unwrap_err();
    match &err {
        // The 4 dense series over 60 h at 1 s (the odd series, with its gaps of over an
        // hour, may be between two counting instants).
        CollectError::OverBudget {
            estimate, limit, ..
        } => {
            assert_eq!(*limit, 100_000);
            let per_series = WINDOW_S as u64 + 1;
            assert!(
                (4 * per_series..=5 * per_series).contains(estimate),
                "{estimate}"
            );
        }
        other => panic!("not refused for its size: {other}"),
    }
    assert!(err.to_string().contains("collect.max_points"), "{err}");
    assert!(entries(&out).is_empty(), "{:?}", entries(&out));
}

#[tokio::test]
async fn a_step_under_a_tenth_of_the_scrape_interval_is_refused_naming_the_interval() {
    let (_d, out) = out_dir();
    let mut p = plan("http://127.0.0.1:9", T_RR, T_RR + 60, "100ms", vec![], &out);
    p.raw_selectors = vec![SELECTOR.into()];
    p.scrape_interval = Some(crate::fixtures::dur("15s"));
    p.end = ts(T_RR + 60);
    let err = collect(&reqwest::Client::new(), p, None).await.unwrap_err();
    match err {
        CollectError::InvalidPlan { field, reason } => {
            assert_eq!(field, "step");
            assert!(reason.contains("15000ms"), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(entries(&out).is_empty());
}

/// A stand-in Prometheus whose remote-read answer is `body` (a real Prometheus cannot be made
/// to send a corrupt or cut stream: that is the one thing faked here).
async fn serve_stream(body: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::{get, post};
    let build = || async {
        axum::Json(serde_json::json!({"status": "success", "data": {"version": "2.42.0"}}))
    };
    let labels =
        || async { axum::Json(serde_json::json!({"status": "success", "data": ["__name__"]})) };
    let read = move || {
        let body = body.clone();
        async move {
            (
                [(
                    "content-type",
                    benchmon::prometheus::remote_read::STREAMED_CONTENT_TYPE,
                )],
                body,
            )
        }
    };
    let app = axum::Router::new()
        .route("/api/v1/status/buildinfo", get(build))
        .route("/api/v1/labels", post(labels))
        .route("/api/v1/read", post(read));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test]
async fn a_corrupt_or_cut_remote_read_stream_fails_the_collection_and_leaves_no_bundle() {
    use benchmon::prometheus::remote_read::frames::encode_frame;
    use benchmon::prometheus::remote_read::proto::ChunkedReadResponse;
    use prost::Message;
    let empty = ChunkedReadResponse::default().encode_to_vec();
    let mut good = Vec::new();
    encode_frame(&empty, &mut good);
    encode_frame(b"\x0a\x00", &mut good);
    // A flipped CRC byte in the second frame; then the same stream cut inside that frame.
    let mut bad_crc = good.clone();
    let crc_at = good.len() - 2 - 4;
    bad_crc[crc_at] ^= 0xff;
    let cut = good[..good.len() - 1].to_vec();
    for (what, body, expect) in [
        ("bad crc", bad_crc, "crc32c mismatch"),
        ("cut stream", cut, "truncated"),
    ] {
        let (url, server) = serve_stream(body).await;
        let (_d, out) = out_dir();
        let p = raw_plan(&url, &out, RawSource::RemoteRead, &[SampleFormat::Parquet]);
        let err = collect(&reqwest::Client::new(), p, None).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{what}: {err}");
        assert!(entries(&out).is_empty(), "{what}: {:?}", entries(&out));
        server.abort();
    }
}
