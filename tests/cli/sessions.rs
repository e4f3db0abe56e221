//! Session lifecycle through the CLI, on the real SLURM dev cluster with real Prometheus.

use crate::binary::*;
use crate::support::{spawn_app, spawn_app_with, test_settings, unique_id, Dirs, NodeExporter};
use benchmon::launcher::LauncherKind;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn a_session_goes_from_create_through_start_wait_and_targets_to_stop() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let exporter = NodeExporter::start().await;
    let id = unique_id("cli-flow");

    let created = cli(
        &url,
        &[
            "session",
            "create",
            &id,
            "--scrape-interval",
            "1s",
            "--label",
            "team=hpc",
            "--json",
        ],
    )
    .await
    .success()
    .json();
    assert_eq!(
        (
            created["state"].as_str(),
            created["labels"]["team"].as_str()
        ),
        (Some("created"), Some("hpc"))
    );

    let run = cli(
        &url,
        &[
            "session",
            "start",
            &id,
            "--partition",
            "cpu",
            "--time-limit",
            "00:20:00",
            "--wait",
            "--json",
        ],
    )
    .await
    .success();
    let running = run.json();
    assert_eq!(running["state"], "running", "{run}");
    assert_eq!(running["ready"], true);
    let job = running["slurm_job_id"].as_str().unwrap().to_owned();
    assert_eq!(squeue_state(&job), "RUNNING");

    let reg = cli(
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
            "--exporter",
            "dcgm=9400",
            "--disable",
            "dcgm",
            "--label",
            "rack=r1",
            "--json",
        ],
    )
    .await
    .success()
    .json();
    assert_eq!(reg["exporters"]["dcgm"], "localhost:9400");
    assert_eq!(reg["preferences"]["enable_dcgm"], false);
    cli(
        &url,
        &[
            "register",
            "service",
            "-s",
            &id,
            "--name",
            "benchmon",
            "--client-id",
            "c1",
            "--endpoint",
            &app.url("/metrics"),
            "--label",
            "model=gpt2",
        ],
    )
    .await
    .success();

    // Prometheus scrapes the real exporter: the targets view shows it up.
    let targets: Value = eventually(
        "the node exporter is up",
        Duration::from_secs(40),
        || async {
            let list = cli(&url, &["targets", "-s", &id, "--json"])
                .await
                .success()
                .json();
            let up = list["targets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["exporter"] == "node" && t["health"]["health"] == "up");
            up.then_some(list)
        },
    )
    .await;
    assert_eq!(targets["targets"].as_array().unwrap().len(), 3, "{targets}");
    let table = cli(&url, &["targets", "-s", &id]).await.success();
    let header = table.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("KIND") && header.contains("HEALTH"),
        "{table}"
    );
    let node_row = table
        .stdout
        .lines()
        .find(|l| l.contains(&exporter.address()))
        .unwrap();
    assert!(
        node_row.contains("exporter") && node_row.contains(" up "),
        "{table}"
    );
    let dcgm_row = table
        .stdout
        .lines()
        .find(|l| l.contains("localhost:9400"))
        .unwrap();
    assert!(
        dcgm_row.contains(" no "),
        "disabled exporters are not scraped:\n{table}"
    );

    let list = cli(&url, &["session", "list", "--state", "running", "--json"])
        .await
        .success()
        .json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["session_id"] == id.as_str()),
        "{list}"
    );
    let status = cli(&url, &["session", "status", &id]).await.success();
    assert!(
        status.stdout.contains("state:") && status.stdout.contains("running"),
        "{status}"
    );
    assert!(
        status.stdout.contains(&format!("{job} (RUNNING")),
        "{status}"
    );

    let stopped = cli(&url, &["session", "stop", &id, "--json"])
        .await
        .success()
        .json();
    assert_eq!(stopped["state"], "stopped");
    assert_eq!(squeue_state(&job), "");
    cli(
        &url,
        &["deregister", "client", "-s", &id, "--client-id", "c1"],
    )
    .await;
    let run = cli(&url, &["session", "delete", &id]).await.success();
    assert!(run.stdout.contains("deleted session"), "{run}");
    let run = cli(&url, &["session", "status", &id]).await;
    assert_eq!(run.code, 1, "{run}");
    app.shutdown().await;
}

#[tokio::test]
async fn start_wait_fails_clearly_when_the_job_stays_pending() {
    // Every job of this server is held back an hour: it stays PENDING (BeginTime).
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site.slurm.sbatch_extra = vec!["--begin=now+1hour".into()];
    let app = spawn_app_with(settings, dirs).await;
    let url = app.url("");
    let id = unique_id("cli-pending");
    cli(&url, &["session", "create", &id]).await.success();

    let run = cli(
        &url,
        &["session", "start", &id, "--wait", "--wait-timeout", "4s"],
    )
    .await;
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains(&format!("session {id} did not reach running within 4s")),
        "{run}"
    );
    assert!(run.stderr.contains("PENDING (BeginTime)"), "{run}");
    assert!(
        run.stderr.contains(&format!("benchmon session stop {id}")),
        "{run}"
    );
    // Without a terminal, progress is a line per change (readable in a job log).
    assert!(
        run.stderr.contains(&format!("session {id}: pending")),
        "{run}"
    );

    let stopped = cli(&url, &["session", "stop", &id, "--json"])
        .await
        .success()
        .json();
    assert_eq!(stopped["state"], "stopped");
    app.shutdown().await;
}

#[tokio::test]
async fn a_partition_sbatch_refuses_exits_1_naming_the_field() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let id = unique_id("cli-refused");
    cli(&url, &["session", "create", &id]).await.success();
    let run = cli(
        &url,
        &["session", "start", &id, "--partition", "nosuch", "--wait"],
    )
    .await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("(422)"), "{run}");
    assert!(run.stderr.contains("field: partition"), "{run}");
    app.shutdown().await;
}

fn squeue_state(job: &str) -> String {
    crate::support::squeue_state(job)
}
