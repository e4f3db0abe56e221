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

    // `--start`/`--end`: a phase event that opens/closes the window of its name.
    let opened = ["event", "-s", &id, "--start", "steady", "--json"];
    let opened = cli(&url, &opened).await.success().json();
    assert_eq!(
        (&opened["kind"], &opened["window"]),
        (&"phase".into(), &"start".into())
    );
    let end = ["event", "-s", &id, "--kind", "phase", "--end", "steady"];
    let closed = cli(&url, &end).await.success();
    assert!(
        closed.stdout.contains("closed window steady at"),
        "{closed}"
    );
    let again = cli(&url, &end).await;
    assert_eq!(again.code, 1, "{again}");
    assert!(
        again.stderr.contains("window steady is already closed"),
        "{again}"
    );
    let windows = app.windows(&id).await.success(200);
    assert_eq!(windows.len(), 1);
    assert_eq!(serde_json::json!(windows[0].start), opened["timestamp"]);
    app.shutdown().await;
}
