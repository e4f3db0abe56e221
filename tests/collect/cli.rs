//! `benchmon export`, the binary, end to end.

use crate::fixtures::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn export() -> Command {
    Command::new(env!("CARGO_BIN_EXE_benchmon"))
}

#[tokio::test]
async fn benchmon_export_writes_a_bundle_from_any_prometheus() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let url = prom.url.clone();
    let o = tokio::task::spawn_blocking(move || {
        export()
            .args([
                "export",
                "--prometheus",
                &url,
                "--start",
                "2026-01-01T00:00:00Z",
            ])
            .args(["--end", &(T0 + 99 * 15).to_string(), "--step", "15"])
            .args([
                "--query",
                "g=test_gauge",
                "--query",
                "c=test_requests_total",
                "--query",
                "none=absent_metric",
            ])
            .args([
                "--kind",
                "c=counter",
                "--window",
                "first=2026-01-01T00:00:00Z,1767225700",
            ])
            .arg("--out")
            .arg(&out)
            .arg("--json")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dir = std::path::PathBuf::from(outcome["bundle_dir"].as_str().unwrap());
    assert_eq!(dir.file_name().unwrap(), "export-20260101T000000Z");
    assert_eq!(outcome["step"], "15s");
    assert_eq!(outcome["absent_queries"], serde_json::json!(["none"]));
    assert_eq!(outcome["queries"][0]["aggregate"][0]["p50"], 50.5);
    assert_eq!(manifest(&dir)["complete"], true);
    // 100 gauge points; the counter's 8 samples, the last one visible for the 5 min lookback: 28.
    assert_eq!(read_samples(&dir.join("samples.csv")).len(), 128);
}

#[tokio::test]
async fn benchmon_export_rejects_bad_timestamps_and_steps() {
    for (start, step) in [("yesterday", "15s"), ("0", "5parsecs")] {
        let value = if start == "0" { step } else { start };
        let args = [
            "export",
            "--prometheus",
            "http://127.0.0.1:9",
            "--start",
            start,
            "--end",
            "10",
            "--step",
            step,
            "--out",
            "/tmp",
        ];
        let o = export().args(args).output().unwrap();
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(value),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[tokio::test]
async fn a_killed_export_leaves_no_complete_looking_bundle() {
    let prom = TestProm::start().await;
    let (_d, out) = out_dir();
    let mut cmd = export();
    cmd.args([
        "export",
        "--prometheus",
        &prom.url,
        "--start",
        &T_FINE.to_string(),
    ])
    .args([
        "--end",
        &(T_FINE + FINE_SAMPLES - 1).to_string(),
        "--step",
        "1s",
        "--out",
    ])
    .arg(&out);
    for i in 0..40 {
        cmd.arg("--query").arg(format!("q{i}=test_fine * {i}"));
    }
    let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !entries(&out).iter().any(|e| e.starts_with(".tmp-")) {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "no temp dir appeared in time"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the export finished before it was killed"
    );
    let left = entries(&out);
    assert!(
        left.iter().all(|e| e.starts_with(".tmp-")),
        "a bundle-looking dir was left: {left:?}"
    );
    for e in left {
        let m = out.join(e).join("MANIFEST.json");
        assert!(!m.exists(), "a temp dir holds a manifest");
    }
}
