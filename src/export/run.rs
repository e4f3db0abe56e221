//! Drives one collection: plans the requests, fetches them with bounded concurrency, merges
//! each query's chunks in order as soon as they are all in, writes the small files and the
//! manifest, and publishes the bundle.
//!
//! A producer task starts fetches (at most `concurrency` at once) in plan order and hands
//! their join handles, in the same order, to the consumer here, which merges while later
//! fetches run. On any error everything in flight is cancelled and awaited before the temp
//! directory is removed.

use super::bundle::{write_file, TempBundle};
use super::chart::Binning;
use super::coverage::{CoverageSink, TargetAcc};
use super::fetch::{fetch_matrix, Request};
use super::finish::{finish, Merging};
use super::matrix::Labels;
use super::merge::{merge_query, SampleFiles};
use super::part::{ChunkPart, PartSpec, PartWriter};
use super::plan::{self, Resolved, RAW};
use super::summary::{self, QuerySummary};
use super::{
    CollectError, CollectionOutcome, CollectionPlan, MetricKind, Progress, QueryReport, QueryStatus,
};
use crate::telemetry::{OutcomeLabels, METRICS};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Knobs with sensible defaults; tests shrink the chunks to exercise merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub max_points_per_chunk: u64,
    pub concurrency: usize,
    /// Length of a raw-export / coverage chunk; `None`: 240 scrape intervals, 5 min to 1 h.
    pub raw_chunk_ms: Option<i64>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_points_per_chunk: plan::MAX_POINTS_PER_CHUNK,
            concurrency: plan::CONCURRENCY,
            raw_chunk_ms: None,
        }
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Query(usize),
    Raw,
    Coverage,
}

struct Job {
    target: Target,
    name: Arc<str>,
    kind: Option<MetricKind>,
    chunk: usize,
    of: usize,
    request: Request,
}

enum Fetched {
    Part(ChunkPart),
    Coverage(HashMap<Labels, TargetAcc>),
}

type Handle = (
    Target,
    Arc<str>,
    usize,
    usize,
    JoinHandle<Result<Fetched, CollectError>>,
);

pub(super) fn emit(progress: &Option<UnboundedSender<Progress>>, p: Progress) {
    if let Some(tx) = progress {
        let _ = tx.send(p);
    }
}

fn plan_jobs(r: &Resolved, plan: &CollectionPlan, tuning: Tuning, left_open: bool) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (qi, q) in r.queries.iter().enumerate() {
        let chunks =
            plan::range_chunks(r.start_ms, r.end_ms, r.step_ms, tuning.max_points_per_chunk);
        let of = chunks.len();
        for (chunk, c) in chunks.into_iter().enumerate() {
            jobs.push(Job {
                target: Target::Query(qi),
                name: q.query.name.as_str().into(),
                kind: Some(q.query.kind),
                chunk,
                of,
                request: Request::Range {
                    promql: q.sent.clone(),
                    start_ms: c.start_ms,
                    end_ms: c.end_ms,
                    step_ms: r.step_ms,
                },
            });
        }
    }
    let instant = [
        (Target::Raw, &plan.raw_selector),
        (Target::Coverage, &plan.coverage_selector),
    ];
    for (target, sel) in instant {
        let Some(sel) = sel else { continue };
        let chunks = plan::instant_chunks(
            r.start_ms,
            r.end_ms,
            tuning.raw_chunk_ms.unwrap_or(r.raw_chunk_ms).max(1000),
            left_open,
        );
        let of = chunks.len();
        for (chunk, c) in chunks.into_iter().enumerate() {
            jobs.push(Job {
                target,
                name: if target == Target::Raw {
                    RAW
                } else {
                    "coverage"
                }
                .into(),
                kind: None,
                chunk,
                of,
                request: Request::Instant {
                    promql: format!("{}[{}ms]", sel.trim(), c.range_ms),
                    time_ms: c.time_ms,
                },
            });
        }
    }
    jobs
}

async fn run_job(
    http: reqwest::Client,
    base: String,
    job: Job,
    parts: PathBuf,
    binning: Binning,
    cancel: CancellationToken,
) -> Result<Fetched, CollectError> {
    let name = job.name.to_string();
    if job.target == Target::Coverage {
        return fetch_matrix(
            &http,
            &base,
            &name,
            &job.request,
            &cancel,
            || Ok(CoverageSink::default()),
            |s, _| Ok(Fetched::Coverage(s.targets)),
        )
        .await;
    }
    let stem = match job.target {
        Target::Query(i) => format!("q{i}-c{}", job.chunk),
        _ => format!("raw-c{}", job.chunk),
    };
    let spec = PartSpec {
        query: job.name.clone(),
        kind: job.kind,
        dir: parts,
        stem,
        binning,
        cancel: cancel.clone(),
    };
    let chunk = job.chunk;
    fetch_matrix(
        &http,
        &base,
        &name,
        &job.request,
        &cancel,
        move || PartWriter::create(spec, chunk),
        |w, meta| w.finish(meta).map(Fetched::Part),
    )
    .await
}

async fn run(
    http: &reqwest::Client,
    plan: CollectionPlan,
    progress: Option<UnboundedSender<Progress>>,
    tuning: Tuning,
    started: Instant,
) -> Result<CollectionOutcome, CollectError> {
    let r = plan::resolve(&plan)?;
    let base = plan.prometheus_url.trim_end_matches('/').to_owned();
    let version = crate::prometheus::PromClient::new(http.clone(), &base)
        .version()
        .await
        .unwrap_or_else(|_| "unknown".to_owned());
    // Prometheus 3 made range selectors left-open.
    let left_open = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 3);
    let bundle = TempBundle::create(&plan.bundle_parent, &plan.bundle_name)?;
    let parts = bundle.path().join(".parts");
    std::fs::create_dir(&parts).map_err(|e| CollectError::io(&parts, e))?;
    let jobs = plan_jobs(&r, &plan, tuning, left_open);
    emit(
        &progress,
        Progress::Started {
            queries: r.queries.len(),
            chunks: jobs.len(),
        },
    );

    let cancel = CancellationToken::new();
    // If the caller drops this future, in-flight fetches stop at their next series.
    let _stop_on_drop = cancel.clone().drop_guard();
    let (tx, mut rx) = mpsc::unbounded_channel::<Handle>();
    let binning = Binning {
        start_ms: r.start_ms,
        end_ms: r.end_ms,
    };
    let producer = {
        let (cancel, http, base, parts) =
            (cancel.clone(), http.clone(), base.clone(), parts.clone());
        let sem = Arc::new(tokio::sync::Semaphore::new(tuning.concurrency.max(1)));
        tokio::spawn(async move {
            for job in jobs {
                let permit = tokio::select! {
                    p = sem.clone().acquire_owned() => p,
                    _ = cancel.cancelled() => break,
                };
                let Ok(permit) = permit else { break };
                let (target, name, chunk, of) = (job.target, job.name.clone(), job.chunk, job.of);
                let task = run_job(
                    http.clone(),
                    base.clone(),
                    job,
                    parts.clone(),
                    binning,
                    cancel.clone(),
                );
                let h = tokio::spawn(async move {
                    let r = task.await;
                    drop(permit);
                    r
                });
                if tx.send((target, name, chunk, of, h)).is_err() {
                    break;
                }
            }
        })
    };

    let mut m = Merging {
        samples: if r.queries.is_empty() {
            None
        } else {
            Some(SampleFiles::create(bundle.path(), "samples")?)
        },
        raw: match plan.raw_selector {
            Some(_) => Some(SampleFiles::create(bundle.path(), RAW)?),
            None => None,
        },
        pending: Vec::new(),
        summaries: Vec::new(),
        series_rows: Vec::new(),
        charts: Vec::new(),
        coverage: BTreeMap::new(),
        raw_series: 0,
        raw_samples: 0,
        artifacts: Vec::new(),
        raw_warnings: Vec::new(),
    };
    let consumed = consume(&mut rx, &mut m, &r, &parts, &progress).await;
    if let Err(e) = consumed {
        cancel.cancel();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
            let _ = producer.await;
            while let Some((.., h)) = rx.recv().await {
                let _ = h.await;
            }
        })
        .await;
        return Err(e);
    }
    let _ = producer.await;
    finish(bundle, m, r, plan, version, progress, started).await
}

async fn consume(
    rx: &mut mpsc::UnboundedReceiver<Handle>,
    m: &mut Merging,
    r: &Resolved,
    parts: &std::path::Path,
    progress: &Option<UnboundedSender<Progress>>,
) -> Result<(), CollectError> {
    while let Some((target, name, chunk, of, h)) = rx.recv().await {
        let fetched = h.await.map_err(|e| CollectError::Task(e.to_string()))??;
        let samples = match &fetched {
            Fetched::Part(p) => p.samples,
            Fetched::Coverage(_) => 0,
        };
        let job = name.to_string();
        emit(
            progress,
            Progress::ChunkFetched {
                job,
                chunk,
                of,
                samples,
            },
        );
        match fetched {
            Fetched::Coverage(targets) => {
                for (labels, acc) in targets {
                    m.coverage.entry(labels).or_default().append(acc);
                }
            }
            Fetched::Part(part) => {
                m.pending.push(part);
                if chunk + 1 == of {
                    merge_target(m, target, &name, r, parts, progress).await?;
                }
            }
        }
    }
    Ok(())
}

async fn merge_target(
    m: &mut Merging,
    target: Target,
    name: &str,
    r: &Resolved,
    parts: &std::path::Path,
    progress: &Option<UnboundedSender<Progress>>,
) -> Result<(), CollectError> {
    let pending = std::mem::take(&mut m.pending);
    let chunks = pending.len();
    let slot = if target == Target::Raw {
        &mut m.raw
    } else {
        &mut m.samples
    };
    let mut files = slot
        .take()
        .ok_or_else(|| CollectError::Task("sample files missing".into()))?;
    let spill = parts.join(format!("{name}.spill"));
    let query = name.to_owned();
    let (mut files, merged) = tokio::task::spawn_blocking(move || {
        let merged = merge_query(&query, pending, &mut files, &spill);
        (files, merged)
    })
    .await
    .map_err(|e| CollectError::Task(e.to_string()))?;
    let merged = merged?;
    files.csv.sync_in_background()?;
    files.json.sync_in_background()?;
    *slot = Some(files);
    let series = merged.series.len() as u64;
    emit(
        progress,
        Progress::QueryDone {
            query: name.to_owned(),
            series,
            samples: merged.samples,
            absent: series == 0,
        },
    );
    let Target::Query(qi) = target else {
        m.raw_series = series;
        m.raw_samples = merged.samples;
        m.raw_warnings = merged.warnings;
        let rows: Vec<(String, String, Labels)> = merged
            .series
            .into_iter()
            .map(|(k, l)| (RAW.to_owned(), k, l))
            .collect();
        let dir = parts.parent().map(|p| p.to_owned()).unwrap_or_default();
        let art = tokio::task::spawn_blocking(move || {
            let bytes =
                summary::series_csv(&rows).map_err(|e| CollectError::Task(e.to_string()))?;
            write_file(&dir, "raw_series.csv", &bytes)
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
        m.artifacts.push(art);
        return Ok(());
    };
    let q = &r.queries[qi];
    let report = QueryReport {
        name: q.query.name.clone(),
        promql: q.query.promql.clone(),
        sent_promql: q.sent.clone(),
        kind: q.query.kind,
        origin: q.query.origin.clone(),
        status: if series == 0 {
            QueryStatus::Absent
        } else {
            QueryStatus::Ok
        },
        series,
        samples: merged.samples,
        chunks,
        warnings: merged.warnings,
        aggregate: merged.aggregate,
    };
    m.series_rows.extend(
        merged
            .series
            .into_iter()
            .map(|(k, l)| (q.query.name.clone(), k, l)),
    );
    m.charts.extend(merged.chart);
    m.summaries.push(QuerySummary {
        report,
        series: merged.kpis,
    });
    Ok(())
}
