//! `benchmon collect` by `--last` and by `--window`, against real Prometheus, and its exit
//! codes by verdict: 3 for `partial` (0 with `--allow-partial`), 4 for `empty`.

use crate::binary::*;
use crate::support::{spawn_app, unique_id, NodeExporter};
use benchmon::launcher::LauncherKind;
use std::path::Path;
use std::time::Duration;

#[tokio::test]
async fn collect_by_last_and_by_window_writes_bundles_with_a_report() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let exporter = NodeExporter::start().await;
    let id = unique_id("cli-collect");
    cli(&url, &["session", "create", &id, "--scrape-interval", "1s"])
        .await
        .success();
    cli(
        &url,
        &[
            "register",
            "client",
            "-s",
            &id,
            "--client-id",
            "c1",
            "--node",
            "localhost",
            "--exporter",
            &format!("node={}", exporter.address()),
        ],
    )
    .await
    .success();
    cli(
        &url,
        &[
            "session",
            "start",
            &id,
            "--time-limit",
            "00:20:00",
            "--wait",
        ],
    )
    .await
    .success();
    eventually(
        "the node exporter is up",
        Duration::from_secs(40),
        || async {
            let list = cli(&url, &["targets", "-s", &id, "--json"])
                .await
                .success()
                .json();
            let up = list["targets"][0]["health"]["health"] == "up";
            up.then_some(())
        },
    )
    .await;
    cli(&url, &["window", "open", "-s", &id, "steady"])
        .await
        .success();
    tokio::time::sleep(Duration::from_secs(5)).await;
    cli(&url, &["window", "close", "-s", &id, "steady"])
        .await
        .success();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let run = cli(
        &url,
        &[
            "collect",
            "-s",
            &id,
            "--last",
            "1m",
            "--out-dir",
            "by-last",
            "--json",
            "--allow-partial",
        ],
    )
    .await
    .success();
    let result = run.json();
    let bundle = result["bundle_dir"].as_str().unwrap();
    assert!(Path::new(bundle).is_dir(), "{run}");
    assert!(!result["artifacts"].as_array().unwrap().is_empty(), "{run}");
    assert!(result["samples"].as_u64().unwrap() > 0, "{run}");

    let run = cli(
        &url,
        &[
            "collect",
            "-s",
            &id,
            "--window",
            "steady",
            "--run-id",
            "run-001",
            "--query",
            "load=node_load1",
            "--step",
            "1s",
            "--allow-partial",
        ],
    )
    .await
    .success();
    assert!(run.stdout.contains("quality:"), "{run}");
    let report = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no report line:\n{run}"));
    assert!(
        report.ends_with("report.html") && Path::new(report).is_file(),
        "{run}"
    );
    assert!(
        run.stdout.contains("bundle:") && run.stdout.contains("samples into"),
        "{run}"
    );

    // A query that matches nothing makes the bundle partial: exit 3, the query named.
    let args = [
        "collect",
        "-s",
        &id,
        "--window",
        "steady",
        "--query",
        "missing=benchmon_no_such_metric",
    ];
    let run = cli(&url, &args).await;
    assert_eq!(run.code, 3, "{run}");
    assert!(
        run.stdout.contains("quality:") && run.stdout.contains("PARTIAL — "),
        "{run}"
    );
    assert!(run.stdout.contains("matched no series: missing"), "{run}");
    assert!(run.stderr.contains("--allow-partial"), "{run}");
    let mut allowed = args.to_vec();
    allowed.push("--allow-partial");
    cli(&url, &allowed).await.success();

    // A window long before the session: no data at all, exit 4 whatever the flags.
    let run = cli(
        &url,
        &[
            "collect",
            "-s",
            &id,
            "--start",
            "2025-11-04T10:00:00Z",
            "--end",
            "2025-11-04T11:00:00Z",
            "--allow-partial",
        ],
    )
    .await;
    assert_eq!(run.code, 4, "{run}");
    assert!(run.stdout.contains("EMPTY — no sample at all"), "{run}");

    // A window that does not exist is the server's 404, exit code 1.
    let run = cli(&url, &["collect", "-s", &id, "--window", "nosuch"]).await;
    assert_eq!(run.code, 1, "{run}");
    cli(&url, &["session", "stop", &id]).await.success();
    app.shutdown().await;
}
