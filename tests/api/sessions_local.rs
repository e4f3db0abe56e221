//! The local launcher: the same API and states, Prometheus as a child process.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::{CreateSession, SessionState, StartSession};
use std::time::Duration;

#[tokio::test]
async fn the_local_launcher_runs_a_session_through_the_same_states() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("local");
    let req: CreateSession = from_json(serde_json::json!({"run_id": id, "scrape_interval": "1s"}));
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
    // The lifecycle API is on by default (the session spec asks for it).
    let reload = reqwest::Client::new()
        .post(format!("{url}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);

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
    let req: CreateSession = from_json(serde_json::json!({"run_id": id}));
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
    // Prometheus dies (the job id is its job script's pid, Prometheus that script's child).
    let script = running.job_id.unwrap();
    sh("pkill", &["-KILL", "-P", &script, "-x", "prometheus"]);
    let failed = app
        .client
        .wait_for(&id, SessionState::Failed, Duration::from_secs(30))
        .await
        .unwrap();
    let reason = failed.failure_reason.unwrap();
    assert!(reason.contains("not stopped through benchmon"), "{reason}");
    // The script exits with Prometheus's status: killed by signal 9.
    assert!(reason.contains("exit code 137"), "{reason}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_deleted_and_created_again_at_once_is_followed_again() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("again");
    let req: CreateSession = from_json(serde_json::json!({"run_id": id}));
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

#[tokio::test]
async fn a_fixed_port_already_in_use_fails_the_start_with_a_clear_reason() {
    let app = spawn_app(LauncherKind::Local).await;
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let id = unique_id("busyport");
    let req: CreateSession = from_json(serde_json::json!({"run_id": id, "prometheus_port": port}));
    app.client.create_session(&req).await.unwrap();
    app.client
        .start_session(&id, &StartSession::default())
        .await
        .unwrap();
    let err = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("last output line: benchmon: port {port} on"))
            && err.contains("is already in use"),
        "{err}"
    );
    let failed = app.client.session(&id).await.unwrap();
    assert_eq!(failed.state, SessionState::Failed);
    assert!(!failed.ready);
    assert!(failed
        .output_tail
        .unwrap_or_default()
        .contains("choose another prometheus_port or let benchmon pick one"));
    let problem = app
        .collect(&id, &from_json(serde_json::json!({"last": "1m"})))
        .await
        .problem(409);
    assert!(problem.detail.contains("never stored any data"));
    app.shutdown().await;
}

/// Losing the race for a picked port (another process binds it between the job's probe and
/// Prometheus's bind) lasts microseconds and cannot be provoked on demand, so the configured
/// "Prometheus" is a wrapper that makes it happen once: it starts a competitor listening on the
/// port it was given, then execs the real Prometheus, which really fails to bind.
#[tokio::test]
async fn a_picked_port_lost_to_another_process_is_replaced_by_a_new_one() {
    let dirs = Dirs::new();
    let wrapper_dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_dir.path().join("prometheus-losing-once");
    std::fs::write(
        &wrapper,
        r#"#!/bin/bash
set -eu
port=${*: -1}
port=${port##*:}
if mkdir "$(dirname "$0")/raced" 2>/dev/null; then
    # Detached (double fork): the competitor is nobody's child in the job.
    (python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
open(sys.argv[2], "w").write(sys.argv[1])
time.sleep(120)' "$port" "$(dirname "$0")/lost-port" &)
    until [ -s "$(dirname "$0")/lost-port" ]; do sleep 0.05; done
fi
exec prometheus "$@"
"#,
    )
    .unwrap();
    sh("chmod", &["+x", wrapper.to_str().unwrap()]);
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.prometheus.binary = wrapper.to_string_lossy().into_owned();
    let app = spawn_app_with(settings, dirs).await;

    let id = unique_id("raced");
    app.create_session(&id).await;
    let url = app.start_and_wait(&id).await;
    let lost: u16 = std::fs::read_to_string(wrapper_dir.path().join("lost-port"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !url.ends_with(&format!(":{lost}")),
        "{url} is the lost port"
    );
    query_until_present(
        &url,
        &format!(r#"up{{job="prometheus",session="{id}"}} == 1"#),
        Duration::from_secs(30),
    )
    .await;
    let out =
        std::fs::read_to_string(app.dirs.state.join(format!("sessions/{id}/job.out"))).unwrap();
    assert!(out.contains("bind: address already in use"), "{out}");
    assert!(out.contains("(attempt 2 of 5)"), "{out}");
    app.client.stop_session(&id).await.unwrap();
    sh("pkill", &["-f", &format!("{lost} .*lost-port")]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_site_can_turn_the_lifecycle_api_off() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.prometheus.enable_lifecycle = false;
    let app = spawn_app_with(settings, dirs).await;
    let id = unique_id("nolifecycle");
    app.create_session(&id).await;
    let url = app.start_and_wait(&id).await;
    let quit = reqwest::Client::new()
        .post(format!("{url}/-/quit"))
        .send()
        .await
        .unwrap();
    assert_eq!(quit.status(), 403);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state, SessionState::Running);
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_killed_job_script_leaves_no_prometheus_behind() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("scriptkill");
    app.create_session(&id).await;
    app.start_and_wait(&id).await;
    let script = app.client.session(&id).await.unwrap().job_id.unwrap();
    sh("kill", &["-KILL", &script]);
    app.client
        .wait_for(&id, SessionState::Failed, Duration::from_secs(30))
        .await
        .unwrap();
    let tsdb = app.dirs.state.join(format!("sessions/{id}/tsdb"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = processes_mentioning(&tsdb.to_string_lossy());
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.shutdown().await;
}
