//! The report in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `slurm/dev-cluster.sh up`) loads report.html from a bundle with known data, without console
//! errors; its DOM has the verdict banner, the run metadata, units, per-window rows and the
//! outlier node named; a screenshot is kept for people to look at.

use crate::fixtures::*;
use crate::support::browser::{chromium, console_errors, keep_dir};
use benchmon::export::{collect, MarkedWindow, NamedQuery, Unit};
use std::fmt::Write;
use std::path::Path;

/// 12 nodes at 50 % for 10 minutes, except n07 at 95 %; node n03 misses 5 minutes of scrapes.
fn nodes_fixture() -> String {
    let mut s = String::from("# TYPE test_node_util gauge\n");
    for n in 1..=12 {
        for i in 0..=40 {
            if n == 3 && (10..30).contains(&i) {
                continue;
            }
            let v = if n == 7 { 0.95 } else { 0.5 };
            let t = T0 + 15 * i;
            let l = format!("session=\"s1\",job=\"node\",node=\"n{n:02}\"");
            writeln!(s, "test_node_util{{{l}}} {v} {t}").unwrap();
            writeln!(s, "up{{{l}}} 1 {t}").unwrap();
        }
    }
    s.push_str("# EOF\n");
    s
}

#[tokio::test]
async fn the_report_renders_in_headless_chromium_with_banner_units_windows_and_outliers() {
    let prom = TestProm::start_with(&nodes_fixture(), &[]).await;
    let (_d, out) = out_dir();
    let mut p = plan(
        &prom.url,
        T0,
        T0 + 600,
        "15s",
        vec![NamedQuery::user("cpu", "test_node_util").with_unit(Some(Unit::Ratio))],
        &out,
    );
    p.scrape_interval = Some(dur("15s"));
    p.coverage_selector = Some("up{session=\"s1\"}".into());
    p.windows = vec![
        MarkedWindow {
            name: "warmup".into(),
            start: ts(T0),
            end: ts(T0 + 120),
        },
        MarkedWindow {
            name: "steady".into(),
            start: ts(T0 + 120),
            end: ts(T0 + 600),
        },
    ];
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let report = o.bundle_dir.join("report.html");
    let url = format!("file://{}", report.display());

    let dom = chromium(&["--dump-dom", &url]);
    let html = String::from_utf8_lossy(&dom.stdout);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {stderr}");
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    // The banner first, partial for the node with missing scrapes.
    let banner = html.find(r#"id="verdict""#).expect("banner");
    assert!(
        banner < html.find("<h2>Summary</h2>").unwrap(),
        "banner before the tables"
    );
    assert!(html.contains(r#"data-quality="partial""#));
    assert!(html.contains(r#"node=\"n03\""#) || html.contains(r#"node="n03""#));
    // Units, per-window rows, and the outlier named under the banded chart.
    assert!(
        html.contains("<td>50 %</td>") && html.contains("<td>95 %</td>"),
        "units"
    );
    for w in ["collection", "warmup", "steady"] {
        assert!(html.contains(&format!(r#"data-window="{w}""#)), "{w} rows");
    }
    assert!(
        html.contains(r#"highest mean: 95 % — {node="n07"}"#),
        "the outlier node is named"
    );
    let common = r#"all series: <code>{__name__="test_node_util",job="node",session="s1"}</code>"#;
    assert!(html.contains(common), "{html}");

    let dir = keep_dir("report-browser");
    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let run = chromium(&[&arg, "--window-size=1280,2400", &url]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", shot.display()));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank page is smaller: {} bytes",
        png.len()
    );
    std::fs::copy(&report, dir.join("report.html")).unwrap();
    eprintln!("screenshot: {}", shot.display());
    assert!(Path::new(&shot).is_file());
}
