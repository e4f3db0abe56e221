//! Drives one collection: resolves the plan, starts the fetches with bounded concurrency
//! ([`schedule`](super::schedule)), merges each query's chunks in order as soon as they are all
//! in ([`consume`](super::consume)), then writes the small files and the manifest and publishes
//! the bundle ([`finish`](super::finish)).
//!
//! A producer task starts fetches (at most `concurrency` at once) in plan order and hands
//! them, in the same order, to the consumer here, which merges while later fetches run. On any
//! error everything in flight is cancelled and awaited before the temp directory is removed.

use super::budget;
use super::bundle::TempBundle;
use super::chart::Binning;
use super::consume::{Consumer, Merging};
use super::finish::{finish, Finish};
use super::plan::{self, Resolved, Tuning, RAW};
use super::progress::{emit, ProgressTx};
use super::raw::{export_raw, export_vm, RawOutcome, RawRequest, RawWritten};
use super::schedule::{plan_fetches, spawn_fetches, FetchContext, InFlight};
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
    // Before anything is written: a collection over the budget leaves no trace. Without a
    // budget nothing needs the estimate (counting costs Prometheus ≈ 0.5 s per 100 k series).
    let estimate = match plan.max_points {
        Some(_) => budget::estimate(http, &base, &r, &plan).await?,
        None => budget::Estimate::default(),
    };
    budget::check(&estimate, plan.max_points)?;
    let bundle = TempBundle::create(&plan.bundle_parent, &plan.bundle_name)?;
    let parts = bundle.path().join(".parts");
    std::fs::create_dir(&parts).map_err(|e| CollectError::io(&parts, e))?;

    let cancel = CancellationToken::new();
    // If the caller drops this future, in-flight fetches stop at their next series.
    let _stop_on_drop = cancel.clone().drop_guard();
    let raw = raw_phase(http, &base, &r, &plan, &bundle, &cancel, victoriametrics).await?;
    let raw_chunk_ms = match &raw {
        RawPhase::ViaQuery { .. } => {
            let raw_series = match plan.max_points {
                Some(_) => estimate.raw_series,
                None => budget::estimate(http, &base, &r, &plan).await?.raw_series,
            };
            Some(fallback_chunk_ms(&r, tuning, raw_series))
        }
        RawPhase::None | RawPhase::Done(..) => None,
    };
    let fetches = plan_fetches(&r, &plan, tuning, left_open, raw_chunk_ms);
    emit(
        &progress,
        Progress::Started {
            queries: r.queries.len(),
            chunks: fetches.len(),
        },
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<InFlight>();
    let cx = FetchContext {
        http: http.clone(),
        base,
        parts: parts.clone(),
        binning: Binning {
            start_ms: r.start_ms,
            end_ms: r.end_ms,
        },
        cancel: cancel.clone(),
    };
    let producer = spawn_fetches(fetches, cx, tuning.concurrency, tx);

    let mut m = Merging::create(bundle.path(), !r.queries.is_empty(), raw_chunk_ms.is_some())?;
    m.samples_parquet = plan.samples_parquet;
    match raw {
        RawPhase::None => {}
        RawPhase::Done(w, method) => {
            m.raw_series = w.series;
            m.raw_samples = w.samples;
            m.artifacts.extend(w.artifacts);
            m.raw_method = Some((method, None));
        }
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
        return Err(e);
    }
    let _ = producer.await;
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

/// The raw export, done before the query fetches start (remote read or VictoriaMetrics' export
/// stream it alone), or left to them when it is to go through range-vector queries.
enum RawPhase {
    None,
    /// Written, by `remote_read` or `export`.
    Done(RawWritten, &'static str),
    /// Range-vector queries, because the plan asks so or (`reason`) the server streams neither.
    ViaQuery {
        reason: Option<String>,
    },
}

async fn raw_phase(
    http: &reqwest::Client,
    base: &str,
    r: &Resolved,
    plan: &CollectionPlan,
    bundle: &TempBundle,
    cancel: &CancellationToken,
    victoriametrics: bool,
) -> Result<RawPhase, CollectError> {
    if plan.raw_selectors.is_empty() {
        return Ok(RawPhase::None);
    }
    let source = plan.raw_options.source;
    if source == RawSource::Query {
        return Ok(RawPhase::ViaQuery { reason: None });
    }
    let req = RawRequest {
        url: base,
        selectors: &plan.raw_selectors,
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        formats: plan.raw_options.formats,
    };
    let export = source == RawSource::Export || (source == RawSource::Auto && victoriametrics);
    let (outcome, method, what) = match export {
        true => (
            export_vm(http, &req, bundle.path(), cancel).await?,
            "export",
            "VictoriaMetrics export",
        ),
        false => (
            export_raw(http, &req, bundle.path(), cancel).await?,
            "remote_read",
            "streamed remote read",
        ),
    };
    match outcome {
        RawOutcome::Written(w) => Ok(RawPhase::Done(w, method)),
        RawOutcome::Unsupported(why)
            if source == RawSource::Auto && plan.raw_selectors.len() == 1 =>
        {
            tracing::info!("{base} has no {what} ({why}); raw samples via queries");
            Ok(RawPhase::ViaQuery { reason: Some(why) })
        }
        RawOutcome::Unsupported(why) => Err(CollectError::Response {
            query: RAW.to_owned(),
            reason: format!("no {what} at {base}: {why}"),
        }),
    }
}

/// Samples one range-vector request may load in the query fallback: a tenth of Prometheus's
/// default `--query.max-samples` (50 M), so a server with a lower limit still has room.
const FALLBACK_REQUEST_SAMPLES: u64 = 5_000_000;

/// Length of one raw chunk in the query fallback: short enough that the selector's series ×
/// the chunk's scrapes stay under [`FALLBACK_REQUEST_SAMPLES`] (at least one second).
fn fallback_chunk_ms(r: &Resolved, tuning: Tuning, raw_series: u64) -> i64 {
    let scrape_ms = r.scrape_ms.unwrap_or(15_000).max(1);
    let scrapes = (FALLBACK_REQUEST_SAMPLES / raw_series.max(1)).max(1);
    let sized = i64::try_from(scrapes)
        .unwrap_or(i64::MAX)
        .saturating_mul(scrape_ms);
    tuning
        .raw_chunk_ms
        .unwrap_or(r.raw_chunk_ms)
        .min(sized)
        .max(1000)
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
