//! Drives one collection: resolves the plan, starts the fetches with bounded concurrency
//! ([`schedule`](super::schedule)), merges each query's chunks in order as soon as they are all
//! in ([`consume`](super::consume)), then writes the small files and the manifest and publishes
//! the bundle ([`finish`](super::finish)).
//!
//! The raw export (streamed remote read) starts first and, once Prometheus has sent its
//! first series, runs on alongside the query fetches; it is joined before the finish.
//!
//! A producer task starts fetches (at most `concurrency` at once) in plan order and hands
//! them, in the same order, to the consumer here, which merges while later fetches run. On any
//! error everything in flight is cancelled and awaited before the temp directory is removed.

use super::budget;
use super::bundle::TempBundle;
use super::chart::Binning;
use super::consume::{Consumer, JsonFiles, Merging};
use super::fallback;
use super::finish::{finish, Finish};
use super::plan::{self, Resolved, Tuning, RAW};
use super::progress::{emit, ProgressTx};
use super::raw::{export_raw, export_vm, RawOutcome, RawRequest, RawWritten};
use super::schedule::{
    coverage_fetches, query_fetches, raw_fetches, spawn_fetches, Fetch, FetchContext, InFlight,
};
use super::{CollectError, CollectionOutcome, CollectionPlan, Progress, RawSource};
use crate::telemetry::{OutcomeLabels, METRICS};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a failed collection waits for its in-flight fetches before removing the temp dir.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `plan` and writes its bundle. See the [module docs](super) for the bundle layout.
pub async fn collect(
    http: &reqwest::Client,
    plan: CollectionPlan,
    progress: Option<UnboundedSender<Progress>>,
) -> Result<CollectionOutcome, CollectError> {
    collect_tuned(http, plan, progress, Tuning::default()).await
}

/// [`collect`] with explicit chunk size and concurrency.
pub async fn collect_tuned(
    http: &reqwest::Client,
    plan: CollectionPlan,
    progress: Option<UnboundedSender<Progress>>,
    tuning: Tuning,
) -> Result<CollectionOutcome, CollectError> {
    let started = Instant::now();
    let result = run(http, plan, progress, tuning, started).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    METRICS
        .collections
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    if let Ok(o) = &result {
        METRICS.collected_samples.inc_by(o.samples);
        METRICS
            .collected_bytes
            .inc_by(o.artifacts.iter().map(|a| a.bytes).sum());
    }
    result
}

/// What answers the queries: its version, whether its range selectors are left-open
/// (Prometheus 3 made them so; VictoriaMetrics' always were), and whether it is a
/// VictoriaMetrics (its build info has no version).
struct Server {
    version: String,
    left_open: bool,
    victoriametrics: bool,
}

async fn server(http: &reqwest::Client, base: &str) -> Server {
    match crate::prometheus::PromClient::new(http.clone(), base)
        .version()
        .await
    {
        Ok(Some(version)) => Server {
            left_open: version
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok())
                .is_some_and(|m| m >= 3),
            version,
            victoriametrics: false,
        },
        Ok(None) => Server {
            version: "victoriametrics".to_owned(),
            left_open: true,
            victoriametrics: true,
        },
        Err(_) => Server {
            version: "unknown".to_owned(),
            left_open: false,
            victoriametrics: false,
        },
    }
}

async fn run(
    http: &reqwest::Client,
    plan: CollectionPlan,
    progress: ProgressTx,
    tuning: Tuning,
    started: Instant,
) -> Result<CollectionOutcome, CollectError> {
    let r = plan::resolve(&plan)?;
    let base = plan.prometheus_url.trim_end_matches('/').to_owned();
    let Server {
        version,
        left_open,
        victoriametrics,
    } = server(http, &base).await;
    phase(started, "server version");
    // Before anything is written: a collection over the budget leaves no trace. Without a
    // budget nothing needs the estimate (counting a selector's series costs Prometheus ≈ 1 s
    // per 100 k).
    let estimate = match plan.max_points {
        Some(_) => Some(budget::estimate(http, &base, &r, &plan).await?),
        None => None,
    };
    phase(started, "size estimate");
    if let Some(e) = &estimate {
        budget::check(e, plan.max_points)?;
    }
    let bundle = TempBundle::create(&plan.bundle_parent, &plan.bundle_name)?;
    emit(
        &progress,
        Progress::BundleCreated {
            temp_dir: bundle.path().to_string_lossy().into_owned(),
        },
    );
    let parts = bundle.path().join(".parts");
    std::fs::create_dir(&parts).map_err(|e| CollectError::io(&parts, e))?;

    let cancel = CancellationToken::new();
    // If the caller drops this future, in-flight fetches stop at their next series.
    let _stop_on_drop = cancel.clone().drop_guard();
    let raw_cx = RawContext {
        http,
        base: &base,
        bundle: &bundle,
        cancel: &cancel,
        progress: &progress,
    };
    // The queries start now: Prometheus answers them while it prepares the raw stream (at
    // 300 k series it sorts them for ≈ 1 s before the first frame). The raw fallback's
    // requests and coverage are queued once the raw path is known.
    let (tx, mut rx) = mpsc::unbounded_channel::<InFlight>();
    let (queue, queued) = mpsc::unbounded_channel::<Fetch>();
    let cx = FetchContext {
        http: http.clone(),
        base: base.clone(),
        parts: parts.clone(),
        binning: Binning {
            start_ms: r.start_ms,
            end_ms: r.end_ms,
        },
        cancel: cancel.clone(),
    };
    let producer = spawn_fetches(queued, cx, tuning.concurrency, tx);
    let mut chunks = enqueue(&queue, query_fetches(&r, tuning));
    let known = async {
        let raw = raw_phase(raw_cx, &r, &plan, victoriametrics).await?;
        phase(started, "raw export streaming");
        let fallback = match (&raw, plan.raw_selectors.first()) {
            (RawPhase::ViaQuery { .. }, Some(sel)) => {
                let max_chunk_ms = tuning.raw_chunk_ms.unwrap_or(r.raw_chunk_ms);
                let f = fallback::plan(http, &base, sel, &r, max_chunk_ms, left_open).await?;
                tracing::info!(
                    series = f.series,
                    groups = f.groups,
                    requests = f.requests,
                    request_samples = f.request_samples,
                    "raw samples via range-vector queries"
                );
                Some(f)
            }
            _ => None,
        };
        Ok::<_, CollectError>((raw, fallback))
    }
    .await;
    let (raw, fallback) = match known {
        Ok(known) => known,
        Err(e) => {
            cancel.cancel();
            drop(queue);
            drain(producer, rx).await;
            return Err(e);
        }
    };
    if let Some(f) = &fallback {
        chunks += enqueue(&queue, raw_fetches(&r, f, left_open));
    }
    chunks += enqueue(&queue, coverage_fetches(&r, &plan, tuning, left_open));
    drop(queue);
    emit(
        &progress,
        Progress::Started {
            queries: r.queries.len(),
            chunks,
        },
    );

    let json = JsonFiles {
        samples: plan.samples_json,
        raw: plan.raw_options.formats.json,
    };
    let mut m = Merging::create(
        bundle.path(),
        !r.queries.is_empty(),
        fallback.is_some(),
        json,
    )?;
    m.raw_plan = fallback;
    m.estimate = estimate;
    m.samples_parquet = plan.samples_parquet;
    let mut streaming = None;
    match raw {
        RawPhase::None => {}
        RawPhase::Done(w, method) => take_raw(&mut m, w, method),
        RawPhase::Streaming(task) => streaming = Some(task),
        RawPhase::ViaQuery { reason } => m.raw_method = Some(("query", reason)),
    }
    let consumer = Consumer {
        resolved: &r,
        parts: &parts,
        progress: &progress,
    };
    if let Err(e) = consumer.consume(&mut rx, &mut m).await {
        cancel.cancel();
        drain(producer, rx).await;
        if let Some(task) = streaming {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, task).await;
        }
        return Err(e);
    }
    let _ = producer.await;
    phase(started, "queries merged");
    if let Some(task) = streaming {
        take_raw(
            &mut m,
            join_raw(task, &plan.prometheus_url, &plan).await?,
            "remote_read",
        );
        phase(started, "raw export joined");
    }
    let done = Finish {
        bundle,
        merged: m,
        resolved: r,
        plan,
        version,
        started,
    };
    finish(done, &progress).await
}

/// Logs how far into the collection a phase ended (`RUST_LOG=benchmon::export=debug`): where
/// a collection's time goes, phase by phase.
pub(super) fn phase(started: Instant, name: &str) {
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "collection phase done: {name}"
    );
}

/// Queues `fetches` for the producer; returns how many.
fn enqueue(queue: &UnboundedSender<Fetch>, fetches: Vec<Fetch>) -> usize {
    let n = fetches.len();
    for f in fetches {
        // The producer only stops taking fetches once the collection is cancelled.
        let _ = queue.send(f);
    }
    n
}

/// Where the raw export stands when the query fetches are about to start.
enum RawPhase {
    None,
    /// Remote read streaming into the bundle alongside the query fetches (the server sent a
    /// first series, so it serves streamed remote read); joined before the finish.
    Streaming(JoinHandle<Result<RawOutcome, CollectError>>),
    /// Written before the queries start: by VictoriaMetrics' `export` (whose series come
    /// unsorted and are sorted on disk first), or a remote read that ended before any series.
    Done(RawWritten, &'static str),
    /// Range-vector queries, because the plan asks so or (`reason`) the server streams neither.
    ViaQuery {
        reason: Option<String>,
    },
}

/// What the raw export works with, from the collection.
struct RawContext<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    bundle: &'a TempBundle,
    cancel: &'a CancellationToken,
    progress: &'a ProgressTx,
}

/// Starts the raw export and waits only until it is known to stream: the profile queries then
/// run alongside it (Prometheus serves both, and benchmon's decoding and writing of the two
/// overlap on the second core), instead of after it.
async fn raw_phase(
    cx: RawContext<'_>,
    r: &Resolved,
    plan: &CollectionPlan,
    victoriametrics: bool,
) -> Result<RawPhase, CollectError> {
    let RawContext {
        http,
        base,
        bundle,
        cancel,
        progress,
    } = cx;
    if plan.raw_selectors.is_empty() {
        return Ok(RawPhase::None);
    }
    if plan.raw_options.source == RawSource::Query {
        return Ok(RawPhase::ViaQuery { reason: None });
    }
    let source = plan.raw_options.source;
    if source == RawSource::Export || (source == RawSource::Auto && victoriametrics) {
        let req = RawRequest {
            url: base,
            selectors: &plan.raw_selectors,
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            formats: plan.raw_options.formats,
        };
        let outcome = export_vm(http, &req, bundle.path(), cancel).await;
        return match settle_raw(outcome, base, plan, VM_EXPORT)? {
            RawSettled::Written(w) => Ok(RawPhase::Done(w, "export")),
            RawSettled::ViaQuery(why) => Ok(RawPhase::ViaQuery { reason: Some(why) }),
        };
    }
    let (streaming, first_series) = tokio::sync::oneshot::channel();
    let (http, url, selectors) = (http.clone(), base.to_owned(), plan.raw_selectors.clone());
    let (dir, cancel, progress) = (bundle.path().to_owned(), cancel.clone(), progress.clone());
    let (start_ms, end_ms, formats) = (r.start_ms, r.end_ms, plan.raw_options.formats);
    let mut task = tokio::spawn(async move {
        let req = RawRequest {
            url: &url,
            selectors: &selectors,
            start_ms,
            end_ms,
            formats,
        };
        export_raw(&http, &req, &dir, &cancel, &progress, Some(streaming)).await
    });
    tokio::select! {
        Ok(()) = first_series => Ok(RawPhase::Streaming(task)),
        joined = &mut task => {
            let joined = joined.map_err(|e| CollectError::Task(e.to_string()))?;
            match settle_raw(joined, base, plan, REMOTE_READ)? {
                RawSettled::Written(w) => Ok(RawPhase::Done(w, "remote_read")),
                RawSettled::ViaQuery(why) => Ok(RawPhase::ViaQuery { reason: Some(why) }),
            }
        }
    }
}

/// What the raw paths are called in messages.
const REMOTE_READ: &str = "streamed remote read";
const VM_EXPORT: &str = "VictoriaMetrics export";

enum RawSettled {
    Written(RawWritten),
    /// The server has no such raw path (why), and the query fallback may take over.
    ViaQuery(String),
}

/// What an ended raw export means for the collection: written, to be redone through queries
/// (automatic source, one selector), or an error naming the path (`what`).
fn settle_raw(
    outcome: Result<RawOutcome, CollectError>,
    base: &str,
    plan: &CollectionPlan,
    what: &str,
) -> Result<RawSettled, CollectError> {
    match outcome? {
        RawOutcome::Written(w) => Ok(RawSettled::Written(w)),
        RawOutcome::Unsupported(why)
            if plan.raw_options.source == RawSource::Auto && plan.raw_selectors.len() == 1 =>
        {
            tracing::info!("{base} has no {what} ({why}); raw samples via queries");
            Ok(RawSettled::ViaQuery(why))
        }
        RawOutcome::Unsupported(why) => Err(CollectError::Response {
            query: RAW.to_owned(),
            reason: format!("no {what} at {base}: {why}"),
        }),
    }
}

/// Joins a raw export that streamed alongside the queries.
async fn join_raw(
    task: JoinHandle<Result<RawOutcome, CollectError>>,
    base: &str,
    plan: &CollectionPlan,
) -> Result<RawWritten, CollectError> {
    let joined = task.await.map_err(|e| CollectError::Task(e.to_string()))?;
    match settle_raw(joined, base, plan, REMOTE_READ)? {
        RawSettled::Written(w) => Ok(w),
        // It had sent series, so this came from a later selector's server answer.
        RawSettled::ViaQuery(why) => Err(CollectError::Response {
            query: RAW.to_owned(),
            reason: format!("no {REMOTE_READ} at {base}: {why}"),
        }),
    }
}

/// Puts the raw files first among the artifacts, where they were when the raw export ran
/// before the queries.
fn take_raw(m: &mut Merging, w: RawWritten, method: &'static str) {
    m.raw_series = w.series;
    m.raw_samples = w.samples;
    m.artifacts.splice(0..0, w.artifacts);
    m.raw_method = Some((method, None));
}

/// After a failure (with `cancel` fired): waits, up to [`DRAIN_TIMEOUT`], for the producer and
/// every fetch it started, so none writes into the temp directory as it is removed.
async fn drain(producer: JoinHandle<()>, mut rx: UnboundedReceiver<InFlight>) {
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let _ = producer.await;
        while let Some(f) = rx.recv().await {
            let _ = f.task.await;
        }
    })
    .await;
}
