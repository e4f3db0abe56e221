//! A real Prometheus over backfilled data with known values, and bundle readers.

use benchmon::domain::{PromDuration, Timestamp};
use benchmon::export::{CollectionPlan, NamedQuery, RawOptions};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 2026-01-01T00:00:00Z: the KPI fixtures start here.
pub const T0: i64 = 1_767_225_600;
/// The 1 s-resolution series for chunking: 12,000 samples from here.
pub const T_FINE: i64 = T0 + 3600;
pub const FINE_SAMPLES: i64 = 12_000;
/// Coverage and node-exporter fixtures: 30 minutes from here, every 15 s.
pub const T_COV: i64 = T0 + 6 * 3600;

/// The gauge's values in scrape order: a permutation of 1..=100.
pub fn gauge_values() -> Vec<i64> {
    (0..100).map(|i| (i * 37) % 100 + 1).collect()
}

pub const COUNTER_VALUES: [f64; 8] = [0.0, 10.0, 20.0, 30.0, 40.0, 5.0, 15.0, 25.0];

/// Cumulative bucket counts `(le, [at T0, T0+15, T0+30])`.
pub const BUCKETS: [(&str, [u32; 3]); 5] = [
    ("0.1", [0, 5, 10]),
    ("0.5", [0, 30, 60]),
    ("1", [0, 45, 90]),
    ("2.5", [0, 50, 100]),
    ("+Inf", [0, 50, 100]),
];

/// Target `b` misses its scrapes in [600 s, 900 s) of the coverage window and is down for 3.
pub fn b_scraped(offset: i64) -> bool {
    !(600..900).contains(&offset)
}

/// All fixtures as OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`.
pub fn fixtures() -> String {
    let mut s = String::new();
    s.push_str("# TYPE test_gauge gauge\n");
    for (i, v) in gauge_values().into_iter().enumerate() {
        writeln!(s, "test_gauge{{case=\"g\"}} {v} {}", T0 + 15 * i as i64).unwrap();
    }
    s.push_str("# TYPE test_requests counter\n");
    for (i, v) in COUNTER_VALUES.iter().enumerate() {
        writeln!(
            s,
            "test_requests_total{{case=\"c\"}} {v} {}",
            T0 + 15 * i as i64
        )
        .unwrap();
    }
    s.push_str("# TYPE test_latency_seconds histogram\n");
    for k in 0..3 {
        let t = T0 + 15 * k as i64;
        for (le, counts) in BUCKETS {
            writeln!(
                s,
                "test_latency_seconds_bucket{{case=\"h\",le=\"{le}\"}} {} {t}",
                counts[k]
            )
            .unwrap();
        }
        writeln!(
            s,
            "test_latency_seconds_count{{case=\"h\"}} {} {t}",
            BUCKETS[4].1[k]
        )
        .unwrap();
        writeln!(
            s,
            "test_latency_seconds_sum{{case=\"h\"}} {} {t}",
            BUCKETS[4].1[k] / 2
        )
        .unwrap();
    }
    s.push_str("# TYPE test_fine gauge\n");
    for n in 1..=2 {
        for i in 0..FINE_SAMPLES {
            writeln!(
                s,
                "test_fine{{case=\"f\",n=\"{n}\"}} {} {}",
                i * n,
                T_FINE + i
            )
            .unwrap();
        }
    }
    s.push_str("# TYPE up gauge\n");
    for (job, missing) in [("a", false), ("b", true)] {
        for off in (0..=1800).step_by(15) {
            if missing && !b_scraped(off) {
                continue;
            }
            let v = if missing && (1200..1245).contains(&off) {
                0
            } else {
                1
            };
            writeln!(
                s,
                "up{{session=\"s1\",job=\"{job}\",instance=\"{job}:9100\"}} {v} {}",
                T_COV + off
            )
            .unwrap();
        }
    }
    s.push_str("# TYPE node_cpu_seconds counter\n");
    for mode in ["idle", "user"] {
        for (i, off) in (0..=1800).step_by(15).enumerate() {
            let v = 7.5 * i as f64;
            writeln!(
                s,
                "node_cpu_seconds_total{{session=\"s1\",exporter=\"node\",job=\"node\",node=\"n1\",instance=\"n1:9100\",cpu=\"0\",mode=\"{mode}\"}} {v} {}",
                T_COV + off
            )
            .unwrap();
        }
    }
    s.push_str("# EOF\n");
    s
}

/// A Prometheus serving a backfilled TSDB on a free loopback port; killed on drop.
pub struct TestProm {
    child: Option<Child>,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestProm {
    /// Over [`fixtures`].
    pub async fn start() -> TestProm {
        TestProm::start_with(&fixtures(), &[]).await
    }

    /// Over the OpenMetrics text `om`, with extra Prometheus flags.
    pub async fn start_with(om_text: &str, flags: &[&str]) -> TestProm {
        let dir = tempfile::tempdir().unwrap();
        let om = dir.path().join("data.om");
        std::fs::write(&om, om_text).unwrap();
        let data = dir.path().join("data");
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&data)
            .output()
            .expect("promtool (apt-get install prometheus)");
        assert!(
            out.status.success(),
            "promtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").unwrap();
        let port = crate::support::free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus");
        let url = format!("http://127.0.0.1:{port}");
        let prom = TestProm {
            child: Some(child),
            url,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http.get(format!("{}/-/ready", prom.url)).send().await;
            if matches!(ready, Ok(r) if r.status().is_success()) {
                return prom;
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TestProm {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs as f64).unwrap()
}

pub fn dur(s: &str) -> PromDuration {
    PromDuration::parse(s).unwrap()
}

/// A plan over `[start, end]` with `queries`, bundle in `parent`.
pub fn plan(
    url: &str,
    start: i64,
    end: i64,
    step: &str,
    queries: Vec<NamedQuery>,
    parent: &Path,
) -> CollectionPlan {
    CollectionPlan {
        prometheus_url: url.to_owned(),
        start: ts(start),
        end: ts(end),
        step: Some(dur(step)),
        scrape_interval: None,
        queries,
        raw_selectors: Vec::new(),
        coverage_selector: None,
        windows: vec![],
        events: vec![],
        bundle_parent: parent.to_owned(),
        bundle_name: "run".into(),
        raw_options: RawOptions::default(),
        max_points: None,
        samples_parquet: false,
        samples_json: false,
        manifest_extra: serde_json::json!({"test": true}),
        quality: Default::default(),
        extra_files: Vec::new(),
        known_gaps: Vec::new(),
    }
}

/// `samples.csv` rows as `(timestamp_ms, query, series, value)`.
pub fn read_samples(path: &Path) -> Vec<(String, String, String, String)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        r.headers().unwrap(),
        vec!["timestamp_ms", "query", "series", "value"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[0].to_owned(),
                rec[1].to_owned(),
                rec[2].to_owned(),
                rec[3].to_owned(),
            )
        })
        .collect()
}

/// `series.csv` as series key → (label → value), for one query.
pub fn read_series(path: &Path, query: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    let mut out = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[0] != query {
            continue;
        }
        let labels = headers
            .iter()
            .zip(rec.iter())
            .skip(3)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        out.insert(rec[1].to_owned(), labels);
    }
    out
}

/// Names in `dir`.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap()
}

pub fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_owned();
    (d, p)
}
