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
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
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
    /// A raw fallback request's span, cut in two if the server refuses it as too many samples.
    pub(super) raw_span: Option<RawSpan>,
}

/// The span of a raw fallback request: the samples of `selector` in `from_ms..=time_ms`.
#[derive(Debug, Clone)]
pub(super) struct RawSpan {
    selector: Arc<str>,
    from_ms: i64,
    time_ms: i64,
    /// Range selectors are left-open (Prometheus 3): `[r]` at `t` selects `(t-r, t]`.
    left_open: bool,
}

impl RawSpan {
    fn request(&self) -> Request {
        let range_ms = self.time_ms - self.from_ms + i64::from(self.left_open);
        Request::Instant {
            promql: format!("{}[{range_ms}ms]", self.selector),
            time_ms: self.time_ms,
        }
    }

    /// The two halves, each at least 1 ms of range in the closed form.
    fn halves(&self) -> Option<(RawSpan, RawSpan)> {
        if self.time_ms - self.from_ms < 3 {
            return None;
        }
        let mid = self.from_ms + (self.time_ms - self.from_ms) / 2;
        let first = RawSpan {
            time_ms: mid,
            ..self.clone()
        };
        let second = RawSpan {
            from_ms: mid + 1,
            ..self.clone()
        };
        Some((first, second))
    }
}

/// What a fetch produced.
pub(super) enum Fetched {
    Part(ChunkPart),
    /// A raw fallback request's parts in time order: more than one when the server refused it
    /// as too many samples and its halves were fetched instead.
    Parts(Vec<ChunkPart>),
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

/// The query fetches: every query's chunks, in query order. They are queued first, before the
/// raw export's path is known, so Prometheus answers them while it prepares the raw stream.
pub(super) fn query_fetches(r: &Resolved, tuning: Tuning) -> Vec<Fetch> {
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
                raw_span: None,
            });
        }
    }
    fetches
}

/// The coverage fetches: the coverage selector's instant range vectors, chunk by chunk (queued
/// after the queries and the raw fallback's requests).
pub(super) fn coverage_fetches(
    r: &Resolved,
    plan: &CollectionPlan,
    tuning: Tuning,
    left_open: bool,
) -> Vec<Fetch> {
    let Some(sel) = &plan.coverage_selector else {
        return Vec::new();
    };
    let chunk_ms = tuning.raw_chunk_ms.unwrap_or(r.raw_chunk_ms).max(1000);
    let chunks = plan::instant_chunks(r.start_ms, r.end_ms, chunk_ms, left_open);
    let of = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(chunk, c)| Fetch {
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
            raw_span: None,
        })
        .collect()
}

/// The raw fallback's requests: each group's selector over its own time chunks, batch by batch.
pub(super) fn raw_fetches(r: &Resolved, f: &FallbackPlan, left_open: bool) -> Vec<Fetch> {
    let mut out = Vec::new();
    for batch in &f.batches {
        for g in &batch.groups {
            let selector: Arc<str> = g.selector.as_str().into();
            for c in plan::instant_chunks(r.start_ms, r.end_ms, g.chunk_ms, left_open) {
                let span = RawSpan {
                    selector: selector.clone(),
                    from_ms: c.from_ms,
                    time_ms: c.time_ms,
                    left_open,
                };
                out.push(Fetch {
                    dest: Destination::Raw,
                    name: RAW.into(),
                    kind: None,
                    chunk: out.len(),
                    of: 0,
                    merge_after: false,
                    request: span.request(),
                    raw_span: Some(span),
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

/// Starts the fetches queued on `fetches` in order, at most `concurrency` at once, and sends
/// each to `tx` as it starts. Ends when the queue is closed and empty, at cancellation, or when
/// the receiver is gone.
pub(super) fn spawn_fetches(
    mut fetches: UnboundedReceiver<Fetch>,
    cx: FetchContext,
    concurrency: usize,
    tx: UnboundedSender<InFlight>,
) -> JoinHandle<()> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    tokio::spawn(async move {
        loop {
            let fetch = tokio::select! {
                f = fetches.recv() => f,
                _ = cx.cancel.cancelled() => None,
            };
            let Some(fetch) = fetch else { break };
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
    if let Some(span) = fetch.raw_span {
        let cx = RawCx {
            http: &http,
            base: &base,
            name: &name,
            cancel: &cancel,
        };
        return fetch_raw_span(cx, spec, span).await.map(Fetched::Parts);
    }
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

/// Refusals of one raw fallback request before its error stands: its halves, their halves …
/// cope with samples up to 64 times denser than the plan's scrape interval.
const MAX_REFUSALS: usize = 64;

/// What a raw fallback request needs besides its part and span.
struct RawCx<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    name: &'a str,
    cancel: &'a CancellationToken,
}

/// Whether the server refused a query for the samples it would load (Prometheus's
/// `--query.max-samples`, VictoriaMetrics' `-search.maxSamplesPerQuery`).
fn over_sample_limit(e: &CollectError) -> bool {
    matches!(e, CollectError::Query { message, .. }
        if message.contains("too many samples") || message.contains("maxSamplesPerQuery"))
}

/// A raw fallback request; if the server refuses it as too many samples (the series were
/// scraped more often than the plan assumed), its two halves instead, and so on. Parts in
/// time order.
async fn fetch_raw_span(
    cx: RawCx<'_>,
    spec: PartSpec,
    span: RawSpan,
) -> Result<Vec<ChunkPart>, CollectError> {
    let mut todo = std::collections::VecDeque::from([span]);
    let (mut parts, mut refusals) = (Vec::new(), 0);
    while let Some(span) = todo.pop_front() {
        let part = PartSpec {
            stem: match refusals {
                0 => spec.stem.clone(),
                n => format!("{}-{n}-{}", spec.stem, parts.len()),
            },
            ..spec.clone()
        };
        let fetched = fetch_matrix(
            cx.http,
            cx.base,
            cx.name,
            &span.request(),
            cx.cancel,
            move || PartWriter::create(part),
            |w, meta| w.finish(meta),
        )
        .await;
        match fetched {
            Ok(p) => parts.push(p),
            Err(e) if over_sample_limit(&e) && refusals < MAX_REFUSALS => {
                let Some((first, second)) = span.halves() else {
                    return Err(e);
                };
                refusals += 1;
                tracing::debug!(refusals, "raw request over the sample limit: halved");
                todo.push_front(second);
                todo.push_front(first);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_span_halves_into_two_spans_that_select_each_millisecond_once() {
        for left_open in [false, true] {
            let span = RawSpan {
                selector: "{a=\"b\"}".into(),
                from_ms: 1000,
                time_ms: 1999,
                left_open,
            };
            let (a, b) = span.halves().unwrap();
            assert_eq!(
                (a.from_ms, a.time_ms, b.from_ms, b.time_ms),
                (1000, 1499, 1500, 1999)
            );
            let range = |s: &RawSpan| match s.request() {
                Request::Instant { promql, .. } => promql,
                Request::Range { .. } => unreachable!(),
            };
            let open = i64::from(left_open);
            assert_eq!(range(&a), format!("{{a=\"b\"}}[{}ms]", 499 + open));
            assert_eq!(range(&b), format!("{{a=\"b\"}}[{}ms]", 499 + open));
        }
        let tiny = RawSpan {
            selector: "x".into(),
            from_ms: 5,
            time_ms: 7,
            left_open: false,
        };
        assert!(tiny.halves().is_none());
    }
}
