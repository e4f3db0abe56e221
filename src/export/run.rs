//! Drives one collection: resolves the plan, starts the fetches with bounded concurrency
//! ([`schedule`](super::schedule)), merges each query's chunks in order as soon as they are all
//! in ([`consume`](super::consume)), then writes the small files and the manifest and publishes
//! the bundle ([`finish`](super::finish)).
//!
//! A producer task starts fetches (at most `concurrency` at once) in plan order and hands
//! them, in the same order, to the consumer here, which merges while later fetches run. On any
//! error everything in flight is cancelled and awaited before the temp directory is removed.

use super::bundle::TempBundle;
use super::chart::Binning;
use super::consume::{Consumer, Merging};
use super::finish::{finish, Finish};
use super::plan::{self, Tuning};
use super::progress::{emit, ProgressTx};
use super::schedule::{plan_fetches, spawn_fetches, FetchContext, InFlight};
use super::{CollectError, CollectionOutcome, CollectionPlan, Progress};
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

/// The Prometheus version (`unknown` if it does not say), and whether its range selectors are
/// left-open (Prometheus 3 made them so).
async fn prometheus_version(http: &reqwest::Client, base: &str) -> (String, bool) {
    let version = crate::prometheus::PromClient::new(http.clone(), base)
        .version()
        .await
        .unwrap_or_else(|_| "unknown".to_owned());
    let left_open = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 3);
    (version, left_open)
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
    let (version, left_open) = prometheus_version(http, &base).await;
    let bundle = TempBundle::create(&plan.bundle_parent, &plan.bundle_name)?;
    let parts = bundle.path().join(".parts");
    std::fs::create_dir(&parts).map_err(|e| CollectError::io(&parts, e))?;
    let fetches = plan_fetches(&r, &plan, tuning, left_open);
    emit(
        &progress,
        Progress::Started {
            queries: r.queries.len(),
            chunks: fetches.len(),
        },
    );

    let cancel = CancellationToken::new();
    // If the caller drops this future, in-flight fetches stop at their next series.
    let _stop_on_drop = cancel.clone().drop_guard();
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

    let mut m = Merging::create(
        bundle.path(),
        !r.queries.is_empty(),
        plan.raw_selector.is_some(),
    )?;
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
