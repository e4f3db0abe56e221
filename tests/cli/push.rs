//! `benchmon push`: text exposition from a file or stdin into a real SLURM session.

use crate::binary::*;
use crate::support::{spawn_app, unique_id};
use benchmon::launcher::LauncherKind;
use serde_json::json;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn push_sends_a_file_or_stdin_and_a_bad_line_exits_1_naming_it() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let id = unique_id("cli-push");

    // Not running yet: the server's 409 is the error.
    app.create_session(&id).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "harness_ops_total{op=\"read\"} 7\n").unwrap();
    let path = file.path().to_str().unwrap();
    let early = cli(&url, &["push", "--session", &id, path]).await;
    assert_eq!(early.code, 1, "{early}");
    assert!(
        early.stderr.contains("cannot push metrics to session"),
        "{early}"
    );

    app.start_and_wait(&id).await;
    let args = [
        "push",
        "--session",
        &id,
        "--client-id",
        "loadgen-1",
        "--json",
        path,
    ];
    let pushed = cli(&url, &args).await.success();
    assert_eq!(pushed.json(), json!({"samples": 1, "series": 1}));

    let mut cmd = command(BIN, &url);
    cmd.args(["push", "-s", &id, "-"])
        .stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"harness_ops_total 8\nharness_ops_total{run_id=\"x\"} 9\n")
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 2: label \"run_id\" is set by benchmon"),
        "{stderr}"
    );

    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
