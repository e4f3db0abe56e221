//! Jobs benchmon lost track of: submitted right before a crash, their id never saved.
//!
//! A crash between `sbatch` returning and the record being saved cannot be timed from the
//! outside, so these tests recreate its aftermath instead: while benchmon is down, a running
//! session's record is put back to what it was before `start` (created, no job), exactly the
//! record a crash at that point leaves. The job itself is real and keeps running.

use crate::helpers::*;
use benchmon::config::LauncherKind;
use benchmon::session::{Session, SessionState};
use std::time::Duration;

async fn a_lost_job_is_adopted_on_restart(launcher: LauncherKind) {
    let app = spawn_app(launcher).await;
    let id = unique_id("lost");
    create_session(&app, &id).await;
    let url = start_and_wait(&app, &id).await;
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
