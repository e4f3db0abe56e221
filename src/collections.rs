//! A session's collections: turns a collect request into a [`CollectionPlan`] (window, default
//! profiles from what the session registered, user queries, out_dir), runs it, and keeps an
//! index of past bundles in the session directory.

use crate::artifacts::OutDirError;
use crate::collect::{
    self, CollectError, CollectionOutcome, CollectionPlan, MarkedWindow, NamedQuery,
};
use crate::domain::{PromDuration, RunId, Timestamp, WindowName};
use crate::launcher::JobStatus;
use crate::prometheus::offline::{OfflineError, OfflinePaths, OfflinePrometheus};
use crate::session::{Session, SessionCell, SessionError, SessionState, Sessions};
use crate::targets;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use utoipa::ToSchema;

/// `POST /api/v1/sessions/{id}/collect`. The window is exactly one of: `window_start` +
/// `window_end`, `window` (a named window), or `last` (a duration up to now).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectRequest {
    /// RFC 3339 or unix seconds.
    #[serde(default)]
    pub window_start: Option<Timestamp>,
    #[serde(default)]
    pub window_end: Option<Timestamp>,
    /// A named window of the session.
    #[serde(default)]
    pub window: Option<WindowName>,
    /// The last N (e.g. `10m`) up to now.
    #[serde(default)]
    pub last: Option<PromDuration>,
    /// Query resolution (default: the scrape interval).
    #[serde(default)]
    pub step: Option<PromDuration>,
    /// Where the bundle goes, under the artifacts root (see README, "Artifacts").
    #[serde(default)]
    pub out_dir: Option<String>,
    /// Bundle directory name (default `collect-<time>`); never overwrites an earlier bundle.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// Extra queries: name → PromQL.
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
    /// Include the default profile queries (default true).
    #[serde(default)]
    pub profiles: Option<bool>,
    /// Include a raw export of every series of the session (default true).
    #[serde(default)]
    pub raw: Option<bool>,
}

/// The answer to a collection: the seed's `artifacts` (file paths) plus everything measured.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectResponse {
    /// Paths of every file in the bundle (the seed's `response.json()["artifacts"]`).
    pub artifacts: Vec<String>,
    #[schema(value_type = String)]
    pub bundle_dir: PathBuf,
    /// Path of `report.html`.
    pub report: Option<String>,
    /// The named window collected, if one was.
    pub window: Option<String>,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub step: PromDuration,
    /// Every file with size and sha256.
    pub files: Vec<collect::Artifact>,
    pub queries: Vec<collect::QueryReport>,
    /// Default-profile or user queries that matched nothing in the window.
    pub absent_queries: Vec<String>,
    pub coverage: Option<collect::CoverageReport>,
    /// Scrape gaps, also flagged in the manifest.
    pub gaps: Vec<collect::Gap>,
    pub samples: u64,
    pub raw_series: u64,
    pub raw_samples: u64,
    pub duration_seconds: f64,
    /// The bundle's MANIFEST.json.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
}

/// One past collection, from the session's index and the bundle's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CollectionEntry {
    pub bundle_dir: String,
    pub created_at: Timestamp,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub samples: u64,
    /// The bundle's MANIFEST.json, or null if the bundle was removed since.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub manifest: Option<serde_json::Value>,
}

/// Errors of a session collection.
#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{detail}")]
    Invalid { field: String, detail: String },
    #[error(transparent)]
    OutDir(#[from] OutDirError),
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error("cannot collect from session {id}: it is {state}; collect while it runs or once its job has ended")]
    NotRunning { id: RunId, state: &'static str },
    #[error(
        "cannot collect from session {id}: it is {state} and its Prometheus never stored any data"
    )]
    NoData { id: RunId, state: &'static str },
    #[error("cannot collect from session {id} yet: its job {job} is still ending; try again in a few seconds")]
    JobEnding { id: RunId, job: String },
    #[error(transparent)]
    Offline(#[from] OfflineError),
}

fn invalid(field: &str, detail: impl Into<String>) -> CollectionError {
    CollectionError::Invalid {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// The longest a collection waits for the last scrape of a window that just ended.
const MAX_SCRAPE_WAIT: Duration = Duration::from_secs(300);

/// Resolves the request's window to (start, end, name).
async fn resolve_window(
    sessions: &Sessions,
    id: &RunId,
    req: &CollectRequest,
) -> Result<(Timestamp, Timestamp, Option<String>), CollectionError> {
    let modes = [
        req.window_start.is_some() || req.window_end.is_some(),
        req.window.is_some(),
        req.last.is_some(),
    ];
    if modes.iter().filter(|m| **m).count() != 1 {
        return Err(invalid(
            "window",
            "give exactly one of: window_start and window_end, window (a name), or last (e.g. 10m)",
        ));
    }
    let now = Timestamp::now();
    let (start, end, name) = if let Some(name) = &req.window {
        let w = sessions
            .window(id, name)
            .await
            .map_err(|e| invalid("window", e.to_string()))?;
        (w.start, w.end.unwrap_or(now), Some(name.to_string()))
    } else if let Some(last) = &req.last {
        let start_ms = now.unix_millis() - i64::try_from(last.as_millis()).unwrap_or(i64::MAX);
        let start =
            Timestamp::from_unix(start_ms as f64 / 1000.0).map_err(|e| invalid("last", e.0))?;
        (start, now, None)
    } else {
        let start = req
            .window_start
            .ok_or_else(|| invalid("window_start", "missing window_start"))?;
        let end = req
            .window_end
            .ok_or_else(|| invalid("window_end", "missing window_end"))?;
        (start, end, None)
    };
    if end <= start {
        return Err(invalid(
            "window_end",
            format!("window_end {end} is not after window_start {start}"),
        ));
    }
    Ok((start, end, name))
}

/// Which Prometheus answers a collection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The session's job, still scraping.
    Job,
    /// benchmon's own Prometheus over the TSDB the ended job left behind.
    Offline,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Job => "job",
            Source::Offline => "offline",
        }
    }
}

/// Runs a collection for session `id`: from its running Prometheus, or — once the job has
/// ended — from a Prometheus benchmon starts over the data the job stored.
pub async fn collect_session(
    sessions: &Sessions,
    id: &RunId,
    req: CollectRequest,
) -> Result<CollectResponse, CollectionError> {
    let cell = sessions.cell(id).await?;
    let mut session = cell.snapshot();
    if matches!(
        session.state,
        SessionState::Pending | SessionState::Starting
    ) {
        // A harness that collects right after `start` (the seed's own example does) gets its
        // collection once Prometheus runs, instead of a 409 it would have to retry.
        let limit = sessions
            .settings
            .site
            .prometheus
            .startup_timeout
            .as_duration();
        session = sessions
            .wait_for(&cell, SessionState::Running, limit)
            .await
            .map_err(|e| match e {
                SessionError::WaitTimeout { state, .. }
                | SessionError::Unreachable { state, .. } => CollectionError::NotRunning {
                    id: id.clone(),
                    state,
                },
                other => other.into(),
            })?;
    }
    let not_running = |state: SessionState| CollectionError::NotRunning {
        id: id.clone(),
        state: state.as_str(),
    };
    let request = match session.state {
        SessionState::Running | SessionState::Stopped | SessionState::Failed => {
            let checked = check_request(sessions, &session, &req).await?;
            (req, checked)
        }
        other => return Err(not_running(other)),
    };
    match (&session.prometheus_url, session.state) {
        (Some(url), SessionState::Running) => {
            let url = url.clone();
            collect_from(sessions, &cell, request, session, url, Source::Job).await
        }
        (_, SessionState::Stopped | SessionState::Failed) => {
            // Held until the offline Prometheus is gone: no second one, no new job, no delete.
            let _tsdb = cell.tsdb.lock().await;
            let session = cell.snapshot();
            if !matches!(session.state, SessionState::Stopped | SessionState::Failed) {
                return Err(not_running(session.state));
            }
            // A session fails at once when its start timed out, while SLURM may still be ending
            // the job: two Prometheus on one TSDB would corrupt it, and nothing else stops that
            // (Prometheus 2.42 as Debian ships it takes no lock on its data directory).
            if let Some(job) = &session.job_id {
                let status = sessions
                    .launcher
                    .status(job)
                    .await
                    .map_err(SessionError::from)?;
                if !matches!(status, JobStatus::Gone { .. }) {
                    return Err(CollectionError::JobEnding {
                        id: id.clone(),
                        job: job.clone(),
                    });
                }
            }
            let tsdb = cell.paths.tsdb();
            let stored_anything = std::fs::read_dir(&tsdb).is_ok_and(|mut d| d.next().is_some());
            if !stored_anything {
                return Err(CollectionError::NoData {
                    id: id.clone(),
                    state: session.state.as_str(),
                });
            }
            let prom_settings = &sessions.settings.site.prometheus;
            let prom = OfflinePrometheus::start(
                &prom_settings.binary,
                &OfflinePaths {
                    tsdb,
                    work_dir: cell.paths.offline(),
                },
                &sessions.http,
                prom_settings.startup_timeout.as_duration(),
            )
            .await?;
            let url = prom.url().to_owned();
            let result =
                collect_from(sessions, &cell, request, session, url, Source::Offline).await;
            prom.stop().await;
            result
        }
        _ => Err(not_running(session.state)),
    }
}

/// A request's window and out_dir, checked before any Prometheus is asked (or started).
struct Checked {
    start: Timestamp,
    end: Timestamp,
    window_name: Option<String>,
    bundle_parent: PathBuf,
}

fn scrape_millis(session: &Session) -> i64 {
    i64::try_from(session.scrape_interval.as_duration().as_millis()).unwrap_or(i64::MAX)
}

async fn check_request(
    sessions: &Sessions,
    session: &Session,
    req: &CollectRequest,
) -> Result<Checked, CollectionError> {
    let id = &session.session_id;
    let (start, end, window_name) = resolve_window(sessions, id, req).await?;
    if end.unix_millis() > Timestamp::now().unix_millis() + scrape_millis(session) {
        return Err(invalid(
            "window_end",
            format!("window_end {end} is in the future"),
        ));
    }
    let policy = sessions.out_dir_policy();
    let session_name = id.to_string();
    let out_dir = req.out_dir.clone();
    let bundle_parent =
        tokio::task::spawn_blocking(move || policy.resolve(&session_name, out_dir.as_deref()))
            .await
            .map_err(|e| invalid("out_dir", e.to_string()))??;
    Ok(Checked {
        start,
        end,
        window_name,
        bundle_parent,
    })
}

/// The collection itself, against the Prometheus at `prometheus_url`.
async fn collect_from(
    sessions: &Sessions,
    cell: &SessionCell,
    (req, checked): (CollectRequest, Checked),
    session: Session,
    prometheus_url: String,
    source: Source,
) -> Result<CollectResponse, CollectionError> {
    let id = &cell.id;
    let Checked {
        start,
        end,
        window_name,
        bundle_parent,
    } = checked;
    let now_ms = Timestamp::now().unix_millis();
    let scrape_ms = scrape_millis(&session);

    // A window that just ended may still be missing its last scrape: wait for it (a job that
    // has ended scrapes no more).
    let ready_at = end.unix_millis().saturating_add(scrape_ms);
    if source == Source::Job && ready_at > now_ms {
        let wait = Duration::from_millis((ready_at - now_ms) as u64).min(MAX_SCRAPE_WAIT);
        tokio::time::sleep(wait).await;
    }

    let clients = targets::clients(cell).await;
    let services = targets::services(cell).await;
    let selector = format!("{{session={}}}", crate::domain::yaml_quote(id.as_str()));
    let mut queries = Vec::new();
    if req.profiles.unwrap_or(true) {
        let mut kinds: Vec<String> = clients
            .iter()
            .flat_map(|c| {
                c.exporters
                    .keys()
                    .filter(|k| c.enabled(k))
                    .map(|k| k.to_string())
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        let names: Vec<String> = services.iter().map(|s| s.name.to_string()).collect();
        queries.extend(collect::default_queries(&kinds, &names, &selector));
    }
    for (name, promql) in &req.queries {
        if queries.iter().any(|q: &NamedQuery| &q.name == name) {
            return Err(invalid(
                &format!("queries.{name}"),
                "a query of that name already exists (default profile)",
            ));
        }
        queries.push(NamedQuery::user(name.clone(), promql.clone()));
    }
    let windows = sessions
        .windows(id)
        .await?
        .into_iter()
        .map(|w| MarkedWindow {
            name: w.name.to_string(),
            start: w.start,
            end: w.end.unwrap_or(end),
        })
        .collect();
    let bundle_name = req
        .run_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| format!("collect-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let plan = CollectionPlan {
        prometheus_url,
        start,
        end,
        step: req.step.clone(),
        scrape_interval: Some(session.scrape_interval.clone()),
        queries,
        raw_selector: req.raw.unwrap_or(true).then(|| selector.clone()),
        coverage_selector: Some(format!("up{selector}")),
        windows,
        bundle_parent,
        bundle_name,
        manifest_extra: serde_json::json!({
            "session": session,
            "targets": {"clients": clients, "services": services},
            "request": req,
            "window": window_name,
            "prometheus_source": source.as_str(),
        }),
    };
    let outcome = collect::collect(&sessions.http, plan, None).await?;
    record_in_index(cell, &outcome).await;
    let artifacts = outcome
        .artifacts
        .iter()
        .map(|a| a.path.to_string_lossy().into_owned())
        .collect();
    let report = outcome
        .artifacts
        .iter()
        .find(|a| a.name == "report.html")
        .map(|a| a.path.to_string_lossy().into_owned());
    Ok(CollectResponse {
        artifacts,
        bundle_dir: outcome.bundle_dir,
        report,
        window: window_name,
        window_start: outcome.start,
        window_end: outcome.end,
        step: outcome.step,
        files: outcome.artifacts,
        queries: outcome.queries,
        absent_queries: outcome.absent_queries,
        coverage: outcome.coverage,
        gaps: outcome.gaps,
        samples: outcome.samples,
        raw_series: outcome.raw_series,
        raw_samples: outcome.raw_samples,
        duration_seconds: outcome.duration_seconds,
        manifest: outcome.manifest,
    })
}

fn index_path(cell: &crate::session::SessionCell) -> PathBuf {
    cell.paths.dir.join("collections.json")
}

/// Reads the session's collections index; missing is empty, unreadable is an error.
async fn read_index(
    cell: &crate::session::SessionCell,
) -> Result<Vec<CollectionEntry>, SessionError> {
    let path = index_path(cell);
    crate::fsutil::read_json_or_default(&path)
        .await
        .map_err(|e| SessionError::io(&path, e))
}

/// Appends the bundle to the session's index (under the session lock, atomically). An
/// unreadable index is left alone rather than replaced by one entry.
async fn record_in_index(cell: &crate::session::SessionCell, outcome: &CollectionOutcome) {
    let _guard = cell.lock().await;
    let mut entries = match read_index(cell).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(session = %cell.id, "not recording the bundle in the index: {e}");
            return;
        }
    };
    entries.push(CollectionEntry {
        bundle_dir: outcome.bundle_dir.to_string_lossy().into_owned(),
        created_at: Timestamp::now(),
        window_start: outcome.start,
        window_end: outcome.end,
        samples: outcome.samples,
        manifest: None,
    });
    if let Err(e) = crate::fsutil::write_json_atomic_async(index_path(cell), entries).await {
        tracing::warn!(session = %cell.id, "cannot update the collections index: {e}");
    }
}

/// Past collections of a session, each with its manifest as it is on disk now.
pub async fn list_collections(
    sessions: &Sessions,
    id: &RunId,
) -> Result<Vec<CollectionEntry>, SessionError> {
    let cell = sessions.cell(id).await?;
    let mut entries = read_index(&cell).await?;
    for e in &mut entries {
        let manifest = PathBuf::from(&e.bundle_dir).join("MANIFEST.json");
        e.manifest = tokio::fs::read(&manifest)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    }
    Ok(entries)
}
