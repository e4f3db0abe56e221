//! The report in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `slurm/dev-cluster.sh up`) loads report.html from a bundle with known data, without console
//! errors; its DOM has the verdict banner, the run metadata, units, per-window rows and the
//! outlier node named; the session's events are drawn on the chart as markers that the browser
//! lays out with a size, inside the chart, and listed in the Events table; a screenshot is kept
//! for people to look at.

use crate::fixtures::*;
use crate::support::browser::{chromium, console_errors, keep_dir};
use benchmon::export::events::EventRow;
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
    let event = |at: i64, kind: &str, name: &str, severity: Option<&str>| EventRow {
        timestamp: ts(at),
        kind: kind.into(),
        name: name.into(),
        severity: severity.map(Into::into),
        progress: None,
        message: Some(format!("{name} <at> {at}")),
    };
    p.events = vec![
        event(T0 + 120, "phase", "steady-start", None),
        event(T0 + 300, "alert", "latency-p99", Some("critical")),
        event(T0 + 450, "note", "checkpoint", None),
        // After the collection's window: neither marked nor listed.
        event(T0 + 900, "note", "after-the-window", None),
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

    // The Events table lists the three events in the window, escaped.
    for name in ["steady-start", "latency-p99", "checkpoint"] {
        assert!(
            html.contains(&format!("<td class=\"l\">{name}</td>")),
            "{name} row"
        );
    }
    assert!(html.contains("latency-p99 &lt;at&gt;"), "escaped message");
    assert!(!html.contains("after-the-window"));
    assert_eq!(html.matches(r#"<tr class="event""#).count(), 3);

    // The markers as the browser lays them out: a page that loads the report in a frame and
    // writes each marker's name, its line's height and its label's width, and whether the
    // line lies inside the chart's SVG.
    let probe = o.bundle_dir.join("probe.html");
    std::fs::write(&probe, PROBE.replace("REPORT", &url)).unwrap();
    let run = chromium(&[
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--window-size=1280,2400",
        "--dump-dom",
        &format!("file://{}", probe.display()),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    let dom = String::from_utf8_lossy(&run.stdout);
    let json = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no probe output: {dom}"))
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let markers: Vec<serde_json::Value> =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let names: Vec<&str> = markers
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["steady-start", "latency-p99", "checkpoint"],
        "{json}"
    );
    for m in &markers {
        assert!(m["height"].as_f64().unwrap() > 200.0, "line drawn: {m}");
        assert!(
            m["label_width"].as_f64().unwrap() > 20.0,
            "label drawn: {m}"
        );
        assert_eq!(m["inside"], true, "inside the chart: {m}");
        assert_eq!(m["visible"], true, "{m}");
    }
    // In time order from left to right: the alert at 300 s sits between the other two.
    let x: Vec<f64> = markers.iter().map(|m| m["x"].as_f64().unwrap()).collect();
    assert!(x[0] < x[1] && x[1] < x[2], "{x:?}");
    assert!(markers[1]["title"]
        .as_str()
        .unwrap()
        .contains("[critical]: latency-p99 <at>"));

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

/// Loads REPORT in a frame (same origin with `--allow-file-access-from-files`) and writes what
/// the layout gives each event marker into `<pre id="out">` for `--dump-dom`.
const PROBE: &str = r#"<!DOCTYPE html>
<html><body>
<iframe id="f" src="REPORT" width="1280" height="2400"></iframe>
<pre id="out"></pre>
<script>
document.getElementById("f").addEventListener("load", () => {
  const doc = document.getElementById("f").contentDocument;
  const out = [...doc.querySelectorAll("svg g.event-marker")].map((g) => {
    const line = g.querySelector("line").getBoundingClientRect();
    const label = g.querySelector("text").getBoundingClientRect();
    const svg = g.ownerSVGElement.getBoundingClientRect();
    const style = doc.defaultView.getComputedStyle(g);
    return {
      name: g.dataset.name,
      title: g.querySelector("title").textContent,
      x: line.left,
      height: line.height,
      label_width: Math.max(label.width, label.height),
      inside: line.left >= svg.left && line.right <= svg.right && line.top >= svg.top && line.bottom <= svg.bottom,
      visible: style.display !== "none" && style.visibility !== "hidden" && style.opacity !== "0",
    };
  });
  document.getElementById("out").textContent = JSON.stringify(out);
});
</script>
</body></html>
"#;
