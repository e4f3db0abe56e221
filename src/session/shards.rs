//! The scraper jobs of a sharded session (`store: victoriametrics`, or a remote store): N
//! Prometheus agents, each keeping its hashmod share of the targets and remote-writing it.
//!
//! The poller calls [`Sessions::follow_scrapers`] on every tick after it has looked at the main
//! job. Scrapers are submitted once the store answers (their config names its URL); the session
//! is `running` once every agent listens; a scraper that ends while the session runs turns it
//! `degraded`, naming the targets it had scraped, and so does one the store stops hearing from
//! (`silence`); a failed session takes its scrapers down, and
//! a stopping one is `stopped` only once every scraper is gone too.

use super::error::SessionError;
use super::manager::Sessions;
use super::model::{LostShard, ScraperJob, Session, SessionState};
use super::silence::Hearing;
use super::store::SessionCell;
use crate::domain::{CpuCount, MemMb, StoreSpec, Timestamp};
use crate::launcher::{default_scrapers, scraper_sizing, JobResources, JobStatus};
use crate::prometheus::{Shard, StoreAuth};
use serde::Deserialize;

/// What a remote store answered benchmon's first query.
enum StoreAnswer {
    Yes,
    /// Not (yet): no answer, or an error that may pass.
    Not,
    /// It refused the credentials: the reason the session fails with.
    Refused(String),
}

/// Times a session submits one shard's job again after losing it.
pub const MAX_REPLACEMENTS: usize = 3;

impl Sessions {
    /// Asks every scraper job of `session` that may still run to end.
    pub(super) async fn cancel_scrapers(&self, session: &Session) -> Result<(), SessionError> {
        for s in session.scraper_jobs.iter().filter(|s| s.lost.is_none()) {
            self.launcher.cancel(&s.job_id).await?;
        }
        Ok(())
    }

    /// Cancels the scraper jobs of a session that its record does not list: submitted just
    /// before benchmon stopped, their ids never saved. The poller submits a new set when the
    /// session still needs one, so nothing runs that benchmon cannot stop.
    pub(super) async fn cancel_orphan_scrapers(&self) {
        let cells: Vec<_> = self.store.all().await;
        let cells: Vec<_> = cells
            .into_iter()
            .filter(|c| c.snapshot().store.sharded())
            .collect();
        if cells.is_empty() {
            return;
        }
        let live = match self.launcher.live_jobs().await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!("cannot look for scraper jobs benchmon lost track of: {e}");
                return;
            }
        };
        for cell in cells {
            let root = cell.paths.dir.join("scrapers");
            let resolved = root.canonicalize().unwrap_or_else(|_| root.clone());
            let known = cell.snapshot().scraper_jobs;
            for job in live.iter().filter(|j| {
                (j.session_dir.starts_with(&root) || j.session_dir.starts_with(&resolved))
                    && !known.iter().any(|k| k.job_id == j.job_id)
            }) {
                tracing::warn!(session = %cell.id, job = %job.job_id, "cancelling a scraper job benchmon lost track of");
                if let Err(e) = self.launcher.cancel(&job.job_id).await {
                    tracing::warn!(session = %cell.id, job = %job.job_id, "cannot cancel it: {e}");
                }
            }
        }
    }

    /// Cancels scraper jobs `next` has and `snap` had not: submitted by a poll whose outcome
    /// lost a race with stop or start, they would otherwise run unfollowed.
    pub(super) async fn cancel_new_scrapers(&self, snap: &Session, next: &Session) {
        for s in &next.scraper_jobs {
            if !snap.scraper_jobs.iter().any(|o| o.job_id == s.job_id) {
                let _ = self.launcher.cancel(&s.job_id).await;
            }
        }
    }

    /// The record after looking at the scrapers; `next` is what the main job's poll made of
    /// `snap` (`None`: nothing changed).
    pub(super) async fn follow_scrapers(
        &self,
        cell: &SessionCell,
        snap: &Session,
        next: Option<Session>,
        hearing: &mut Hearing,
    ) -> Option<Session> {
        let mut next = next.unwrap_or_else(|| snap.clone());
        if next.state == SessionState::Failed {
            // The store is gone (or never became ready): its scrapers have nowhere to write.
            if let Err(e) = self.cancel_scrapers(&next).await {
                tracing::warn!(session = %cell.id, "cannot cancel the scrapers of a failed session: {e}");
            }
            return (next != *snap).then_some(next);
        }
        let store_up = next.ready && next.state == SessionState::Starting;
        if store_up && next.scraper_jobs.is_empty() {
            if let Err(e) = self.submit_scrapers(cell, &mut next).await {
                self.cancel_new_scrapers(snap, &next).await;
                next.scraper_jobs.clear();
                next.fail(format!("cannot submit the scraper jobs: {e}"), None);
                return Some(next);
            }
        }
        self.poll_scrapers(cell, &mut next).await;
        let submitted = !next.scraper_jobs.is_empty();
        let running = matches!(
            next.state,
            SessionState::Starting | SessionState::Running | SessionState::Degraded
        );
        if submitted && running {
            self.replace_lost_scrapers(cell, &mut next).await;
        }
        // The jobs that scrape their shards now: every one but the lost ones replaced.
        let all_listen = next
            .scraper_jobs
            .iter()
            .filter(|s| !s.replaced())
            .all(|s| s.ready && s.lost.is_none());
        if store_up && !next.scraper_jobs.is_empty() && all_listen {
            next.state = SessionState::Running;
            next.running_at = Some(Timestamp::now());
        }
        self.watch_silences(hearing, &mut next).await;
        // Degraded while a scraper is lost (until its replacement listens) or silent; running
        // again once none is.
        let replacements: Vec<&str> = next
            .scraper_jobs
            .iter()
            .filter_map(|s| s.lost.as_ref()?.replaced_by.as_deref())
            .collect();
        let degraded = next.scraper_jobs.iter().filter(|s| !s.replaced()).any(|s| {
            s.lost.is_some()
                || s.open_silence().is_some()
                || (!s.ready && replacements.contains(&s.job_id.as_str()))
        });
        match next.state {
            SessionState::Starting | SessionState::Running if degraded => {
                next.state = SessionState::Degraded;
            }
            SessionState::Degraded if !degraded => next.state = SessionState::Running,
            _ => {}
        }
        (next != *snap).then_some(next)
    }

    /// Renders and submits one scraper job per shard, writing to the store at
    /// `next.prometheus_url`.
    async fn submit_scrapers(
        &self,
        cell: &SessionCell,
        next: &mut Session,
    ) -> Result<(), SessionError> {
        let count = self.scraper_count(next);
        for index in 0..count {
            let Some(job) = self.submit_scraper(cell, next, index, count).await? else {
                return Ok(());
            };
            next.scraper_jobs.push(job);
        }
        Ok(())
    }

    /// Renders and submits the job of shard `index` of `count` (`None`: the store has no
    /// address yet).
    async fn submit_scraper(
        &self,
        cell: &SessionCell,
        session: &Session,
        index: u16,
        count: u16,
    ) -> Result<Option<ScraperJob>, SessionError> {
        let remote_write_url = match (&session.store, &session.prometheus_url) {
            (StoreSpec::Remote(r), _) => r.remote_write_url.to_string(),
            (_, Some(store)) => crate::prometheus::remote_write::endpoint(store),
            (_, None) => return Ok(None),
        };
        let shard = Shard {
            index,
            count,
            remote_write_url,
            auth: match &session.store {
                StoreSpec::Remote(r) => StoreAuth::of(r),
                _ => StoreAuth::default(),
            },
        };
        // Placed on its node when the session names nodes; else where the store job may run.
        let requested_node = session
            .scraper_nodes
            .as_ref()
            .map(|nodes| nodes.for_scraper(index).clone());
        let mut resources = scraper_resources(session, count);
        if let Some(node) = &requested_node {
            resources.0.nodelist = Some(node.as_nodelist());
        }
        let job = self
            .write_scraper_job(cell, session, &resources, &shard)
            .await?;
        let job_id = self.launcher.submit(&job).await?;
        tracing::info!(session = %cell.id, scraper = index, job = %job_id, "scraper submitted");
        Ok(Some(ScraperJob {
            index,
            job_id,
            scheduler_state: None,
            node: None,
            requested_node,
            port: None,
            ready: false,
            lost: None,
            first_heard_at: None,
            listening_since: None,
            silences: Vec::new(),
        }))
    }

    /// Submits the shard of every scraper job lost while the session runs again (its targets,
    /// its placement, the same `scraper` label, so its series go on), at most
    /// [`MAX_REPLACEMENTS`] times per shard: a node that fails an hour into a benchmark then
    /// costs its targets the minute a new agent takes to start, not the rest of the run. The
    /// lost job stays in the record, naming its replacement.
    async fn replace_lost_scrapers(&self, cell: &SessionCell, next: &mut Session) {
        let count = next
            .scraper_jobs
            .iter()
            .map(|j| j.index + 1)
            .max()
            .unwrap_or(0);
        for at in 0..next.scraper_jobs.len() {
            let job = &next.scraper_jobs[at];
            let Some(lost) = job.lost.as_ref() else {
                continue;
            };
            if lost.replaced_by.is_some() || lost.not_replaced.is_some() {
                continue;
            }
            let index = job.index;
            let replaced = next
                .scraper_jobs
                .iter()
                .filter(|j| j.index == index && j.replaced())
                .count();
            let outcome = if job.scheduler_state.as_deref() == Some("TIMEOUT") {
                // Its time limit is the session's: the session's time is up too.
                Err("it reached its time limit, which is the session's".to_owned())
            } else if replaced >= MAX_REPLACEMENTS {
                Err(format!(
                    "shard {index} was replaced {replaced} times already (a session replaces a \
                     shard at most {MAX_REPLACEMENTS} times): its node or its targets may be at fault"
                ))
            } else {
                set_aside_data(cell, index, &job.job_id).await;
                match self.submit_scraper(cell, next, index, count).await {
                    Ok(Some(new)) => Ok(new),
                    Ok(None) => Err("the store has no address".to_owned()),
                    Err(e) => Err(format!("cannot submit a replacement: {e}")),
                }
            };
            let lost_job = next.scraper_jobs[at].job_id.clone();
            let (replaced_by, not_replaced) = match outcome {
                Ok(new) => {
                    tracing::warn!(session = %cell.id, scraper = index, lost = %lost_job, job = %new.job_id, "lost scraper replaced");
                    let id = new.job_id.clone();
                    next.scraper_jobs.push(new);
                    (Some(id), None)
                }
                Err(why) => {
                    tracing::warn!(session = %cell.id, scraper = index, lost = %lost_job, "lost scraper not replaced: {why}");
                    (None, Some(why))
                }
            };
            if let Some(lost) = next.scraper_jobs[at].lost.as_mut() {
                lost.replaced_by = replaced_by;
                lost.not_replaced = not_replaced;
            }
        }
    }

    /// The record of a session on a remote store after a poll: `starting` until the store
    /// answers a query (then `follow_scrapers` submits the scrapers), `stopped` once stopping
    /// (the scrapers keep it `stopping` while any runs); `None` when nothing changed.
    pub(super) async fn remote_store_record(&self, snap: &Session) -> Option<Session> {
        let StoreSpec::Remote(remote) = &snap.store else {
            return None;
        };
        let mut next = snap.clone();
        match snap.state {
            SessionState::Pending | SessionState::Starting => {
                next.state = SessionState::Starting;
                let url = remote.query_url.as_str().trim_end_matches('/').to_owned();
                // Known as the session's store (and collected from) only once it answered.
                if !next.ready {
                    match self.store_answers(&snap.store, &url).await {
                        StoreAnswer::Yes => {
                            next.ready = true;
                            next.prometheus_url = Some(url);
                        }
                        StoreAnswer::Not => {}
                        // Waiting would not change the answer: fail now, saying why.
                        StoreAnswer::Refused(why) => next.fail(why, None),
                    }
                }
                let limit = self.settings.site.prometheus.startup_timeout.as_duration();
                let since = next.started_at.unwrap_or(next.created_at).datetime();
                let waited = (chrono::Utc::now() - since).to_std().unwrap_or_default();
                if waited > limit {
                    next.fail(
                        format!(
                            "the store and its scrapers were not ready within {} s of the start",
                            limit.as_secs()
                        ),
                        None,
                    );
                }
            }
            SessionState::Stopping => {
                next.state = SessionState::Stopped;
                next.ready = false;
                next.stopped_at = Some(Timestamp::now());
            }
            _ => {}
        }
        (next != *snap).then_some(next)
    }

    /// Whether a store's Prometheus-compatible API answers a query, with the session's
    /// credentials.
    async fn store_answers(&self, store: &StoreSpec, base: &str) -> StoreAnswer {
        let http = match super::credentials::store_client(store, &self.http) {
            Ok(http) => http,
            Err(e) => return StoreAnswer::Refused(format!("the store's credentials: {e}")),
        };
        let answer = http
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", "vector(1)")])
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => StoreAnswer::Yes,
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => StoreAnswer::Refused(format!(
                "the store at {base} refused benchmon's query with HTTP {}: check the session's \
                 store.basic_auth, store.bearer_token_file or store.headers",
                r.status()
            )),
            _ => StoreAnswer::Not,
        }
    }

    /// Scrapers asked for at create, else one per CPU of agent work its sizing found.
    fn scraper_count(&self, session: &Session) -> u16 {
        session.scrapers.map_or_else(
            || session.sizing.as_ref().map_or(1, default_scrapers),
            |n| n.get(),
        )
    }

    /// Updates every scraper from the scheduler and its endpoint file; marks the ones that
    /// ended while the session ran as lost. Scrapers of a stopping session that still run are
    /// asked again to end, and keep it `stopping`.
    async fn poll_scrapers(&self, cell: &SessionCell, next: &mut Session) {
        let stopping = matches!(next.state, SessionState::Stopping | SessionState::Stopped);
        let mut alive = false;
        let mut jobs = std::mem::take(&mut next.scraper_jobs);
        for s in jobs.iter_mut().filter(|s| s.lost.is_none()) {
            let Ok(status) = self.launcher.status(&s.job_id).await else {
                alive = true; // a scheduler hiccup: ask again next tick
                continue;
            };
            let live = !matches!(status, JobStatus::Gone { .. });
            match status {
                JobStatus::Pending { state, .. } | JobStatus::Ending { state } => {
                    s.scheduler_state = Some(state);
                }
                JobStatus::Running { state, node } => {
                    s.scheduler_state = Some(state);
                    if !node.is_empty() {
                        s.node = Some(node);
                    }
                    let endpoint = cell.paths.scraper_job(s.index).endpoint_file();
                    s.port = read_port(&endpoint).or(s.port);
                    s.ready = s.port.is_some();
                    if s.ready && s.listening_since.is_none() {
                        s.listening_since = Some(Timestamp::now());
                    }
                }
                JobStatus::Gone { state, reason } => {
                    s.scheduler_state = state.clone();
                    s.ready = false;
                    if !stopping {
                        let how = state.unwrap_or_else(|| "gone".to_owned());
                        let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                        s.lost = Some(LostShard {
                            at: Timestamp::now(),
                            reason: format!(
                                "scraper job {} ended: {how}{why}; it was not stopped through benchmon",
                                s.job_id
                            ),
                            targets: self.shard_targets(next, s.index).await,
                            replaced_by: None,
                            not_replaced: None,
                        });
                        tracing::warn!(session = %cell.id, scraper = s.index, job = %s.job_id, "scraper lost");
                    }
                }
            }
            if stopping && live {
                let _ = self.launcher.cancel(&s.job_id).await;
            }
            alive |= live;
        }
        next.scraper_jobs = jobs;
        if next.state == SessionState::Stopped && alive {
            // The store is gone, a scraper is not: not stopped until it is.
            next.state = SessionState::Stopping;
            next.stopped_at = None;
        }
    }

    /// The `instance` of every target shard `index` scraped, from the `up` series it wrote to
    /// the store (sorted; empty when the store cannot say).
    pub(super) async fn shard_targets(&self, session: &Session, index: u16) -> Vec<String> {
        let Some(base) = session.prometheus_url.as_deref() else {
            return Vec::new();
        };
        let selector = format!(
            "up{{session={},scraper=\"{index}\"}}",
            crate::domain::yaml_quote(session.session_id.as_str())
        );
        let start = session
            .started_at
            .map(|t| t.unix_millis() / 1000)
            .unwrap_or_default();
        let url = format!("{}/api/v1/series", base.trim_end_matches('/'));
        let Ok(http) = super::credentials::store_client(&session.store, &self.http) else {
            return Vec::new();
        };
        let answer = http
            .get(&url)
            .query(&[("match[]", selector), ("start", start.to_string())])
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        #[derive(Deserialize)]
        struct Series {
            data: Vec<std::collections::BTreeMap<String, String>>,
        }
        let series = match answer {
            Ok(r) => r.json::<Series>().await.ok(),
            Err(_) => None,
        };
        let mut targets: Vec<String> = series
            .map(|s| s.data)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut l| l.remove("instance"))
            .collect();
        targets.sort();
        targets.dedup();
        targets
    }
}

/// The store's job resources, with CPUs and memory for one scraper's share of the series.
fn scraper_resources(session: &Session, count: u16) -> JobResources {
    let mut options = session.resources.clone().unwrap_or_default().0;
    if let Some(sizing) = &session.sizing {
        let share = scraper_sizing(sizing, count);
        options.cpus_per_task = CpuCount::new(share.cpus_per_task.into()).ok();
        options.mem_mb = MemMb::new(share.mem_mb.into()).ok();
    }
    JobResources(options)
}

/// Moves a lost scraper's write-ahead log out of its replacement's way (to `wal.<job id>`): a
/// job SLURM gave up on with its node may still run there, cut off, holding the directory's
/// lock, and the replacement's agent would then refuse to start.
async fn set_aside_data(cell: &SessionCell, index: u16, lost_job: &str) {
    let data = cell.paths.scraper_job(index).data;
    // A launcher's job id (SLURM's are digits), kept to what a file name may hold.
    let id: String = lost_job
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    let aside = data.with_file_name(format!("wal.{id}"));
    match tokio::fs::rename(&data, &aside).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(session = %cell.id, scraper = index, "cannot move {} aside: {e}", data.display());
        }
    }
}

/// The port a job's endpoint file names, once it has one.
fn read_port(path: &std::path::Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("port="))
        .and_then(|p| p.trim().parse().ok())
}
