//! Jobs benchmon lost track of: submitted right before a crash, their id never saved.
//!
//! A crash between `sbatch` returning and the record being saved cannot be timed from the
//! outside, so these tests recreate its aftermath instead: while benchmon is down, a running
//! session's record is put back to what it was before `start` (created, no job), exactly the
//! record a crash at that point leaves. The job itself is real and keeps running.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::{Session, SessionState};
use std::time::Duration;

async fn a_lost_job_is_adopted_on_restart(launcher: LauncherKind) {
    let app = spawn_app(launcher).await;
    let id = unique_id("lost");
    app.create_session(&id).await;
    let url = app.start_and_wait(&id).await;
    let job = app.client.session(&id).await.unwrap().job_id.unwrap();
    let dirs = app.shutdown().await;

    let record = dirs.state.join(format!("sessions/{id}/session.json"));
    let mut lost: Session = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    lost.reset_job();
    lost.state = SessionState::Created;
    lost.resources = None;
    std::fs::write(&record, serde_json::to_vec(&lost).unwrap()).unwrap();

    let app = spawn_app_with(test_settings(&dirs, launcher), dirs).await;
    let adopted = app.client.session(&id).await.unwrap();
    assert_eq!(adopted.job_id.as_deref(), Some(job.as_str()));
    assert_eq!(
        adopted.slurm_job_id.is_some(),
        launcher == LauncherKind::Slurm
    );
    let running = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(running.prometheus_url.as_deref(), Some(url.as_str()));
    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    if launcher == LauncherKind::Slurm {
        assert_eq!(squeue_state(&job), "");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_slurm_job_submitted_just_before_a_crash_is_adopted_on_restart() {
    a_lost_job_is_adopted_on_restart(LauncherKind::Slurm).await;
}

#[tokio::test]
async fn a_local_job_started_just_before_a_crash_is_adopted_on_restart() {
    a_lost_job_is_adopted_on_restart(LauncherKind::Local).await;
}

/// A job script's subshells carry its command line too; only the script itself is a job.
#[tokio::test]
async fn a_local_job_script_is_found_once_even_while_it_runs_subshells() {
    use benchmon::launcher::{Launcher, LocalLauncher};
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("prometheus-job.sh");
    // `; true` keeps bash from exec-ing sleep in place of the subshell.
    std::fs::write(&script, "(sleep 30; true) & (sleep 30; true) & wait\n").unwrap();
    let mut job = tokio::process::Command::new("bash")
        .arg(&script)
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = job.id().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while processes_mentioning(&script.to_string_lossy()).len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "subshells did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jobs = LocalLauncher::new().live_jobs().await.unwrap();
    let ours: Vec<_> = jobs.iter().filter(|j| j.runs_in(dir.path())).collect();
    assert_eq!(ours.len(), 1, "{jobs:?}");
    assert_eq!(ours[0].job_id, pid);
    sh("kill", &["-KILL", "--", &format!("-{pid}")]);
    job.wait().await.unwrap();
}

/// A crash right after the scrapers of a sharded session were submitted leaves a record that
/// is `starting` with its store ready and no scraper jobs: on restart the jobs it lost are
/// cancelled and a new set is submitted.
#[tokio::test]
async fn scraper_jobs_submitted_just_before_a_crash_are_cancelled_and_replaced_on_restart() {
    use crate::scaleout::{OwnStore, SyntheticExporters};
    let store = OwnStore::start("victoria-metrics").await;
    let exporters = SyntheticExporters::start(2).await;
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("lostscraper");
    let create = serde_json::json!({"run_id": id, "scrape_interval": "1s", "scrapers": 1,
        "store": {"remote_write_url": format!("{}/api/v1/write", store.base),
                  "query_url": store.base}});
    app.create(&from_json(create)).await.success(201);
    let client = serde_json::json!({"client_id": "c1", "node": "localhost",
        "exporters": {"node": format!("127.0.0.1:{}", exporters.ports[0])}});
    app.register_client(&id, &from_json(client))
        .await
        .success(201);
    app.start(
        &id,
        &from_json(serde_json::json!({"time_limit": "00:20:00"})),
    )
    .await
    .success(202);
    let running = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    let lost_job = running.scraper_jobs[0].job_id.clone();
    let dirs = app.shutdown().await;

    let record = dirs.state.join(format!("sessions/{id}/session.json"));
    let mut crashed: Session = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    crashed.state = SessionState::Starting;
    crashed.scraper_jobs.clear();
    crashed.running_at = None;
    std::fs::write(&record, serde_json::to_vec(&crashed).unwrap()).unwrap();

    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Slurm), dirs).await;
    let again = app
        .client
        .wait_for(&id, SessionState::Running, Duration::from_secs(60))
        .await
        .unwrap();
    let new_job = again.scraper_jobs[0].job_id.clone();
    assert_ne!(new_job, lost_job);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !squeue_state(&lost_job).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lost scraper {lost_job} still runs"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    assert_eq!(squeue_state(&new_job), "");
    app.shutdown().await;
}
