//! The job poller: one task per session with a job, asking the launcher how the job is and
//! moving the session along `pending → starting → running`, or to `stopped`/`failed`.
//!
//! Anything slow (the launcher, Prometheus's `/-/ready`) runs without the session's lock; the
//! outcome is applied under the lock only if the session still has the same job.

use super::manager::Sessions;
use super::model::{Session, SessionState};
use super::store::SessionCell;
use crate::domain::{StoreSpec, Timestamp};
use crate::fsutil;
use crate::launcher::JobStatus;
use crate::launcher::LauncherKind;
use crate::prometheus::PromClient;
use std::sync::Arc;
use tokio::time::MissedTickBehavior;

/// How much of the job's output a failure reason quotes.
const OUTPUT_TAIL_BYTES: u64 = 4096;

/// Where the job said Prometheus listens.
struct Endpoint {
    port: u16,
    node: Option<String>,
}

fn read_endpoint(cell: &SessionCell) -> Option<Endpoint> {
    let text = std::fs::read_to_string(cell.paths.endpoint_file()).ok()?;
    let mut port = None;
    let mut node = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("port", v)) => port = v.trim().parse().ok(),
            Some(("node", v)) => node = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    Some(Endpoint { port: port?, node })
}

impl Sessions {
    pub(super) async fn follow_job(&self, cell: Arc<SessionCell>) {
        let mut ticker =
            tokio::time::interval(self.settings.site.server.poll_interval.as_duration());
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failed_polls = 0u32;
        let mut hearing = super::silence::Hearing::default();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let snap = cell.snapshot();
            let remote = matches!(snap.store, StoreSpec::Remote(_));
            let job_id = snap.job_id.clone();
            if !snap.state.has_job() || (job_id.is_none() && !remote) {
                // Leave only if no `start` slipped in since the snapshot: `spawn_monitor`
                // checks the same set under the same lock, so a new job is never unfollowed.
                if self.release_monitor(&cell) {
                    return;
                }
                continue;
            }
            let Some(job_id) = job_id else {
                // A remote store: no job of benchmon's but the scrapers.
                let next = self.remote_store_record(&snap).await;
                let next = self.follow_scrapers(&cell, &snap, next, &mut hearing).await;
                if let Some(next) = next {
                    self.apply(&cell, &snap, next, None).await;
                }
                continue;
            };
            let status = match self.launcher.status(&job_id).await {
                Ok(s) => {
                    failed_polls = 0;
                    s
                }
                Err(e) => {
                    // A scheduler hiccup is not a job failure; keep asking, say so now and then.
                    failed_polls += 1;
                    if failed_polls == 1 || failed_polls % 30 == 0 {
                        tracing::warn!(session = %cell.id, job = %job_id, "cannot poll job: {e}");
                    }
                    continue;
                }
            };
            let running = matches!(status, JobStatus::Running { .. });
            let mut next = self.next_record(&cell, &snap, status).await;
            if snap.store.sharded() {
                next = self.follow_scrapers(&cell, &snap, next, &mut hearing).await;
            }
            let Some(next) = next else { continue };
            let running_job = running.then_some(job_id.as_str());
            self.apply(&cell, &snap, next, running_job).await;
        }
    }

    /// Saves `next` unless a stop or start changed the session since `snap` (then the next
    /// tick looks again). `running_job` is the main job when the scheduler has it running.
    async fn apply(
        &self,
        cell: &SessionCell,
        snap: &Session,
        next: Session,
        running_job: Option<&str>,
    ) {
        let mut guard = cell.lock().await;
        let still_same_job = guard
            .get()
            .is_some_and(|s| s.job_id == snap.job_id && s.state == snap.state);
        if !still_same_job {
            drop(guard);
            self.cancel_new_scrapers(snap, &next).await;
            return;
        }
        if let (SessionState::Failed, Some(job_id)) = (next.state, running_job) {
            // Starting timed out while the job still runs: do not leave it behind. If the
            // cancel fails, keep the session as it is and try again next tick.
            if let Err(e) = self.launcher.cancel(job_id).await {
                tracing::warn!(session = %cell.id, job = %job_id, "cannot cancel a job that did not start: {e}");
                return;
            }
        }
        if next.state != snap.state {
            tracing::info!(session = %cell.id, from = snap.state.as_str(), to = next.state.as_str(), "state change");
        }
        if let Err(e) = guard.save(next).await {
            tracing::error!(session = %cell.id, "cannot save session: {e}");
        }
    }

    /// The record after `status`, or `None` when nothing changed.
    async fn next_record(
        &self,
        cell: &SessionCell,
        snap: &Session,
        status: JobStatus,
    ) -> Option<Session> {
        let mut next = snap.clone();
        match status {
            JobStatus::Pending { state, reason } => {
                next.scheduler_state = Some(state);
                next.scheduler_reason = reason;
            }
            JobStatus::Ending { state } => {
                next.scheduler_state = Some(state);
                next.scheduler_reason = None;
                next.ready = false;
            }
            JobStatus::Running { state, node } => {
                next.scheduler_state = Some(state);
                next.scheduler_reason = None;
                if snap.state == SessionState::Pending {
                    next.state = SessionState::Starting;
                }
                if next.job_running_at.is_none() {
                    next.job_running_at = Some(Timestamp::now());
                }
                if !node.is_empty() {
                    next.node = Some(node);
                }
                if next.state == SessionState::Starting {
                    self.check_startup(cell, &mut next).await;
                }
            }
            JobStatus::Gone { state, reason } => {
                let job = snap.job_id.as_deref().unwrap_or("?");
                if snap.state == SessionState::Stopping {
                    next.state = SessionState::Stopped;
                    next.ready = false;
                    next.stopped_at = Some(Timestamp::now());
                    next.scheduler_state = state;
                } else {
                    let how = match (&state, snap.launcher) {
                        (Some(st), _) => format!("ended with state {st}"),
                        (None, LauncherKind::Slurm) => "is no longer known to SLURM".to_owned(),
                        (None, LauncherKind::Local) => "is no longer running".to_owned(),
                    };
                    let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    let tail = fsutil::tail(&cell.paths.job_output(), OUTPUT_TAIL_BYTES);
                    next.scheduler_state = state;
                    next.fail(
                        format!(
                            "job {job} {how}{why} while the session was {}; it was not stopped through benchmon",
                            snap.state.as_str()
                        ),
                        tail,
                    );
                }
            }
        }
        (next != *snap).then_some(next)
    }

    /// While starting: learn the port, probe `/-/ready`, or give up after the startup timeout.
    async fn check_startup(&self, cell: &SessionCell, next: &mut Session) {
        let endpoint = read_endpoint(cell);
        if let Some(ep) = &endpoint {
            next.port = Some(ep.port);
            if next.node.is_none() {
                next.node = ep.node.clone();
            }
        }
        if let (Some(port), Some(node)) = (next.port, next.node.clone()) {
            let host = match (&next.prom_host, next.launcher) {
                (Some(h), _) => h.authority(),
                (None, LauncherKind::Local) => "127.0.0.1".to_owned(),
                (None, LauncherKind::Slurm) => node,
            };
            let url = format!("http://{host}:{port}");
            // The job publishes the endpoint file once its own Prometheus listens; until then a
            // fixed port may still belong to someone else.
            if endpoint.is_some() && PromClient::new(self.http.clone(), &url).ready().await {
                next.ready = true;
                // A sharded session runs once its scrapers do too (`follow_scrapers`).
                if !next.store.sharded() {
                    next.state = SessionState::Running;
                    next.running_at = Some(Timestamp::now());
                }
            }
            next.prometheus_url = Some(url);
        }
        if next.state == SessionState::Starting {
            let limit = self.settings.site.prometheus.startup_timeout.as_duration();
            // Counted from when the job started running: time queued is not startup time.
            let since = next
                .job_running_at
                .or(next.started_at)
                .unwrap_or(next.created_at)
                .datetime();
            let waited = (chrono::Utc::now() - since).to_std().unwrap_or_default();
            if waited > limit {
                let tail = fsutil::tail(&cell.paths.job_output(), OUTPUT_TAIL_BYTES);
                next.fail(
                    format!(
                        "Prometheus did not become ready within {} s of the job starting",
                        limit.as_secs()
                    ),
                    tail,
                );
            }
        }
    }
}
