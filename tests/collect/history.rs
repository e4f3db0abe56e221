//! `benchmon history` over three bundles: one tidy table, oldest window first, the same rows in
//! CSV and Parquet.

use crate::compare::{benchmon, bundle, two_bundles, T1};
use crate::fixtures::T0;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

#[tokio::test]
async fn history_of_three_bundles_reads_back_from_csv_and_parquet() {
    let (prom, dir, base, _cand) = two_bundles().await;
    let parent = base.parent().unwrap().to_owned();
    // A third run: the baseline's session a minute later. Its 20 steps see latency 5..=20,
    // then the last sample (20) four more times through Prometheus's 5 min lookback:
    // mean (200 + 80) / 20 = 14.
    bundle(&prom.url, &parent, "third", T0 + 60, "s1").await;
    let out = dir.path().join("hist");
    let o = benchmon()
        .arg("history")
        .arg(&parent)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 bundles"));

    let mut csv = csv::Reader::from_path(out.join("history.csv")).unwrap();
    assert_eq!(
        csv.headers().unwrap(),
        vec![
            "bundle",
            "start",
            "session",
            "session_labels",
            "window",
            "query",
            "scope",
            "series",
            "kpi",
            "value",
            "unit"
        ]
    );
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let means: Vec<(&str, &str, &str, f64)> = records
        .iter()
        .filter(|r| &r[5] == "latency_seconds" && &r[6] == "aggregate" && &r[8] == "mean")
        .map(|r| (&r[0], &r[1], &r[4], r[9].parse().unwrap()))
        .collect();
    assert_eq!(
        means,
        [
            ("base", "2026-01-01T00:00:00.000Z", "collection", 10.5),
            ("third", "2026-01-01T00:01:00.000Z", "collection", 14.0),
            ("cand", "2026-01-02T00:00:00.000Z", "collection", 11.5),
        ]
    );
    // Series are named without their run labels, so one series reads across runs.
    let series: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| &r[5] == "latency_seconds" && &r[6] == "series")
        .map(|r| &r[7])
        .collect();
    assert_eq!(
        series.into_iter().collect::<Vec<_>>(),
        [r#"__name__="bench_latency_seconds",case="x",instance="n1""#]
    );

    let f = std::fs::File::open(out.join("history.parquet")).unwrap();
    let reader = SerializedFileReader::new(f).unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows() as usize,
        records.len()
    );
    let rows: Vec<parquet::record::Row> = reader
        .get_row_iter(None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pq_means: Vec<(String, i64, f64)> = rows
        .iter()
        .filter(|r| {
            r.get_string(5).unwrap() == "latency_seconds"
                && r.get_string(6).unwrap() == "aggregate"
                && r.get_string(8).unwrap() == "mean"
        })
        .map(|r| {
            (
                r.get_string(0).unwrap().clone(),
                r.get_timestamp_millis(1).unwrap(),
                r.get_double(9).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pq_means,
        [
            ("base".to_owned(), T0 * 1000, 10.5),
            ("third".to_owned(), (T0 + 60) * 1000, 14.0),
            ("cand".to_owned(), T1 * 1000, 11.5),
        ]
    );
    // A directory without bundles is an error.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = benchmon()
        .arg("history")
        .arg(&empty)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}
