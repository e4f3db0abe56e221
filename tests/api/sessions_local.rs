//! The local launcher: the same API and states, Prometheus as a child process.

use crate::helpers::*;
use benchmon::config::LauncherKind;
use benchmon::session::{CreateSession, SessionState, StartSession};
use std::time::Duration;

#[tokio::test]
async fn the_local_launcher_runs_a_session_through_the_same_states() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("local");
    let req: CreateSession =
        serde_json::from_value(serde_json::json!({"run_id": id, "scrape_interval": "1s"})).unwrap();
    let created = app.client.create_session(&req).await.unwrap();
    assert_eq!(created.state, SessionState::Created);
    let started = app
        .client
        .start_session(&id, &StartSession::default())
        .await
        .unwrap();
    assert_eq!(started.state, SessionState::Pending);
    assert!(started.slurm_job_id.is_none());
    let pid = started.job_id.clone().unwrap();

    let running = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    let url = running.prometheus_url.unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let up = query_until_present(
        &url,
        &format!(r#"up{{job="prometheus",session="{id}"}} == 1"#),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(up[0]["metric"]["run_id"], id.as_str());

    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            // A zombie not yet reaped counts as gone.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        }
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_local_prometheus_killed_behind_benchmons_back_fails_the_session() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("localkill");
    let req: CreateSession = serde_json::from_value(serde_json::json!({"run_id": id})).unwrap();
    app.client.create_session(&req).await.unwrap();
    app.client
        .start_session(&id, &StartSession::default())
        .await
        .unwrap();
    let running = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    sh("kill", &["-KILL", &running.job_id.unwrap()]);
    let failed = app
        .client
        .wait_for(&id, SessionState::Failed, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(failed
        .failure_reason
        .unwrap()
        .contains("not stopped through benchmon"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_deleted_and_created_again_at_once_is_followed_again() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("again");
    let req: CreateSession = serde_json::from_value(serde_json::json!({"run_id": id})).unwrap();
    for round in 0..2 {
        app.client.create_session(&req).await.unwrap();
        app.client
            .start_session(&id, &StartSession::default())
            .await
            .unwrap();
        let s = app
            .client
            .wait_for(&id, SessionState::Running, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(s.ready);
        app.client.delete_session(&id).await.unwrap();
    }
    app.shutdown().await;
}
