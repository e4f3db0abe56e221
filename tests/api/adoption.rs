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
