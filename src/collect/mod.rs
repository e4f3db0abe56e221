//! A session's collections — the use case behind `POST /api/v1/sessions/{id}/collect`: the
//! [`request`] is checked, a [`source`] Prometheus is chosen (the live job, or an offline one
//! over the ended job's TSDB), the default profiles are built from what the session registered,
//! the window's [`alerts`] are read from `ALERTS` (→ `alerts.csv`, handed to the engine with the
//! plan), the [`crate::export`] engine writes the bundle, the [`index`] records it, and the
//! request's [`thresholds`] are judged on the bundle's summary.

/// The alerts of the window (`alerts.csv`), from the `ALERTS` series.
pub mod alerts;
mod catch_up;
/// The bundles' files, read-only and confined to their bundle (the web view's downloads).
pub mod files;
pub mod index;
/// What a client sees of a running collection: samples and bytes so far.
pub mod progress;
pub mod request;
mod source;
pub mod storage;

/// Absolute limits on a collection's KPIs, judged on its bundle.
pub mod thresholds;

pub use index::{find_collection, list_collections, CollectionEntry};
pub use request::{CollectRequest, CollectResponse, QuerySpec};

use crate::artifacts::OutDirError;
use crate::domain::{RunId, StoreSpec, Timestamp};
use crate::export::formats::{Formats, SampleFormat};
use crate::export::{
    self, CollectError, CollectionPlan, MarkedWindow, NamedQuery, RawOptions, RawSizing, RawSource,
};
use crate::launcher::JobStatus;
use crate::prometheus::offline::OfflineError;
use crate::session::{Session, SessionCell, SessionError, SessionState, Sessions};
use crate::targets;
use catch_up::CATCH_UP_LIMIT;
use index::record_in_index;
use request::{check_request, scrape_millis, CheckedRequest};
use source::{start_offline, Source};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

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
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
}

pub(crate) fn invalid(field: &str, detail: impl Into<String>) -> CollectionError {
    CollectionError::Invalid {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// Entries of `formats`: there are three.
const MAX_FORMATS: usize = 3;

/// The longest a collection waits for the last scrape of a window that just ended.
const MAX_SCRAPE_WAIT: Duration = Duration::from_secs(300);

/// Runs a collection for session `id`: from its running Prometheus, or — once the job has
/// ended — from a Prometheus benchmon starts over the data the job stored. The engine's
/// [`export::Progress`] events go to `progress`, if given.
pub async fn collect_session(
    sessions: &Sessions,
    id: &RunId,
    req: CollectRequest,
    progress: Option<UnboundedSender<export::Progress>>,
) -> Result<CollectResponse, CollectionError> {
    let result = collect(sessions, id, req, progress).await;
    // What the collection freed goes back to the system, so an idle server does not keep the
    // peak of its largest collection (see `memory`).
    let _ = tokio::task::spawn_blocking(crate::memory::release_freed).await;
    result
}

async fn collect(
    sessions: &Sessions,
    id: &RunId,
    req: CollectRequest,
    progress: Option<UnboundedSender<export::Progress>>,
) -> Result<CollectResponse, CollectionError> {
    // The bound the OpenAPI document states (`maxItems: 3`), checked before anything else.
    if let Some(f) = req.formats.as_ref().filter(|f| f.len() > MAX_FORMATS) {
        return Err(invalid(
            "formats",
            format!(
                "{} formats given; at most {MAX_FORMATS} (parquet, csv, json)",
                f.len()
            ),
        ));
    }
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
    if let Some(ended) = job_ended_unseen(sessions, &cell, &session).await {
        session = ended;
    }
    let request = match session.state {
        SessionState::Running
        | SessionState::Degraded
        | SessionState::Stopped
        | SessionState::Failed => check_request(sessions, &session, req).await?,
        other => return Err(not_running(other)),
    };
    match (&session.prometheus_url, session.state) {
        (Some(url), state) if state.is_live() => {
            let url = url.clone();
            collect_from(
                sessions,
                &cell,
                request,
                session,
                url,
                Source::Job,
                progress,
            )
            .await
        }
        // A site's store outlives the session's scrapers: it answers as it did while they ran.
        (Some(url), SessionState::Stopped | SessionState::Failed)
            if matches!(session.store, StoreSpec::Remote(_)) =>
        {
            let url = url.clone();
            collect_from(
                sessions,
                &cell,
                request,
                session,
                url,
                Source::Store,
                progress,
            )
            .await
        }
        (_, SessionState::Stopped | SessionState::Failed) => {
            // Held until the offline Prometheus is gone: no second one, no new job, no delete.
            let _tsdb = cell.tsdb.lock().await;
            let session = cell.snapshot();
            if !matches!(session.state, SessionState::Stopped | SessionState::Failed) {
                return Err(not_running(session.state));
            }
            let prom = start_offline(sessions, &cell, &session).await?;
            let url = prom.url().to_owned();
            let result = collect_from(
                sessions,
                &cell,
                request,
                session,
                url,
                Source::Offline,
                progress,
            )
            .await;
            prom.stop().await;
            result
        }
        _ => Err(not_running(session.state)),
    }
}

/// Every silence of the session's scrapers, as gaps coverage flags their targets with (those
/// outside the window are dropped there).
fn silences(session: &Session) -> Vec<export::KnownGap> {
    session
        .scraper_jobs
        .iter()
        .flat_map(|j| {
            j.silences.iter().map(|s| export::KnownGap {
                instances: s.targets.clone(),
                start: s.from,
                end: s.to,
                cause: format!(
                    "scraper {} (job {}{}) silent{}",
                    j.index,
                    j.job_id,
                    s.node
                        .as_deref()
                        .map(|n| format!(" on {n}"))
                        .unwrap_or_default(),
                    match s.to {
                        Some(to) => format!(" from {} to {to}", s.from),
                        None => format!(" since {}", s.from),
                    }
                ),
            })
        })
        .collect()
}

/// How long a collection waits for the poller to record a job that ended under it.
const ENDED_JOB_SETTLE: Duration = Duration::from_secs(30);

/// A live session whose Prometheus does not answer may have lost its job (finished, cancelled,
/// at its time limit) a moment before the poller saw it. Then, rather than failing on a dead
/// address, the collection waits until the poller has recorded the end (the job script has
/// copied the TSDB back by then) and reads the window offline. `None`: go on as the session
/// says (it answers, it is not a job of benchmon's, or the job still runs).
async fn job_ended_unseen(
    sessions: &Sessions,
    cell: &SessionCell,
    session: &Session,
) -> Option<Session> {
    let url = session.prometheus_url.as_deref()?;
    let job = session.job_id.as_ref()?;
    if !session.state.is_live() || !matches!(session.store, StoreSpec::Prometheus) {
        return None;
    }
    if crate::prometheus::PromClient::new(sessions.http.clone(), url)
        .ready()
        .await
    {
        return None;
    }
    match sessions.launcher.status(job).await {
        Ok(JobStatus::Gone { .. } | JobStatus::Ending { .. }) => {}
        _ => return None,
    }
    tracing::info!(session = %cell.id, "job {job} ended before the poller saw it; waiting for it to be recorded");
    let mut rx = cell.subscribe();
    let settled = tokio::time::timeout(ENDED_JOB_SETTLE, async {
        loop {
            let now = rx.borrow_and_update().clone();
            if now.state.is_terminal() {
                return Some(now);
            }
            rx.changed().await.ok()?;
        }
    })
    .await;
    settled.ok().flatten()
}

/// The collection itself, against the Prometheus at `prometheus_url`.
async fn collect_from(
    sessions: &Sessions,
    cell: &SessionCell,
    checked: CheckedRequest,
    session: Session,
    prometheus_url: String,
    source: Source,
    progress: Option<UnboundedSender<export::Progress>>,
) -> Result<CollectResponse, CollectionError> {
    let id = &cell.id;
    let CheckedRequest {
        req,
        start,
        end,
        window_name,
        bundle_parent,
    } = checked;
    let req_thresholds = req.thresholds.clone();
    let now_ms = Timestamp::now().unix_millis();
    let scrape_ms = scrape_millis(&session);

    // A window that just ended may still be missing its last scrape: wait for it (a job that
    // has ended scrapes no more).
    // Scrapers of a sharded session send within `batch_send_deadline` (1 s) of the scrape.
    let flush_ms = if session.store.sharded() { 2_000 } else { 0 };
    let ready_at = end.unix_millis().saturating_add(scrape_ms + flush_ms);
    if source != Source::Offline && ready_at > now_ms {
        let wait = Duration::from_millis((ready_at - now_ms) as u64).min(MAX_SCRAPE_WAIT);
        tokio::time::sleep(wait).await;
    }
    // A remote store's credentials go with every request to it.
    let http = crate::session::store_client(&session.store, &sessions.http).map_err(|e| {
        CollectError::Task(format!(
            "the store's credentials (store.bearer_token_file): {e}"
        ))
    })?;
    let prom = crate::prometheus::PromClient::new(http.clone(), &prometheus_url);
    // On a loaded node the scrapers may be further behind than that: wait until the store has
    // each live scraper's samples up to the window's end (see `catch_up`).
    if session.store.sharded() && session.state.is_live() && source != Source::Offline {
        let behind =
            catch_up::wait_for_scrapers(&prom, &session, end.unix_millis(), CATCH_UP_LIMIT).await;
        if !behind.is_empty() {
            tracing::warn!(
                session = %id,
                "scrapers {behind:?} had not sent samples up to the window's end after {}s; collecting what the store has",
                CATCH_UP_LIMIT.as_secs()
            );
        }
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
        queries.extend(export::default_queries(&kinds, &names, &selector));
    }
    for (name, spec) in &req.queries {
        if queries.iter().any(|q: &NamedQuery| &q.name == name) {
            return Err(invalid(
                &format!("queries.{name}"),
                "a query of that name already exists (default profile)",
            ));
        }
        queries.push(NamedQuery::user(name.clone(), spec.promql.clone()).with_unit(spec.unit));
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
    // The session's Prometheus (or the offline one over its TSDB) holds only this session's
    // alerts, so ALERTS needs no selector: an alert whose expression aggregated the session
    // label away is still the session's. A sharded session's store may hold others' (a
    // remote store is shared); its vmalert labels every alert with the session.
    let alert_selector = match session.store.sharded() {
        true => selector.as_str(),
        false => "",
    };
    let (alert_files, alerts_context) =
        match alerts::alerts_in_window(&prom, alert_selector, start, end).await {
            Ok(seen) => match alerts::alerts_csv(&seen) {
                Ok(file) => (vec![file], serde_json::json!(seen)),
                Err(e) => (Vec::new(), serde_json::json!({"error": e.to_string()})),
            },
            Err(e) => {
                tracing::warn!(session = %id, "no alerts.csv: {e}");
                (Vec::new(), serde_json::json!({"error": e.to_string()}))
            }
        };
    let events = sessions
        .events(id)
        .await?
        .into_iter()
        .map(|e| export::events::EventRow {
            timestamp: e.timestamp,
            kind: word(&e.kind),
            name: e.name.to_string(),
            severity: e.severity.as_ref().map(word),
            progress: e.progress,
            message: e.message,
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
        raw_selectors: req
            .raw
            .unwrap_or(true)
            .then(|| selector.clone())
            .into_iter()
            .collect(),
        coverage_selector: Some(format!("up{selector}")),
        windows,
        events,
        bundle_parent,
        bundle_name,
        raw_options: RawOptions {
            source: RawSource::Auto,
            formats: req
                .formats
                .as_deref()
                .map_or(Formats::RAW_DEFAULT, Formats::from_list),
            // Every series of the session comes from its scrapes (and pushes): their own
            // statistics size it, where counting 300 k series took Prometheus 3–4 s.
            sizing: RawSizing::ScrapeStatistics,
        },
        max_points: Some(sessions.settings.site.collect.max_points),
        quality: sessions.settings.site.collect.quality.clone(),
        samples_parquet: req
            .formats
            .as_ref()
            .is_some_and(|f| f.contains(&SampleFormat::Parquet)),
        samples_json: req
            .formats
            .as_ref()
            .is_some_and(|f| f.contains(&SampleFormat::Json)),
        manifest_extra: serde_json::json!({
            "session": session,
            "targets": {"clients": clients, "services": services},
            "request": req,
            "window": window_name,
            "prometheus_source": source.as_str(),
            // Which store answered: the session's Prometheus, or the store its scrapers feed.
            "store": session.store.kind(),
            "alerts": alerts_context,
        }),
        extra_files: alert_files,
        known_gaps: silences(&session),
    };
    let dir = plan.bundle_parent.clone();
    let outcome = export::collect(&http, plan, progress).await.map_err(|e| {
        match storage::storage_fault(&e) {
            Some(fault) => CollectionError::Storage(storage::StorageError {
                fault,
                dir,
                cause: e.to_string(),
            }),
            None => e.into(),
        }
    })?;
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
    let thresholds = judge_thresholds(req_thresholds, &outcome.bundle_dir).await;
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
        quality: outcome.verdict.quality,
        quality_reasons: outcome.verdict.reasons,
        quality_notes: outcome.verdict.notes,
        quality_thresholds: outcome.verdict.thresholds,
        thresholds,
    })
}

/// The thresholds judged on the bundle just written; a bundle whose summary cannot be read
/// back fails them all (no value), rather than passing unchecked.
async fn judge_thresholds(
    ts: Vec<thresholds::Threshold>,
    dir: &std::path::Path,
) -> Option<thresholds::ThresholdReport> {
    if ts.is_empty() {
        return None;
    }
    let dir = dir.to_owned();
    let rows = tokio::task::spawn_blocking(move || crate::compare::Bundle::read(&dir))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map(|b| b.rows)
        .unwrap_or_else(|e| {
            tracing::error!("thresholds not judged: {e}");
            Vec::new()
        });
    Some(thresholds::evaluate(&ts, &rows))
}

/// The JSON word of a unit enum (`phase`, `warning`).
fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
