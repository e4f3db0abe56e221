//! Energy on backfilled DCGM, RAPL, IPMI and vLLM data with known joules: a GPU energy counter
//! with a reset, power gauges with known integrals, tokens for energy per token.

use crate::fixtures::*;
use benchmon::export::{collect, default_queries, MarkedWindow, NamedQuery};
use std::fmt::Write;

/// 11 scrapes, every 15 s from T0.
fn energy_fixture() -> String {
    let mut s = String::new();
    let t = |i: i64| T0 + 15 * i;
    let gpu = |g: u8| format!("session=\"s1\",exporter=\"dcgm\",node=\"n1\",gpu=\"{g}\"");
    s.push_str("# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION gauge\n");
    // GPU 0 counts mJ from 1,000,000, +30,000 a scrape, and restarts at 20,000 at scrape 6.
    let gpu0 = [
        1_000_000, 1_030_000, 1_060_000, 1_090_000, 1_120_000, 1_150_000, 20_000, 50_000, 80_000,
        110_000, 140_000,
    ];
    for (i, v) in gpu0.iter().enumerate() {
        let l = gpu(0);
        writeln!(
            s,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{l}}} {v} {}",
            t(i as i64)
        )
        .unwrap();
    }
    for i in 0..11 {
        let l = gpu(1);
        let v = 45_000 * i;
        writeln!(
            s,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{l}}} {v} {}",
            t(i)
        )
        .unwrap();
    }
    s.push_str("# TYPE DCGM_FI_DEV_POWER_USAGE gauge\n");
    for i in 0..11 {
        let (l0, l1) = (gpu(0), gpu(1));
        let p1 = if i < 5 { 100 } else { 300 };
        writeln!(s, "DCGM_FI_DEV_POWER_USAGE{{{l0}}} 200 {}", t(i)).unwrap();
        writeln!(s, "DCGM_FI_DEV_POWER_USAGE{{{l1}}} {p1} {}", t(i)).unwrap();
    }
    s.push_str("# TYPE node_rapl_package_joules counter\n");
    for i in 0..11 {
        writeln!(
            s,
            "node_rapl_package_joules_total{{session=\"s1\",exporter=\"node\",node=\"n1\",index=\"0\"}} {} {}",
            50 * i,
            t(i)
        )
        .unwrap();
    }
    s.push_str("# TYPE ipmi_dcmi_power_consumption_watts gauge\n");
    for i in 0..11 {
        let w = if i == 5 { 600 } else { 400 };
        writeln!(
            s,
            "ipmi_dcmi_power_consumption_watts{{session=\"s1\",exporter=\"ipmi\",node=\"n1\"}} {w} {}",
            t(i)
        )
        .unwrap();
    }
    s.push_str("# TYPE vllm:generation_tokens counter\n");
    for i in 0..11 {
        writeln!(
            s,
            "vllm:generation_tokens_total{{session=\"s1\",service=\"vllm\",instance=\"n1:8000\",model_name=\"m\"}} {} {}",
            74 * i,
            t(i)
        )
        .unwrap();
    }
    s.push_str("# EOF\n");
    s
}

type Row = (String, String, String, String, f64, String);

fn energy_csv(dir: &std::path::Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(dir.join("energy.csv")).unwrap();
    r.records()
        .map(|x| {
            let x = x.unwrap();
            (
                x[0].to_owned(),
                x[1].to_owned(),
                x[2].to_owned(),
                x[3].to_owned(),
                x[4].parse().unwrap(),
                x[5].to_owned(),
            )
        })
        .collect()
}

fn value(rows: &[Row], window: &str, scope: &str, target: &str, metric: &str) -> f64 {
    rows.iter()
        .find(|r| r.0 == window && r.1 == scope && r.2.contains(target) && r.3 == metric)
        .unwrap_or_else(|| panic!("no {window} {scope} {target} {metric} in {rows:#?}"))
        .4
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

fn queries() -> Vec<NamedQuery> {
    let kinds = ["dcgm".into(), "node".into(), "ipmi".into()];
    default_queries(&kinds, &["vllm".into()], "session=\"s1\"")
}

#[tokio::test]
async fn energy_per_gpu_node_and_token_is_exact_on_known_data() {
    let prom = TestProm::start_with(&energy_fixture(), &[]).await;
    let (_d, out) = out_dir();
    let mut p = plan(&prom.url, T0, T0 + 150, "15s", queries(), &out);
    p.windows = vec![
        MarkedWindow {
            name: "first".into(),
            start: ts(T0),
            end: ts(T0 + 60),
        },
        MarkedWindow {
            name: "second".into(),
            start: ts(T0 + 75),
            end: ts(T0 + 150),
        },
    ];
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let rows = energy_csv(&o.bundle_dir);
    let w = "collection";
    // GPU 0: 5 × 30 J, the reset adds 20 J, then 4 × 30 J = 290 J; GPU 1: 10 × 45 J.
    assert!(close(value(&rows, w, "gpu", "gpu=\"0\"", "energy"), 290.0));
    assert!(close(value(&rows, w, "gpu", "gpu=\"1\"", "energy"), 450.0));
    assert!(close(value(&rows, w, "gpu", "total", "energy"), 740.0));
    assert!(close(
        value(&rows, w, "gpu", "total", "mean_power"),
        740.0 / 150.0
    ));
    assert!(close(
        value(&rows, w, "gpu", "gpu=\"1\"", "peak_power"),
        300.0
    ));
    // The counter wins: no integrated GPU energy next to it.
    assert_eq!(
        rows.iter()
            .filter(|r| r.0 == w && r.1 == "gpu" && r.3 == "energy")
            .count(),
        3
    );
    assert!(close(
        value(&rows, w, "cpu_package", "total", "energy"),
        500.0
    ));
    // IPMI: 400 W for 150 s plus a 600 W spike at 75 s (a triangle of 30 s × 200 W / 2).
    assert!(close(value(&rows, w, "node", "total", "energy"), 63_000.0));
    assert!(close(value(&rows, w, "node", "n1", "peak_power"), 600.0));
    assert!(close(
        value(&rows, w, "node", "n1", "mean_power"),
        4600.0 / 11.0
    ));
    // 740 tokens for 740 J of GPU energy.
    assert!(close(value(&rows, w, "work", "total", "tokens"), 740.0));
    assert!(close(
        value(&rows, w, "work", "total", "joules_per_token"),
        1.0
    ));
    assert!(close(
        value(&rows, w, "work", "total", "tokens_per_joule"),
        1.0
    ));
    // Per window: GPU 0 counts 120 J in the first minute, 140 J (reset included) in the second.
    assert!(close(
        value(&rows, "first", "gpu", "gpu=\"0\"", "energy"),
        120.0
    ));
    assert!(close(
        value(&rows, "second", "gpu", "gpu=\"0\"", "energy"),
        140.0
    ));
    assert!(close(
        value(&rows, "second", "gpu", "gpu=\"1\"", "energy"),
        225.0
    ));
    assert_eq!(rows.iter().find(|r| r.1 == "gpu").unwrap().5, "joules");
    let csv = std::fs::read_to_string(o.bundle_dir.join("energy.csv")).unwrap();
    assert!(csv.contains("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ) / 1000: counter increase"));
    assert!(csv.contains("a drop is a reset"));

    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.bundle_dir.join("summary.json")).unwrap()).unwrap();
    assert!(s["energy"].as_array().unwrap().len() == rows.len());
    let html = std::fs::read_to_string(o.bundle_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<td>63 kJ</td>"),
        "the report prints energy for people"
    );
    assert!(html.contains("<td>1 J/token</td>"));
}

#[tokio::test]
async fn without_the_energy_counter_gpu_energy_is_integrated_from_power() {
    let prom = TestProm::start_with(&energy_fixture(), &[]).await;
    let (_d, out) = out_dir();
    let qs = queries()
        .into_iter()
        .filter(|q| q.name != "gpu_energy_joules")
        .collect();
    let p = plan(&prom.url, T0, T0 + 150, "15s", qs, &out);
    let o = collect(&reqwest::Client::new(), p, None).await.unwrap();
    let rows = energy_csv(&o.bundle_dir);
    let w = "collection";
    // 200 W × 150 s; 100 W for 60 s, a 15 s ramp to 300 W (3000 J), 300 W for 75 s.
    assert!(close(
        value(&rows, w, "gpu", "gpu=\"0\"", "energy"),
        30_000.0
    ));
    assert!(close(
        value(&rows, w, "gpu", "gpu=\"1\"", "energy"),
        31_500.0
    ));
    assert!(close(value(&rows, w, "gpu", "total", "energy"), 61_500.0));
    assert!(close(
        value(&rows, w, "work", "total", "joules_per_token"),
        61_500.0 / 740.0
    ));
    let csv = std::fs::read_to_string(o.bundle_dir.join("energy.csv")).unwrap();
    assert!(csv.contains(
        "DCGM_FI_DEV_POWER_USAGE: power gauge integrated over time by the trapezoid rule"
    ));
}
