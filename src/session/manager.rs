//! The session service: create, start, stop, delete (waiting is in `wait.rs`, windows in
//! `windows.rs`). Handlers call these; nothing here knows about HTTP.

use super::error::SessionError;
use super::model::{Session, SessionState};
use super::requests::{CreateSession, StartSession};
use super::store::{SessionCell, SessionStore, StoreError};
use crate::config::Settings;
use crate::domain::{PromDuration, RunId, StoreSpec, Timestamp};
use crate::launcher::LauncherKind;
use crate::launcher::{
    apply_sizing, size_job_with, ExpectedTargets, JobCosts, JobResources, LaunchError, Launcher,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The session service.
pub struct Sessions {
    pub store: SessionStore,
    pub launcher: Arc<dyn Launcher>,
    pub settings: Arc<Settings>,
    pub http: reqwest::Client,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    /// Cells with a poller, by identity: a deleted and re-created session is a new cell.
    monitored: Mutex<HashSet<usize>>,
}

impl Sessions {
    /// Loads every session from the state dir and re-attaches to the jobs of active ones.
    pub async fn open(
        settings: Arc<Settings>,
        launcher: Arc<dyn Launcher>,
        http: reqwest::Client,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let (store, problems) = SessionStore::open(&settings.state_dir).await?;
        for p in problems {
            tracing::warn!("skipping unreadable session record: {p}");
        }
        let sessions = Arc::new(Sessions {
            store,
            launcher,
            settings,
            http,
            tracker,
            shutdown,
            monitored: Mutex::new(HashSet::new()),
        });
        for cell in sessions.store.all().await {
            if cell.snapshot().state.has_job() {
                tracing::info!(session = %cell.id, "re-attaching to job");
                sessions.spawn_monitor(cell);
            }
        }
        sessions.adopt_lost_jobs().await;
        sessions.cancel_orphan_scrapers().await;
        Ok(sessions)
    }

    /// Finds jobs submitted just before benchmon stopped (crashed between `sbatch` and saving
    /// the record, so the record never learned the job id) by the session directory they run
    /// in, and follows them like any started job: nothing runs that benchmon cannot stop.
    async fn adopt_lost_jobs(self: &Arc<Self>) {
        let idle: Vec<_> = self
            .store
            .all()
            .await
            .into_iter()
            .filter(|c| c.snapshot().state.can_start())
            .collect();
        if idle.is_empty() {
            return;
        }
        let live = match self.launcher.live_jobs().await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!("cannot look for jobs benchmon lost track of: {e}");
                return;
            }
        };
        for cell in idle {
            let jobs: Vec<_> = live.iter().filter(|j| j.runs_in(&cell.paths.dir)).collect();
            let [job] = jobs[..] else {
                if jobs.len() > 1 {
                    tracing::warn!(session = %cell.id, "several live jobs run in the session directory; adopting none");
                }
                continue;
            };
            let mut guard = cell.lock().await;
            let Some(current) = guard.get().filter(|s| s.state.can_start()).cloned() else {
                continue;
            };
            // What was asked of the scheduler was lost with the request: left unknown.
            let next = self.submitted(current, Some(&job.job_id), None);
            if let Err(e) = guard.save(next).await {
                tracing::error!(session = %cell.id, job = %job.job_id, "cannot save the adopted job: {e}");
                continue;
            }
            drop(guard);
            tracing::warn!(session = %cell.id, job = %job.job_id, "adopting a job submitted before benchmon lost track of it");
            self.spawn_monitor(cell);
        }
    }

    /// The record of a session whose job `job_id` was just submitted.
    fn submitted(
        &self,
        current: Session,
        job_id: Option<&str>,
        resources: Option<JobResources>,
    ) -> Session {
        let mut next = current;
        next.reset_job();
        next.state = SessionState::Pending;
        next.resources = resources;
        next.slurm_job_id = job_id
            .filter(|_| self.launcher.kind() == LauncherKind::Slurm)
            .map(str::to_owned);
        next.job_id = job_id.map(str::to_owned);
        next.port = next.prometheus_port.map(|p| p.get());
        next.started_at = Some(Timestamp::now());
        next
    }

    pub async fn create(&self, req: CreateSession) -> Result<Session, SessionError> {
        let store = req
            .store
            .unwrap_or_else(|| self.settings.site.topology.store.clone());
        if let StoreSpec::Remote(remote) = &store {
            super::credentials::check(remote)?;
        }
        let req_scraper_nodes = req.scraper_nodes.is_some();
        if req.scrapers.is_some() && !store.sharded() {
            return Err(SessionError::Invalid {
                field: "scrapers",
                message: "scrapers needs a sharded store: \"victoriametrics\" or \
                          {\"remote_write_url\", \"query_url\"}"
                    .into(),
            });
        }
        let scraper_nodes = req
            .scraper_nodes
            .or_else(|| self.settings.site.topology.scraper_nodes.clone());
        if req_scraper_nodes && !store.sharded() {
            return Err(SessionError::Invalid {
                field: "scraper_nodes",
                message: "scraper_nodes needs a sharded store: \"victoriametrics\" or \
                          {\"remote_write_url\", \"query_url\"}"
                    .into(),
            });
        }
        let session = Session {
            session_id: req.run_id.clone(),
            run_id: req.run_id,
            state: SessionState::Created,
            prometheus_port: req.prometheus_port,
            prom_host: req.prom_host,
            scrape_interval: req
                .scrape_interval
                .unwrap_or_else(|| PromDuration::from_secs(15)),
            retention: req.retention,
            labels: req.labels,
            scrape_benchmon: req.scrape_benchmon,
            scrapers: req
                .scrapers
                .or(self.settings.site.topology.scrapers)
                .filter(|_| store.sharded()),
            scraper_nodes: scraper_nodes.filter(|_| store.sharded()),
            store,
            scraper_jobs: Vec::new(),
            launcher: self.launcher.kind(),
            resources: None,
            job_id: None,
            slurm_job_id: None,
            scheduler_state: None,
            scheduler_reason: None,
            node: None,
            port: None,
            prometheus_url: None,
            ready: false,
            created_at: Timestamp::now(),
            started_at: None,
            job_running_at: None,
            running_at: None,
            stopped_at: None,
            failure_reason: None,
            output_tail: None,
            sizing: None,
        };
        match self.store.create(session.clone()).await {
            Ok(_) => Ok(session),
            Err(StoreError::Exists(id)) => Err(SessionError::Exists(id)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn cell(&self, id: &RunId) -> Result<Arc<SessionCell>, SessionError> {
        self.store
            .get(id)
            .await
            .ok_or_else(|| SessionError::NotFound(id.clone()))
    }

    /// The cell of a session that is to be changed: a session deleted since this process
    /// started is a conflict (409), not unknown (404).
    pub async fn cell_to_change(&self, id: &RunId) -> Result<Arc<SessionCell>, SessionError> {
        match self.store.get(id).await {
            Some(c) => Ok(c),
            None if self.store.was_deleted(id) => Err(SessionError::Conflict {
                id: id.clone(),
                state: "deleted",
                action: "change",
            }),
            None => Err(SessionError::NotFound(id.clone())),
        }
    }

    pub async fn get(&self, id: &RunId) -> Result<Session, SessionError> {
        Ok(self.cell(id).await?.snapshot())
    }

    pub async fn list(&self, state: Option<SessionState>) -> Vec<Session> {
        self.store
            .all()
            .await
            .iter()
            .map(|c| c.snapshot())
            .filter(|s| state.is_none_or(|st| s.state == st))
            .collect()
    }

    /// Renders the config and job script, submits the job, and starts following it.
    /// A refused submission leaves the session exactly as it was.
    pub async fn start(
        self: &Arc<Self>,
        id: &RunId,
        req: StartSession,
        targets: &ExpectedTargets,
    ) -> Result<Session, SessionError> {
        let cell = self.cell(id).await?;
        // A collection may have the TSDB open right now; the new job's Prometheus needs it.
        let tsdb = cell.tsdb.lock().await;
        let mut guard = cell.lock().await;
        let current = guard.require(id)?.clone();
        if !current.state.can_start() {
            return Err(SessionError::Conflict {
                id: id.clone(),
                state: current.state.as_str(),
                action: "start",
            });
        }
        // The main job is the session's Prometheus, or a sharded session's store.
        let costs = match &current.store {
            StoreSpec::VictoriaMetrics => JobCosts::VICTORIAMETRICS,
            _ => JobCosts::PROMETHEUS,
        };
        let sizing = size_job_with(targets, current.scrape_interval.as_secs_f64(), costs);
        let resources = JobResources(apply_sizing(
            req.or(&self.settings.site.slurm.options),
            &sizing,
        ));
        // A remote store has no job of benchmon's: its scrapers are submitted by the poller
        // once the store answers, as a `victoriametrics` session's are once its job does.
        let job_id = match &current.store {
            StoreSpec::Remote(_) => None,
            _ => {
                self.write_main_job(&cell, &current, &resources).await?;
                let submitted = self.launcher.submit(&cell.paths.main_job()).await;
                Some(submitted.map_err(|e| match e {
                    LaunchError::Refused { field, message } => {
                        SessionError::Refused { field, message }
                    }
                    other => SessionError::Launch(other),
                })?)
            }
        };
        let mut next = self.submitted(current, job_id.as_deref(), Some(resources));
        next.sizing = Some(sizing);
        if let Err(e) = guard.save(next.clone()).await {
            // Without a record the job would be an orphan nobody follows: take it back.
            if let Some(job_id) = &job_id {
                let _ = self.launcher.cancel(job_id).await;
            }
            return Err(SessionError::io(&cell.paths.record(), e));
        }
        drop(guard);
        drop(tsdb);
        tracing::info!(session = %id, job = ?job_id, "started");
        self.spawn_monitor(cell);
        Ok(next)
    }

    /// Where collection bundles may go.
    pub fn out_dir_policy(&self) -> crate::artifacts::OutDirPolicy {
        let c = &self.settings.site.collect;
        crate::artifacts::OutDirPolicy {
            artifacts_root: self.settings.artifacts_dir.clone(),
            allowed_roots: c.allowed_roots.clone(),
            reroot_absolute: c.reroot_absolute,
        }
    }

    /// Site facts the Prometheus config needs besides the session.
    pub fn render_context(&self) -> crate::prometheus::RenderContext {
        crate::prometheus::RenderContext {
            sd_refresh_interval: self.settings.site.prometheus.sd_refresh_interval.clone(),
            benchmon_url: self.settings.advertised_url(),
            rule_packs: self
                .settings
                .site
                .prometheus
                .rule_packs
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// Cancels the job and waits until the scheduler has it gone; returns the final record.
    pub async fn stop(self: &Arc<Self>, id: &RunId) -> Result<Session, SessionError> {
        let cell = self.cell(id).await?;
        {
            let mut guard = cell.lock().await;
            let current = guard.require(id)?.clone();
            match current.state {
                SessionState::Created | SessionState::Stopped | SessionState::Failed => {
                    return Ok(current)
                }
                SessionState::Stopping => {}
                SessionState::Pending
                | SessionState::Starting
                | SessionState::Running
                | SessionState::Degraded => {
                    if let Some(job) = &current.job_id {
                        self.launcher.cancel(job).await?;
                    }
                    self.cancel_scrapers(&current).await?;
                    let mut next = current;
                    next.state = SessionState::Stopping;
                    next.ready = false;
                    guard
                        .save(next)
                        .await
                        .map_err(|e| SessionError::io(&cell.paths.record(), e))?;
                }
            }
        }
        self.spawn_monitor(cell.clone());
        let timeout = self.settings.site.server.stop_timeout.as_duration();
        self.wait_for(&cell, SessionState::Stopped, timeout).await
    }

    /// Stops the session if needed and removes its state directory. Artifacts stay.
    pub async fn delete(self: &Arc<Self>, id: &RunId) -> Result<(), SessionError> {
        let cell = self.cell(id).await?;
        if cell.snapshot().state.has_job() {
            match self.stop(id).await {
                Ok(_) | Err(SessionError::Unreachable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // A collection reading the TSDB finishes before the directory goes.
        let _tsdb = cell.tsdb.lock().await;
        let mut guard = cell.lock().await;
        if guard.get().is_none() {
            return Err(SessionError::NotFound(id.clone()));
        }
        if let Some(s) = guard.get().filter(|s| s.state.has_job()) {
            return Err(SessionError::Conflict {
                id: id.clone(),
                state: s.state.as_str(),
                action: "delete",
            });
        }
        // Only once the directory is gone is the record dropped: a failed removal leaves the
        // session exactly as it was.
        self.store.remove(&cell).await?;
        guard.mark_deleted();
        Ok(())
    }

    /// Starts the job poller for `cell` unless one is already following it.
    pub fn spawn_monitor(self: &Arc<Self>, cell: Arc<SessionCell>) {
        let Ok(mut set) = self.monitored.lock() else {
            return;
        };
        if !set.insert(cell_key(&cell)) {
            return;
        }
        let this = self.clone();
        // The poller releases its entry itself (see `release_monitor`), or returns on shutdown.
        self.tracker
            .spawn(async move { this.follow_job(cell).await });
    }

    /// Gives up following `cell` unless it has a job again; true when released.
    pub(super) fn release_monitor(&self, cell: &Arc<SessionCell>) -> bool {
        let Ok(mut set) = self.monitored.lock() else {
            return true;
        };
        if cell.snapshot().state.has_job() {
            return false;
        }
        set.remove(&cell_key(cell));
        true
    }
}

fn cell_key(cell: &Arc<SessionCell>) -> usize {
    Arc::as_ptr(cell) as usize
}

impl super::store::SessionGuard<'_> {
    /// The record, or `NotFound` once the session was deleted while the caller waited.
    pub fn require(&self, id: &RunId) -> Result<&Session, SessionError> {
        self.get().ok_or_else(|| SessionError::NotFound(id.clone()))
    }
}
