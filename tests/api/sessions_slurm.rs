//! Sessions on the real SLURM dev cluster.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::{SessionState, StartSession};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const RUNNING_WITHIN: Duration = Duration::from_secs(90);

async fn create_and_start(app: &TestApp, id: &str) -> benchmon::session::Session {
    app.create_session(id).await;
    let req = from_json(json!({"partition": "cpu", "time_limit": "00:20:00"}));
    app.start(id, &req).await.success(202);
    app.client
        .wait_for(id, SessionState::Running, RUNNING_WITHIN)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_seed_flow_runs_prometheus_as_a_slurm_job_until_stopped() {
    let app = spawn_app(LauncherKind::Slurm).await;
    // Exactly the seed's requests (fixed port 9090, prom_host localhost).
    let (status, ctype, created) = app
        .send(
            Method::POST,
            "/api/v1/sessions",
            Some(json!({"run_id": "benchmark-01", "prometheus_port": 9090, "prom_host": "localhost"})),
        )
        .await;
    assert_eq!(status, 201);
    assert!(ctype.starts_with("application/json"));
    assert_eq!(created["session_id"], "benchmark-01");
    assert_eq!(created["state"], "created");

    let (status, _, started) = app
        .send(
            Method::POST,
            "/api/v1/sessions/benchmark-01/start",
            Some(json!({"partition": "cpu", "time_limit": "02:00:00"})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["state"], "pending");
    let job = started["slurm_job_id"].as_str().unwrap().to_owned();

    let (status, _, view) = app
        .send(
            Method::GET,
            "/api/v1/sessions/benchmark-01/status?wait=running&timeout=90s",
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "running");
    assert_eq!(view["ready"], true);
    assert_eq!(view["prometheus_url"], "http://localhost:9090");
    let node = sh("squeue", &["-h", "-j", &job, "-o", "%N"])
        .trim()
        .to_owned();
    assert_eq!(view["node"], node.as_str());
    assert_eq!(squeue_state(&job), "RUNNING");

    // Prometheus scrapes itself, labelled with the session.
    let up = query_until_present(
        "http://localhost:9090",
        r#"up{job="prometheus",session="benchmark-01"} == 1"#,
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(up[0]["metric"]["run_id"], "benchmark-01");

    let (status, _, stopped) = app
        .send(Method::POST, "/api/v1/sessions/benchmark-01/stop", None)
        .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["state"], "stopped");
    assert!(stopped["stopped_at"].is_string());
    assert_eq!(
        squeue_state(&job),
        "",
        "job {job} still in squeue after stop"
    );

    // The seed's Python example, unchanged (port 9090 is free again now).
    ensure_python_requests();
    // tokio's Command: the server runs on this test's runtime and must keep answering.
    let out = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/seed_verbatim.py"
        ))
        .env("BENCHMON_API", app.url("/api/v1"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Metrics saved to: ['"), "{stdout}");
    let bundle = std::fs::canonicalize(&app.dirs.artifacts)
        .unwrap()
        .join("app/logs/metrics/benchmark-run");
    assert!(bundle.join("MANIFEST.json").is_file(), "{stdout}");
    let s = app.client.session("my-benchmark").await.unwrap();
    assert_eq!(s.state, SessionState::Stopped);
    app.shutdown().await;
}

/// The seed's example needs `requests`; install it if this machine lacks it.
fn ensure_python_requests() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        let pip = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "requests"])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install requests failed");
    }
}

#[tokio::test]
async fn a_picked_port_is_reported_back_by_the_job() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("picked");
    let s = create_and_start(&app, &id).await;
    let port = s.port.unwrap();
    // Picked below the kernel's ephemeral range (see the job script's pick_port).
    assert!(
        (10_000..benchmon::net::ephemeral_low()).contains(&port),
        "{port}"
    );
    let url = s.prometheus_url.unwrap();
    assert!(url.ends_with(&format!(":{port}")));
    until_self_scraped(&url, &id).await;
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_restarted_server_reattaches_to_its_running_jobs() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("restart");
    let before = create_and_start(&app, &id).await;
    let dirs = app.shutdown().await;

    let settings = test_settings(&dirs, LauncherKind::Slurm);
    let app = spawn_app_with(settings, dirs).await;
    let after = app.client.session(&id).await.unwrap();
    assert_eq!(after.state, SessionState::Running);
    assert_eq!(after.slurm_job_id, before.slurm_job_id);
    let job = after.slurm_job_id.clone().unwrap();
    assert_eq!(squeue_state(&job), "RUNNING");
    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    assert_eq!(squeue_state(&job), "");
    app.shutdown().await;
}

#[tokio::test]
async fn a_job_cancelled_behind_benchmons_back_fails_the_session_with_a_reason() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("scancel");
    let s = create_and_start(&app, &id).await;
    let job = s.slurm_job_id.unwrap();
    sh("scancel", &[&job]);
    let failed = app
        .client
        .wait_for(&id, SessionState::Failed, Duration::from_secs(60))
        .await
        .unwrap();
    let reason = failed.failure_reason.unwrap();
    assert!(reason.contains(&format!("job {job}")), "{reason}");
    assert!(reason.contains("CANCELLED"), "{reason}");
    // The tail quotes Prometheus's own last words.
    let tail = failed.output_tail.unwrap();
    assert!(tail.contains("SIGTERM"), "{tail}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_job_that_ended_while_benchmon_was_down_is_marked_failed_on_restart() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("vanish");
    let s = create_and_start(&app, &id).await;
    let job = s.slurm_job_id.unwrap();
    let dirs = app.shutdown().await;
    sh("scancel", &[&job]);
    for _ in 0..60 {
        if squeue_state(&job).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Slurm), dirs).await;
    let failed = app
        .client
        .wait_for(&id, SessionState::Failed, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(failed.failure_reason.unwrap().contains(&job));
    app.shutdown().await;
}

#[tokio::test]
async fn an_invalid_partition_is_refused_with_slurms_message_and_leaves_no_orphan() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("badpart");
    app.create(&from_json(json!({"run_id": id})))
        .await
        .success(201);
    let answer = app
        .start(&id, &from_json(json!({"partition": "nosuch"})))
        .await;
    assert_eq!(answer.content_type, "application/problem+json");
    let problem = answer.problem(422);
    assert_eq!(problem.field.as_deref(), Some("partition"));
    assert!(problem.detail.contains("Invalid partition name"));
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state, SessionState::Created);
    assert!(s.job_id.is_none());
    let jobs = sh(
        "squeue",
        &["-h", "-n", &format!("benchmon-{id}"), "-o", "%i"],
    );
    assert_eq!(jobs.trim(), "");
    // The session is still usable with a valid partition.
    app.start(&id, &StartSession::default()).await.success(202);
    app.client
        .wait_for(&id, SessionState::Running, RUNNING_WITHIN)
        .await
        .unwrap();
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn starting_a_running_session_is_a_conflict_and_delete_removes_its_state() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("conflict");
    let s = create_and_start(&app, &id).await;
    let job = s.slurm_job_id.unwrap();
    let problem = app.start(&id, &StartSession::default()).await.problem(409);
    assert!(problem.detail.contains("running"));

    app.delete(&id).await.success(204);
    assert_eq!(squeue_state(&job), "");
    assert!(!app.dirs.state.join("sessions").join(&id).exists());
    let problem = app.session(&id).await.problem(404);
    assert_eq!(problem.field.as_deref(), Some("session_id"));
    app.shutdown().await;
}

#[tokio::test]
async fn ready_reports_the_slurm_launcher_usable() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let (status, _, body) = app.send(Method::GET, "/ready", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["launcher"], "slurm");
    let (status, _, body) = app.send(Method::GET, "/health", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    app.shutdown().await;
}

#[tokio::test]
async fn time_spent_queued_does_not_count_against_the_startup_timeout() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site.prometheus.startup_timeout = benchmon::domain::PromDuration::parse("5s").unwrap();
    // Submitted held: it stays PENDING until released.
    settings.site.slurm.sbatch_extra = vec!["--hold".into()];
    let app = spawn_app_with(settings, dirs).await;
    let id = unique_id("held");
    app.create(&from_json(json!({"run_id": id})))
        .await
        .success(201);
    // No body at all (an empty body reads as `{}`): the typed client always sends one.
    let (status, _, started) = app
        .send(Method::POST, &format!("/api/v1/sessions/{id}/start"), None)
        .await;
    assert_eq!(status, 202, "{started}");
    let job = started["slurm_job_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state, SessionState::Pending);
    assert_eq!(s.scheduler_reason.as_deref(), Some("JobHeldUser"));
    sh("scontrol", &["release", &job]);
    let s = app
        .client
        .wait_for(&id, SessionState::Running, RUNNING_WITHIN)
        .await
        .unwrap();
    assert!(s.job_running_at.is_some());
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn the_job_is_sized_from_the_registered_targets_and_slurm_gets_that_memory() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("sized");
    app.create_session(&id).await;
    // 10 node exporters at the default 15 s: 10,000 expected series → 1 CPU and 768 MiB.
    for i in 0..10 {
        let reg = from_json(json!({
            "client_id": format!("n{i}"), "node": "localhost",
            "exporters": {"node": format!("127.0.0.1:{}", 19_500 + i)}
        }));
        app.register_client(&id, &reg).await.success(201);
    }
    let s = app.start(&id, &StartSession::default()).await.success(202);
    let sizing = s
        .sizing
        .expect("the session says what its job was sized for");
    assert_eq!((sizing.targets, sizing.expected_series), (10, 10_000));
    assert_eq!((sizing.cpus_per_task, sizing.mem_mb), (1, 768));
    let job = s.slurm_job_id.unwrap();
    let shown = sh("scontrol", &["show", "job", &job]);
    assert!(shown.contains("MinMemoryNode=768M"), "{shown}");
    assert!(shown.contains("MinCPUsNode=1"), "{shown}");
    // A target registered after the start: the view says the job was sized for fewer.
    let late = from_json(json!({
        "client_id": "late", "node": "localhost",
        "exporters": {"node": "127.0.0.1:19510"}
    }));
    app.register_client(&id, &late).await.success(201);
    let view = app.client.session(&id).await.unwrap().sizing.unwrap();
    assert_eq!(view.expected_series_now, Some(11_000));
    assert!(view.outgrown.unwrap().contains("sized for 10000"));
    app.client.stop_session(&id).await.unwrap();
    // A request's own value wins over the sizing.
    let s = app
        .start(&id, &from_json(json!({"mem_mb": 1024, "cpus_per_task": 2})))
        .await
        .success(202);
    let shown = sh("scontrol", &["show", "job", &s.slurm_job_id.unwrap()]);
    assert!(shown.contains("MinMemoryNode=1G"), "{shown}");
    assert!(shown.contains("MinCPUsNode=2"), "{shown}");
    app.client.stop_session(&id).await.unwrap();
    let problem = app
        .call::<benchmon::session::Session>(
            Method::POST,
            &format!("/api/v1/sessions/{id}/start"),
            Some(&json!({"mem_mb": 8})),
        )
        .await
        .problem(422);
    assert_eq!(problem.field.as_deref(), Some("mem_mb"));
    app.shutdown().await;
}
