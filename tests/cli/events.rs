//! `benchmon event`: record and list a session's events.

use crate::binary::*;
use crate::support::{spawn_app, unique_id};
use benchmon::launcher::LauncherKind;

#[tokio::test]
async fn event_records_phases_and_alerts_and_lists_them_in_time_order() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let id = unique_id("cli-event");
    app.create_session(&id).await;

    let phase = ["event", "-s", &id, "--kind", "phase", "warmup", "--json"];
    let phase = cli(&url, &phase).await.success().json();
    assert_eq!(
        (&phase["kind"], &phase["name"]),
        (&"phase".into(), &"warmup".into())
    );
    let alert = [
        "event",
        "-s",
        &id,
        "--kind",
        "alert",
        "latency",
        "--severity",
        "critical",
        "--message",
        "p99 over 2 s",
        "--json",
    ];
    let alert = cli(&url, &alert).await.success().json();
    assert_eq!(alert["severity"], "critical");

    let bad = cli(
        &url,
        &[
            "event",
            "-s",
            &id,
            "--kind",
            "progress",
            "x",
            "--progress",
            "140",
        ],
    )
    .await;
    assert_eq!(bad.code, 1, "{bad}");
    assert!(
        bad.stderr.contains("progress 140 is not a percentage"),
        "{bad}"
    );

    let listed = cli(&url, &["event", "-s", &id, "--list", "--json"])
        .await
        .success();
    assert_eq!(listed.json(), serde_json::json!([phase, alert]));
    let table = cli(&url, &["event", "-s", &id, "--list"]).await.success();
    assert!(
        table.stdout.contains("critical") && table.stdout.contains("p99 over 2 s"),
        "{table}"
    );
    app.shutdown().await;
}
