//! Waiting for a session to reach a state: the long-poll behind `?wait=running`, and what a
//! collection sent during `pending`/`starting` waits on. Follows the cell's watch channel, so
//! no polling; gives up as soon as the wanted state is out of reach.

use super::error::SessionError;
use super::manager::Sessions;
use super::model::{Session, SessionState};
use super::store::SessionCell;
use std::time::Duration;

impl Sessions {
    /// Waits until the session is in `wanted`; fails fast once it can no longer get there.
    pub async fn wait_for(
        &self,
        cell: &SessionCell,
        wanted: SessionState,
        timeout: Duration,
    ) -> Result<Session, SessionError> {
        let mut rx = cell.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = rx.borrow_and_update().clone();
            if current.state == wanted {
                return Ok(current);
            }
            if !may_still_reach(&current, wanted) {
                return Err(SessionError::Unreachable {
                    id: cell.id.clone(),
                    wanted: wanted.as_str(),
                    state: current.state.as_str(),
                    last_output: current.output_tail.as_deref().and_then(last_line),
                    reason: current.failure_reason,
                });
            }
            let changed = tokio::select! {
                // Pollers stop on shutdown, so nothing would change any more.
                _ = self.shutdown.cancelled() => return Err(SessionError::ShuttingDown),
                r = tokio::time::timeout_at(deadline, rx.changed()) => r,
            };
            match changed {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => {
                    return Err(SessionError::WaitTimeout {
                        id: cell.id.clone(),
                        wanted: wanted.as_str(),
                        state: cell.snapshot().state.as_str(),
                        waited_secs: timeout.as_secs(),
                    })
                }
            }
        }
    }
}

/// Whether `session` can still get to `wanted` without a new `start`: a `degraded` one gets
/// back to `running` when its silent scrapers are heard again and its lost ones' replacements
/// listen, not when a lost one will not be replaced.
fn may_still_reach(session: &Session, wanted: SessionState) -> bool {
    let stuck = session
        .scraper_jobs
        .iter()
        .any(|j| j.lost.as_ref().is_some_and(|l| l.not_replaced.is_some()));
    match (session.state, wanted) {
        (SessionState::Degraded, SessionState::Running) => !stuck,
        (current, wanted) => state_may_reach(current, wanted),
    }
}

/// Whether a session in `current` can still get to `wanted` along the lifecycle.
fn state_may_reach(current: SessionState, wanted: SessionState) -> bool {
    use SessionState::*;
    let rank = |s: SessionState| match s {
        Created => 0,
        Pending => 1,
        Starting => 2,
        Running => 3,
        Degraded => 4,
        Stopping => 5,
        Stopped | Failed => 6,
    };
    match wanted {
        _ if current.is_terminal() => false,
        Failed => true,
        Created => false,
        _ => rank(current) < rank(wanted),
    }
}

/// The last non-blank line of a job's output, trimmed.
fn last_line(output: &str) -> Option<String> {
    output
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    #[test]
    fn waiting_for_running_gives_up_once_the_session_ended() {
        assert!(state_may_reach(Pending, Running));
        assert!(state_may_reach(Created, Running));
        assert!(!state_may_reach(Failed, Running));
        assert!(!state_may_reach(Stopping, Running));
        assert!(state_may_reach(Stopping, Stopped));
        assert!(state_may_reach(Running, Failed));
    }

    /// A degraded sharded session whose scraper 0 was lost (`not_replaced`: why it will not be).
    fn degraded_with_a_lost_scraper(not_replaced: Option<&str>) -> Session {
        serde_json::from_value(serde_json::json!({
            "session_id": "b1", "run_id": "b1", "state": "degraded",
            "prometheus_port": null, "prom_host": null, "scrape_interval": "1s", "retention": null,
            "labels": {}, "scrape_benchmon": false, "launcher": "slurm", "resources": null,
            "job_id": "6", "slurm_job_id": "6", "scheduler_state": "RUNNING",
            "scheduler_reason": null, "node": null, "port": null, "prometheus_url": null,
            "ready": true, "created_at": "2025-11-04T10:00:00Z", "started_at": null,
            "running_at": null, "stopped_at": null, "failure_reason": null, "output_tail": null,
            "scraper_jobs": [{"index": 0, "job_id": "7", "ready": false,
                "lost": {"at": "2025-11-04T10:01:00Z", "reason": "ended", "targets": [],
                    "not_replaced": not_replaced}}]
        }))
        .unwrap()
    }

    #[test]
    fn a_degraded_session_may_run_again_unless_a_lost_scraper_will_not_be_replaced() {
        assert!(may_still_reach(
            &degraded_with_a_lost_scraper(None),
            Running
        ));
        let stuck = degraded_with_a_lost_scraper(Some("replaced 3 times already"));
        assert!(!may_still_reach(&stuck, Running));
        assert!(may_still_reach(&stuck, Stopped));
    }
}
