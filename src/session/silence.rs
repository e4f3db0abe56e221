//! Silent scrapers: a scraper of a sharded session whose job still runs but whose samples no
//! longer reach the store (its node cut off from the network, frozen, or unable to reach the
//! store). SLURM notices a node that stopped answering only after `SlurmdTimeout` (minutes; and
//! never when only the path to the store is broken), so the poller watches the store itself:
//! the newest `up` sample of each scraper (the query the collection's catch-up wait uses).
//!
//! A scraper that has sent an `up` before and then nothing for longer than [`silence_limit`]
//! gets an open [`ScraperSilence`] naming its node and targets, and the session turns
//! `degraded`; once its newest `up` is back within the limit of the present (an agent sends
//! what it buffered, oldest first) the silence gets its `to` and the session is `running`
//! again, unless another scraper is lost or silent. An agent can stall partway through its
//! backlog (seen after a network cut): silent again before anything newer than the close
//! arrived, the same silence is open again rather than a second one starting inside it. The record keeps the
//! silences, and a collection flags the targets of every silence that overlaps its window.

use super::manager::Sessions;
use super::model::{ScraperJob, ScraperSilence, Session, SessionState};
use crate::domain::{PromDuration, Timestamp};
use crate::prometheus::PromClient;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The shortest silence noticed: remote write sends within a second when idle, but a loaded
/// node or store holds batches back for several seconds.
const MIN_SILENCE: Duration = Duration::from_secs(15);
/// Scrape intervals without an `up` before a scraper counts as silent.
const SILENT_INTERVALS: u32 = 3;
/// How often the store is asked.
const ASK_EVERY: Duration = Duration::from_secs(1);
/// How long one question may take: the poller has the main job to follow too.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a scraper may send nothing before it counts as silent: 3 scrape intervals, at least
/// 15 s.
pub fn silence_limit(scrape_interval: &PromDuration) -> Duration {
    (scrape_interval.as_duration() * SILENT_INTERVALS).max(MIN_SILENCE)
}

/// What one session's poller has heard from its scrapers. Kept by the poller task, so a
/// restarted benchmon starts over: a scraper that the store has nothing recent of but that was
/// heard before (`first_heard_at`) is taken as last heard when the poller started.
pub(super) struct Hearing {
    /// Newest `up` time (ms) per scraper job id: the store's answers, never going back.
    newest: HashMap<String, i64>,
    asked_at: Option<Instant>,
    /// When this poller started (ms).
    since_ms: i64,
}

impl Default for Hearing {
    fn default() -> Self {
        Hearing {
            newest: HashMap::new(),
            asked_at: None,
            since_ms: Timestamp::now().unix_millis(),
        }
    }
}

impl Sessions {
    /// Asks the store how recent each scraper's `up` is (at most every second) and opens or
    /// closes silences on `next`'s scrapers. Only while the session runs: a starting
    /// session's scrapers have not sent yet, a stopping one's are going.
    pub(super) async fn watch_silences(&self, hearing: &mut Hearing, next: &mut Session) {
        if !matches!(next.state, SessionState::Running | SessionState::Degraded) {
            return;
        }
        let Some(base) = next.prometheus_url.clone() else {
            return;
        };
        if hearing.asked_at.is_some_and(|t| t.elapsed() < ASK_EVERY) {
            return;
        }
        hearing.asked_at = Some(Instant::now());
        let Ok(http) = super::credentials::store_client(&next.store, &self.http) else {
            return;
        };
        let answer = PromClient::new(http, &base)
            .newest_up_by_scraper(&next.run_id, ASK_TIMEOUT)
            .await;
        // A store that does not answer says nothing about its scrapers (a lost store job
        // fails the session through the main job's poll).
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(session = %next.run_id, "cannot ask the store for the scrapers' newest up: {e}");
                return;
            }
        };
        let now = Timestamp::now();
        let limit_ms = silence_limit(&next.scrape_interval).as_millis() as i64;
        let mut jobs = std::mem::take(&mut next.scraper_jobs);
        // A job not listening yet (pending, starting) cannot have gone silent.
        for job in jobs.iter_mut().filter(|j| j.lost.is_none() && j.ready) {
            let heard = answer.get(&job.index).copied();
            if heard.is_some() && job.first_heard_at.is_none() {
                job.first_heard_at = Some(now);
            }
            let newest = match (heard, hearing.newest.get(&job.job_id).copied()) {
                (Some(h), Some(known)) => Some(h.max(known)),
                (Some(h), None) => Some(h),
                (None, Some(known)) => Some(known),
                // Heard before this poller started, nothing recent in the store now.
                (None, None) => job.first_heard_at.map(|_| hearing.since_ms),
            };
            let Some(newest) = newest else { continue };
            // The store's `up` of this shard may be its lost predecessor's.
            let newest = newest.max(job.listening_since.map_or(i64::MIN, |t| t.unix_millis()));
            hearing.newest.insert(job.job_id.clone(), newest);
            match judge(
                job.silences.last(),
                heard,
                newest,
                now.unix_millis(),
                limit_ms,
            ) {
                Verdict::Silent => {
                    let silence = self.silence(next, job, newest, now, limit_ms).await;
                    tracing::warn!(session = %next.run_id, scraper = job.index, job = %job.job_id, "{}", silence.reason);
                    job.silences.push(silence);
                    trim(job);
                }
                Verdict::SilentAgain => {
                    if let Some(last) = job.silences.last_mut() {
                        last.to = None;
                    }
                    tracing::warn!(session = %next.run_id, scraper = job.index, job = %job.job_id, "scraper silent again before it caught up: its silence goes on");
                }
                Verdict::HeardAgain => {
                    if let Some(open) = job.silences.last_mut() {
                        open.to = Some(now);
                    }
                    tracing::info!(session = %next.run_id, scraper = job.index, job = %job.job_id, "scraper heard again");
                }
                Verdict::Unchanged => {}
            }
        }
        next.scraper_jobs = jobs;
    }

    /// The record of `job`'s silence, noticed `now`, its newest `up` at `newest_ms`.
    async fn silence(
        &self,
        session: &Session,
        job: &ScraperJob,
        newest_ms: i64,
        now: Timestamp,
        limit_ms: i64,
    ) -> ScraperSilence {
        let from = Timestamp::from_unix(newest_ms as f64 / 1000.0).unwrap_or(now);
        let node = job.node.clone();
        let targets = self.shard_targets(session, job.index).await;
        let reason = format!(
            "scraper {} (job {}{}) has sent the store no `up` sample since {from} (limit {} s): \
             its {} target{} are not scraped or not stored; its node may be cut off or overloaded",
            job.index,
            job.job_id,
            node.as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default(),
            limit_ms / 1000,
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
        );
        ScraperSilence {
            from,
            noticed_at: now,
            to: None,
            node,
            targets,
            reason,
        }
    }
}

/// What one answer from the store changes in a scraper's silences.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Nothing heard for longer than the limit: a new silence from its newest `up`.
    Silent,
    /// Silent again and nothing newer heard since its last silence was closed: the agent had
    /// sent part of its backlog (within the limit of the present, so the silence closed) and
    /// stalled before it caught up. The same outage, so that silence is open again rather than
    /// a second one starting inside the first (a collection would give its targets two gaps).
    SilentAgain,
    /// Its newest `up` is newer than the open silence and within the limit of the present.
    HeardAgain,
    Unchanged,
}

/// Decides on a scraper's silences from the store's answer: `heard` its newest `up` now (ms,
/// `None`: nothing recent), `newest` the newest ever heard (never going back), `last` its
/// latest silence.
fn judge(
    last: Option<&ScraperSilence>,
    heard: Option<i64>,
    newest: i64,
    now_ms: i64,
    limit_ms: i64,
) -> Verdict {
    let open = last.filter(|s| s.to.is_none());
    match open {
        None if now_ms - newest > limit_ms => match last.and_then(|s| s.to) {
            Some(closed) if newest < closed.unix_millis() => Verdict::SilentAgain,
            _ => Verdict::Silent,
        },
        Some(open)
            if heard.is_some_and(|h| h > open.from.unix_millis() && now_ms - h <= limit_ms) =>
        {
            Verdict::HeardAgain
        }
        _ => Verdict::Unchanged,
    }
}

/// Keeps the newest [`ScraperJob::MAX_SILENCES`].
fn trim(job: &mut ScraperJob) {
    let extra = job.silences.len().saturating_sub(ScraperJob::MAX_SILENCES);
    job.silences.drain(..extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_three_intervals_and_at_least_fifteen_seconds() {
        let limit = |s: &str| silence_limit(&PromDuration::parse(s).unwrap()).as_secs();
        assert_eq!(limit("1s"), 15);
        assert_eq!(limit("5s"), 15);
        assert_eq!(limit("10s"), 30);
        assert_eq!(limit("1m"), 180);
    }

    fn silence(from_ms: i64, to_ms: Option<i64>) -> ScraperSilence {
        let at = |ms: i64| Timestamp::from_unix(ms as f64 / 1000.0).unwrap();
        ScraperSilence {
            from: at(from_ms),
            noticed_at: at(from_ms + LIMIT),
            to: to_ms.map(at),
            node: None,
            targets: vec![],
            reason: String::new(),
        }
    }

    const LIMIT: i64 = 15_000;
    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_scraper_unheard_past_the_limit_is_silent_and_within_it_is_not() {
        assert_eq!(
            judge(None, None, NOW - LIMIT - 1, NOW, LIMIT),
            Verdict::Silent
        );
        assert_eq!(
            judge(None, Some(NOW - LIMIT), NOW - LIMIT, NOW, LIMIT),
            Verdict::Unchanged
        );
        // An older silence, closed and heard from since: a new one.
        let old = silence(NOW - 100_000, Some(NOW - 60_000));
        assert_eq!(
            judge(Some(&old), None, NOW - 30_000, NOW, LIMIT),
            Verdict::Silent
        );
    }

    #[test]
    fn an_open_silence_closes_once_its_newest_up_is_newer_and_recent() {
        let open = silence(NOW - 40_000, None);
        let close = |heard| {
            judge(
                Some(&open),
                heard,
                heard.unwrap_or(NOW - 40_000),
                NOW,
                LIMIT,
            )
        };
        assert_eq!(close(Some(NOW - 2_000)), Verdict::HeardAgain);
        // Part of the backlog, still older than the limit: not yet.
        assert_eq!(close(Some(NOW - 20_000)), Verdict::Unchanged);
        assert_eq!(close(None), Verdict::Unchanged);
    }

    #[test]
    fn silent_again_before_anything_newer_than_the_close_reopens_the_same_silence() {
        // Closed at NOW - 5 s on a backlog `up` from NOW - 17 s; nothing newer since.
        let closed = silence(NOW - 30_000, Some(NOW - 5_000));
        assert_eq!(
            judge(Some(&closed), None, NOW - 17_000, NOW, LIMIT),
            Verdict::SilentAgain
        );
        // Heard past the close, then silent: a second silence.
        let closed = silence(NOW - 60_000, Some(NOW - 20_000));
        assert_eq!(
            judge(Some(&closed), None, NOW - 16_000, NOW, LIMIT),
            Verdict::Silent
        );
    }
}
