//! Coverage per target, and the node profile on node-exporter-shaped data.

use crate::fixtures::*;
use benchmon::export::{collect, collect_tuned, default_queries, Tuning};

#[tokio::test]
async fn coverage_flags_the_target_with_missing_scrapes_and_reports_its_gap() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut p = plan(&prom.url, T_COV, T_COV + 1800, "15s", vec![], &out);
    p.scrape_interval = Some(dur("15s"));
    p.coverage_selector = Some("up{session=\"s1\"}".into());
    // 7-minute chunks: the gap and several scrapes sit on chunk boundaries.
    let tuning = Tuning {
        raw_chunk_ms: Some(420_000),
        ..Tuning::default()
    };
    let o = collect_tuned(&reqwest::Client::new(), p, None, tuning)
        .await
        .unwrap();
    let c = o.coverage.as_ref().unwrap();
    assert_eq!(c.targets.len(), 2);
    let a = c
        .targets
        .iter()
        .find(|t| t.job.as_deref() == Some("a"))
        .unwrap();
    let b = c
        .targets
        .iter()
        .find(|t| t.job.as_deref() == Some("b"))
        .unwrap();
    assert_eq!(
        (a.scrapes, a.coverage, a.flagged, a.gaps.len()),
        (121, Some(1.0), false, 0)
    );
    // b misses the 20 scrapes in [600 s, 900 s) and was down for 3.
    assert_eq!((b.scrapes, b.up, b.down), (101, 98, 3));
    assert!((b.coverage.unwrap() - 101.0 / 120.0).abs() < 1e-12);
    assert!(b.flagged);
    assert_eq!(b.gaps.len(), 1);
    assert_eq!(
        (b.gaps[0].start, b.gaps[0].end, b.gaps[0].seconds),
        (ts(T_COV + 585), ts(T_COV + 900), 315.0)
    );
    assert_eq!(o.gaps.len(), 1);
    let m = manifest(&o.bundle_dir);
    assert_eq!(m["coverage"]["flagged"], 1);
    assert_eq!(m["gaps"][0]["seconds"], 315.0);
    assert!(o.bundle_dir.join("coverage.csv").is_file());
}

#[tokio::test]
async fn the_node_profile_computes_cpu_utilisation_from_idle_time() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let queries = default_queries(&["node".into()], &[], "session=\"s1\"");
    let mut p = plan(&prom.url, T_COV + 300, T_COV + 1800, "15s", queries, &out);
    p.scrape_interval = Some(dur("15s"));
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let cpu = o
        .queries
        .iter()
        .find(|q| q.name == "node_cpu_utilisation")
        .unwrap();
    assert!(
        cpu.sent_promql.contains("[1m]"),
        "rate window max(4×15s, 15s+15s): {}",
        cpu.sent_promql
    );
    let k = &cpu.aggregate[0];
    // Idle grows 0.5 s per second: utilisation 0.5 at every step.
    assert_eq!(k.samples, 101);
    for v in [k.min, k.max, k.p50, k.p99] {
        assert!((v.unwrap() - 0.5).abs() < 1e-9, "{k:?}");
    }
}
