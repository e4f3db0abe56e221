//! The verdict: `empty` for a window without data, `partial` naming the targets under the
//! coverage threshold and their gaps, `ok` otherwise — in the outcome, the manifest,
//! `summary.json` and the report's banner.

use crate::fixtures::*;
use benchmon::export::{collect, NamedQuery, Quality, QualityThresholds, ReasonCode};

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_window_without_data_is_empty_everywhere_yet_complete() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    // The hour before the fixtures: nothing stored there.
    let mut p = plan(
        &prom.url,
        T0 - 3600,
        T0 - 60,
        "15s",
        vec![NamedQuery::user("g", "test_gauge")],
        &out,
    );
    p.coverage_selector = Some("up".into());
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    assert_eq!(o.samples, 0);
    assert_eq!(o.verdict.quality, Quality::Empty);
    let codes: Vec<ReasonCode> = o.verdict.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, [ReasonCode::NoSamples, ReasonCode::AbsentQueries]);
    assert_eq!(o.verdict.reasons[1].queries, ["g"]);
    let m = manifest(&o.bundle_dir);
    assert_eq!(m["complete"], true, "every file was written");
    assert_eq!(m["quality"], "empty");
    assert_eq!(m["quality_reasons"][0]["code"], "no_samples");
    assert_eq!(m["quality_thresholds"]["min_coverage"], 0.9);
    let s = read_json(&o.bundle_dir.join("summary.json"));
    assert_eq!(s["quality"], "empty");
    assert_eq!(s["quality_reasons"][1]["queries"][0], "g");
    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    assert!(
        html.contains(r#"<div id="verdict" class="banner empty" data-quality="empty">"#),
        "{html}"
    );
    assert!(html.contains("EMPTY: this collection holds no data at all"));
    assert!(html.contains("1 query matched no series: g"));
}

#[tokio::test]
async fn a_target_under_the_coverage_threshold_makes_it_partial_and_is_named() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut p = plan(
        &prom.url,
        T_COV,
        T_COV + 1800,
        "15s",
        vec![NamedQuery::user("up", "up{session=\"s1\"}")],
        &out,
    );
    p.scrape_interval = Some(dur("15s"));
    p.coverage_selector = Some("up{session=\"s1\"}".into());
    let o = collect(&reqwest::Client::new(), p.clone(), None)
        .await
        .unwrap();
    assert_eq!(o.verdict.quality, Quality::Partial);
    let b = r#"{instance="b:9100",job="b",session="s1"}"#;
    let codes: Vec<ReasonCode> = o.verdict.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, [ReasonCode::LowCoverage, ReasonCode::Gaps]);
    assert_eq!(o.verdict.reasons[0].targets, [b]);
    // b has 101 of 120 expected scrapes: 84.2 %.
    assert_eq!(
        o.verdict.reasons[0].detail,
        format!("1 target under 90.0 % coverage: {b} at 84.2 %")
    );
    assert_eq!(
        o.verdict.reasons[1].detail,
        format!("scrape gaps: {b}: 1 gap, longest 315 s")
    );
    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    assert!(html.contains(r#"data-quality="partial""#));
    assert!(html.contains("84.2 %"));

    // A site that accepts 80 % coverage and gaps: the same data is ok.
    p.quality = QualityThresholds {
        min_coverage: 0.8,
        gaps_are_partial: false,
        ..QualityThresholds::default()
    };
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    assert_eq!(o.verdict.quality, Quality::Ok, "{:?}", o.verdict);
    assert!(o.verdict.reasons.is_empty());
    assert_eq!(manifest(&o.bundle_dir)["quality"], "ok");
}
