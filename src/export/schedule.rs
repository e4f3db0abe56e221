//! The fetches of a collection: one per chunk of every query, of the raw export and of the
//! coverage selector, in plan order; each streams into a [`part`](super::part) on disk (or, for
//! coverage, into per-target state in memory).
//!
//! [`spawn_fetches`] starts them (at most `concurrency` at once) in plan order and hands them
//! over, in the same order, as [`InFlight`] fetches to the consumer, which merges while later
//! fetches run.

use super::chart::Binning;
use super::coverage::{CoverageSink, TargetAcc};
use super::fallback::FallbackPlan;
use super::fetch::{fetch_matrix, Request};
use super::matrix::Labels;
use super::part::{ChunkPart, PartSpec, PartWriter};
use super::plan::{self, Resolved, Tuning, RAW};
use super::{CollectError, CollectionPlan, MetricKind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where a fetch's data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Destination {
    /// The sample files, KPIs and chart of the plan's query with this index.
    Query(usize),
    /// The raw export (`raw.*`).
    Raw,
    /// Per-target coverage.
    Coverage,
}

/// One request of a collection: a chunk of a query, of the raw export or of coverage.
pub(super) struct Fetch {
    pub(super) dest: Destination,
    /// Query name (`raw`, `coverage` for those): the `query` column and the part's name.
    pub(super) name: Arc<str>,
    /// `None` for the raw export and coverage: no KPIs, no chart.
    pub(super) kind: Option<MetricKind>,
    pub(super) chunk: usize,
    /// Chunks of the same destination.
    pub(super) of: usize,
    /// The last fetch of a merge batch: its parts and those before are merged once it is in
    /// (a query's last chunk; the last request of a raw fallback batch).
    pub(super) merge_after: bool,
    pub(super) request: Request,
}

/// What a fetch produced.
pub(super) enum Fetched {
    Part(ChunkPart),
    Coverage(HashMap<Labels, TargetAcc>),
}

/// A started fetch, handed to the consumer in plan order.
pub(super) struct InFlight {
    pub(super) dest: Destination,
    pub(super) name: Arc<str>,
    pub(super) chunk: usize,
    pub(super) of: usize,
    pub(super) merge_after: bool,
    pub(super) task: JoinHandle<Result<Fetched, CollectError>>,
}

/// Every fetch of the plan, in plan order: the queries' range chunks, then the raw export's
/// (by the `fallback` plan: batch by batch, group by group) and coverage's instant chunks.
pub(super) fn plan_fetches(
    r: &Resolved,
    plan: &CollectionPlan,
    tuning: Tuning,
    left_open: bool,
    fallback: Option<&FallbackPlan>,
) -> Vec<Fetch> {
    let mut fetches = Vec::new();
    for (qi, q) in r.queries.iter().enumerate() {
        let chunks =
            plan::range_chunks(r.start_ms, r.end_ms, r.step_ms, tuning.max_points_per_chunk);
        let of = chunks.len();
        for (chunk, c) in chunks.into_iter().enumerate() {
            fetches.push(Fetch {
                dest: Destination::Query(qi),
                name: q.query.name.as_str().into(),
                kind: Some(q.query.kind),
                chunk,
                of,
                merge_after: chunk + 1 == of,
                request: Request::Range {
                    promql: q.sent.clone(),
                    start_ms: c.start_ms,
                    end_ms: c.end_ms,
                    step_ms: r.step_ms,
                },
            });
        }
    }
    if let Some(f) = fallback {
        fetches.extend(raw_fetches(r, f, left_open));
    }
    if let Some(sel) = &plan.coverage_selector {
        let chunk_ms = tuning.raw_chunk_ms.unwrap_or(r.raw_chunk_ms).max(1000);
        let chunks = plan::instant_chunks(r.start_ms, r.end_ms, chunk_ms, left_open);
        let of = chunks.len();
        for (chunk, c) in chunks.into_iter().enumerate() {
            fetches.push(Fetch {
                dest: Destination::Coverage,
                name: "coverage".into(),
                kind: None,
                chunk,
                of,
                merge_after: false,
                request: Request::Instant {
                    promql: format!("{}[{}ms]", sel.trim(), c.range_ms),
                    time_ms: c.time_ms,
                },
            });
        }
    }
    fetches
}

/// The raw fallback's requests: each group's selector over its own time chunks, batch by batch.
fn raw_fetches(r: &Resolved, f: &FallbackPlan, left_open: bool) -> Vec<Fetch> {
    let mut out = Vec::new();
    for batch in &f.batches {
        for g in &batch.groups {
            for c in plan::instant_chunks(r.start_ms, r.end_ms, g.chunk_ms, left_open) {
                out.push(Fetch {
                    dest: Destination::Raw,
                    name: RAW.into(),
                    kind: None,
                    chunk: out.len(),
                    of: 0,
                    merge_after: false,
                    request: Request::Instant {
                        promql: format!("{}[{}ms]", g.selector, c.range_ms),
                        time_ms: c.time_ms,
                    },
                });
            }
        }
        if let Some(last) = out.last_mut() {
            last.merge_after = true;
        }
    }
    let of = out.len();
    for fetch in &mut out {
        fetch.of = of;
    }
    out
}

/// What every fetch of a collection shares.
#[derive(Clone)]
pub(super) struct FetchContext {
    pub(super) http: reqwest::Client,
    /// Prometheus base URL, without a trailing `/`.
    pub(super) base: String,
    /// The parts directory in the temp bundle.
    pub(super) parts: PathBuf,
    pub(super) binning: Binning,
    pub(super) cancel: CancellationToken,
}

/// Starts `fetches` in order, at most `concurrency` at once, and sends each to `tx` as it
/// starts. Stops at cancellation or when the receiver is gone.
pub(super) fn spawn_fetches(
    fetches: Vec<Fetch>,
    cx: FetchContext,
    concurrency: usize,
    tx: UnboundedSender<InFlight>,
) -> JoinHandle<()> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    tokio::spawn(async move {
        for fetch in fetches {
            let permit = tokio::select! {
                p = sem.clone().acquire_owned() => p,
                _ = cx.cancel.cancelled() => break,
            };
            let Ok(permit) = permit else { break };
            let (dest, name, chunk, of) = (fetch.dest, fetch.name.clone(), fetch.chunk, fetch.of);
            let merge_after = fetch.merge_after;
            let run = run_fetch(cx.clone(), fetch);
            let task = tokio::spawn(async move {
                let r = run.await;
                drop(permit);
                r
            });
            let started = InFlight {
                dest,
                name,
                chunk,
                of,
                merge_after,
                task,
            };
            if tx.send(started).is_err() {
                break;
            }
        }
    })
}

/// Runs one fetch: into a part on disk, or into coverage state.
async fn run_fetch(cx: FetchContext, fetch: Fetch) -> Result<Fetched, CollectError> {
    let FetchContext {
        http,
        base,
        parts,
        binning,
        cancel,
    } = cx;
    let name = fetch.name.to_string();
    if fetch.dest == Destination::Coverage {
        return fetch_matrix(
            &http,
            &base,
            &name,
            &fetch.request,
            &cancel,
            || Ok(CoverageSink::default()),
            |s, _| Ok(Fetched::Coverage(s.targets)),
        )
        .await;
    }
    let stem = match fetch.dest {
        Destination::Query(i) => format!("q{i}-c{}", fetch.chunk),
        _ => format!("raw-c{}", fetch.chunk),
    };
    let spec = PartSpec {
        query: fetch.name.clone(),
        kind: fetch.kind,
        dir: parts,
        stem,
        binning,
        cancel: cancel.clone(),
    };
    fetch_matrix(
        &http,
        &base,
        &name,
        &fetch.request,
        &cancel,
        move || PartWriter::create(spec),
        |w, meta| w.finish(meta).map(Fetched::Part),
    )
    .await
}
