//! `benchmon window …` against a spawned server.

use crate::binary::*;
use crate::support::spawn_app;
use benchmon::launcher::LauncherKind;

#[tokio::test]
async fn windows_are_opened_closed_added_listed_and_deleted() {
    let app = spawn_app(LauncherKind::Local).await;
    let url = app.url("");
    cli(&url, &["session", "create", "w"]).await.success();

    let opened = cli(&url, &["window", "open", "-s", "w", "steady", "--json"])
        .await
        .success()
        .json();
    assert_eq!(
        (opened["name"].as_str(), opened["open"].as_bool()),
        (Some("steady"), Some(true))
    );
    let run = cli(&url, &["window", "open", "-s", "w", "steady"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("(409)") && run.stderr.contains("field: name"),
        "{run}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let run = cli(&url, &["window", "close", "-s", "w", "steady"])
        .await
        .success();
    assert!(run.stdout.starts_with("closed window steady"), "{run}");

    cli(
        &url,
        &[
            "window",
            "add",
            "-s",
            "w",
            "warmup",
            "--start",
            "2025-11-04T10:00:00Z",
            "--end",
            "1762250460",
        ],
    )
    .await
    .success();
    let list = cli(&url, &["window", "list", "-s", "w", "--json"])
        .await
        .success()
        .json();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["steady", "warmup"]);
    assert_eq!(list[1]["end"], "2025-11-04T10:01:00Z");

    let table = cli(&url, &["window", "list", "-s", "w"]).await.success();
    assert!(table.stdout.starts_with("WINDOW"), "{table}");
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("warmup") && l.ends_with("closed")),
        "{table}"
    );

    cli(&url, &["window", "delete", "-s", "w", "warmup"])
        .await
        .success();
    let run = cli(&url, &["window", "delete", "-s", "w", "warmup"]).await;
    assert_eq!(run.code, 1, "{run}");
    app.shutdown().await;
}
