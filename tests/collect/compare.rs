//! `benchmon compare` and `benchmon history` over two real bundles with known differences:
//! one backfilled TSDB holding a baseline run (session s1, run r1, exporter on port 9100) and,
//! a day later, a candidate run (session s2, run r2, port 9200).
//!
//! Every gauge has 20 samples 15 s apart. Baseline → candidate:
//! `latency_seconds` 1..=20 → 2..=21 (every KPI +1, lower is better), `tokens_per_second`
//! 100 → 90 (−10 %, higher is better), `power_watts` 200 → 150 (better), `util` 50 → 50 (same),
//! `only_base` in the baseline only, `only_cand` in the candidate only.

use crate::fixtures::*;
use benchmon::export::NamedQuery;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The candidate's window starts a day after the baseline's.
pub const T1: i64 = T0 + 86_400;

fn om() -> String {
    let mut s = String::new();
    let runs = [(T0, "s1", "r1", "9100", 0.0), (T1, "s2", "r2", "9200", 1.0)];
    for metric in [
        "bench_latency_seconds",
        "bench_tokens_per_second",
        "bench_power_watts",
        "bench_util",
        "bench_only",
    ] {
        writeln!(s, "# TYPE {metric} gauge").unwrap();
        for (t, session, run, port, cand) in runs {
            for i in 0..20 {
                let v = match metric {
                    "bench_latency_seconds" => (i + 1) as f64 + cand,
                    "bench_tokens_per_second" => 100.0 - 10.0 * cand,
                    "bench_power_watts" => 200.0 - 50.0 * cand,
                    "bench_util" => 50.0,
                    _ => 1.0,
                };
                writeln!(
                    s,
                    "{metric}{{case=\"x\",instance=\"n1:{port}\",run_id=\"{run}\",session=\"{session}\"}} {v} {}",
                    t + 15 * i
                )
                .unwrap();
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

/// Collects one run's window into `parent/name`.
pub async fn bundle(url: &str, parent: &Path, name: &str, start: i64, session: &str) -> PathBuf {
    let sel = format!("session=\"{session}\"");
    let mut queries = vec![
        NamedQuery::user("latency_seconds", format!("bench_latency_seconds{{{sel}}}")),
        NamedQuery::user(
            "tokens_per_second",
            format!("bench_tokens_per_second{{{sel}}}"),
        ),
        NamedQuery::user("power_watts", format!("bench_power_watts{{{sel}}}")),
        NamedQuery::user("util", format!("bench_util{{{sel}}}")),
    ];
    let only = if session == "s1" {
        "only_base"
    } else {
        "only_cand"
    };
    queries.push(NamedQuery::user(only, format!("bench_only{{{sel}}}")));
    let mut p = plan(url, start, start + 19 * 15, "15s", queries, parent);
    p.bundle_name = name.into();
    let out = benchmon::export::collect(&reqwest::Client::new(), p, None)
        .await
        .unwrap();
    out.bundle_dir
}

/// A Prometheus over [`om`] and the two bundles.
pub async fn two_bundles() -> (TestProm, tempfile::TempDir, PathBuf, PathBuf) {
    let prom = TestProm::start_with(&om(), &[]).await;
    let (d, parent) = out_dir();
    let base = bundle(&prom.url, &parent, "base", T0, "s1").await;
    let cand = bundle(&prom.url, &parent, "cand", T1, "s2").await;
    (prom, d, base, cand)
}

pub fn benchmon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_benchmon"))
}

const TOLERANCES: &str = r#"
[[rule]]
query = "latency_seconds"
kpi = "mean"
max_regression = "5%"

[[rule]]
query = "tokens_*"
kpi = "*"
max_regression = "15%"
"#;

fn row<'a>(c: &'a serde_json::Value, query: &str, scope: &str, kpi: &str) -> &'a serde_json::Value {
    c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"] == query && r["scope"] == scope && r["kpi"] == kpi)
        .unwrap_or_else(|| panic!("no row {query} {scope} {kpi}"))
}

#[tokio::test]
async fn compare_gives_exact_deltas_verdicts_and_exit_codes() {
    let (_prom, dir, base, cand) = two_bundles().await;
    let tol = dir.path().join("tolerances.toml");
    std::fs::write(&tol, TOLERANCES).unwrap();
    let out = dir.path().join("cmp");
    let o = benchmon()
        .arg("compare")
        .args([&base, &cand])
        .arg("--tolerances")
        .arg(&tol)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["regression"], true);
    // 6 queries × (aggregate + 1 series) × 7 gauge KPIs (with the integral); the mean of latency (aggregate and
    // series) beyond its 5 %, the other latency KPIs and every tokens KPI worse but within.
    assert_eq!(
        c["counts"],
        serde_json::json!({"regression": 2, "worse": 26, "missing": 14, "new": 14,
            "changed": 0, "better": 14, "same": 14})
    );
    let mean = row(&c, "latency_seconds", "aggregate", "mean");
    assert_eq!(
        (&mean["baseline"], &mean["candidate"], &mean["delta"]),
        (
            &serde_json::json!(10.5),
            &serde_json::json!(11.5),
            &serde_json::json!(1.0)
        )
    );
    // serde_json parses floats to within an ulp; compare.csv holds the exact value.
    assert!((mean["relative"].as_f64().unwrap() - 1.0 / 10.5).abs() < 1e-15);
    assert_eq!(
        (&mean["verdict"], &mean["direction"]),
        (&"regression".into(), &"lower".into())
    );
    assert_eq!(mean["max_regression"], "5%");
    let max = row(&c, "latency_seconds", "aggregate", "max");
    assert_eq!(
        (&max["delta"], &max["verdict"]),
        (&serde_json::json!(1.0), &"worse".into())
    );
    let tokens = row(&c, "tokens_per_second", "aggregate", "p50");
    assert_eq!(
        (
            &tokens["delta"],
            &tokens["relative"],
            &tokens["verdict"],
            &tokens["direction"]
        ),
        (
            &serde_json::json!(-10.0),
            &serde_json::json!(-0.1),
            &"worse".into(),
            &"higher".into()
        )
    );
    let power = row(&c, "power_watts", "aggregate", "mean");
    assert_eq!(
        (&power["delta"], &power["verdict"]),
        (&serde_json::json!(-50.0), &"better".into())
    );
    assert_eq!(row(&c, "util", "aggregate", "mean")["verdict"], "same");
    assert_eq!(
        row(&c, "only_base", "aggregate", "mean")["verdict"],
        "missing"
    );
    assert_eq!(row(&c, "only_cand", "aggregate", "mean")["verdict"], "new");
    // Different sessions, run ids and instance ports still match: one series row, n1 only.
    let series = row(&c, "latency_seconds", "series", "mean");
    assert_eq!(
        series["series"],
        r#"__name__="bench_latency_seconds",case="x",instance="n1""#
    );
    assert_eq!(series["verdict"], "regression");
    // Most severe first.
    assert_eq!(c["rows"][0]["verdict"], "regression");
    // The files: the same rows in CSV and JSON, a page with the verdict first and both runs.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json, c);
    let mut csv = csv::Reader::from_path(out.join("compare.csv")).unwrap();
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 84);
    assert_eq!(&records[0][0], "regression");
    let exact = records
        .iter()
        .find(|r| &r[2] == "latency_seconds" && &r[3] == "aggregate" && &r[6] == "mean")
        .unwrap();
    assert_eq!(exact[10].parse::<f64>().unwrap(), 1.0 / 10.5);
    let html = std::fs::read_to_string(out.join("compare.html")).unwrap();
    let gate = html.find("REGRESSION").unwrap();
    assert!(gate < html.find("<h2>Charts").unwrap());
    assert!(html.contains("<svg") && html.contains("seconds since window start"));
    assert!(html.contains("baseline {__name__=") && html.contains("candidate {__name__="));
    assert!(!html.contains("<script"));
    // The latency chart (the first: most severe) draws both runs' 20 samples, a day apart but
    // aligned on time since window start: the same x for the first point of each.
    let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    let lines: Vec<Vec<&str>> = svg
        .split("<polyline")
        .skip(1)
        .filter_map(|p| p.split("points=\"").nth(1)?.split('"').next())
        .map(|p| p.split_whitespace().collect::<Vec<_>>())
        .filter(|p| p.len() == 20)
        .collect();
    assert_eq!(lines.len(), 2, "{svg}");
    let x = |p: &str| p.split(',').next().unwrap().to_owned();
    assert_eq!(x(lines[0][0]), x(lines[1][0]));
    assert_eq!(x(lines[0][19]), x(lines[1][19]));

    // As a person sees it: headless Chromium renders the page without console errors, the
    // verdict first; a screenshot is kept next to the report's.
    let url = format!("file://{}", out.join("compare.html").display());
    let dom = crate::support::browser::chromium(&["--dump-dom", &url]);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {stderr}");
    assert!(
        crate::support::browser::console_errors(&stderr).is_empty(),
        "{stderr}"
    );
    let rendered = String::from_utf8_lossy(&dom.stdout);
    let gate = rendered
        .find("REGRESSION")
        .expect("the gate in the rendered page");
    assert!(gate < rendered.find("<h2>Charts").unwrap());
    assert!(rendered.contains("latency_seconds") && rendered.contains("+100.00%"));
    let shot = crate::support::browser::keep_dir("report-browser").join("compare.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let run = crate::support::browser::chromium(&[&arg, "--window-size=1280,1600", &url]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[tokio::test]
async fn compare_exits_0_without_regression_1_on_error_2_on_usage() {
    let (_prom, dir, base, cand) = two_bundles().await;
    // No rule: worse is not a regression.
    let o = benchmon()
        .arg("compare")
        .args([&base, &cand])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("0 regression, 28 worse") && text.contains("no regression"),
        "{text}"
    );
    // A catch-all limit of 10 %: tokens (−10 %) stays within, latency p50 (+1/10.5) is over.
    let o = benchmon()
        .arg("compare")
        .args([&base, &cand])
        .args(["--max-regression", "10%", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        row(&c, "tokens_per_second", "aggregate", "mean")["verdict"],
        "worse"
    );
    assert_eq!(
        row(&c, "latency_seconds", "aggregate", "p50")["verdict"],
        "worse"
    );
    assert_eq!(
        row(&c, "latency_seconds", "aggregate", "min")["verdict"],
        "regression"
    );
    // An unreadable bundle is an error.
    let o = benchmon()
        .arg("compare")
        .arg(dir.path().join("nothing-here"))
        .arg(&cand)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a complete benchmon bundle"));
    // A bad tolerance file is usage, naming the rule.
    let tol = dir.path().join("bad.toml");
    std::fs::write(
        &tol,
        "[[rule]]\nquery = \"q\"\nkpi = \"p99\"\nmax_regression = \"-3%\"\n",
    )
    .unwrap();
    let o = benchmon()
        .arg("compare")
        .args([&base, &cand])
        .arg("--tolerances")
        .arg(&tol)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rules[0].max_regression"));
    let o = benchmon().args(["compare", "only-one"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
