//! The raw export: every sample of every series a selector matches, as Prometheus stored it.
//!
//! Read through Prometheus's streamed remote-read API ([`crate::prometheus::remote_read`]):
//! binary XOR chunks, no `--query.max-samples` limit, constant memory on both sides, ≈ 10×
//! fewer bytes than JSON. Series arrive one at a time (sorted by labels, as the JSON path writes
//! them too) and go through a small bounded channel to a writer thread, so memory is one series
//! plus a Parquet row group whatever the window or the number of series. A server without
//! streamed remote read answers [`RawOutcome::Unsupported`] and the caller falls back to range-
//! vector queries. A VictoriaMetrics (no remote read) is read through its streaming
//! `/api/v1/export` instead ([`vm_export`]).

mod files;
pub mod text;
mod vm_export;

pub(crate) use files::SeriesSpill;
pub use files::{RawFiles, RawWritten};
pub use vm_export::export_vm;

use super::formats::Formats;
use super::progress::{emit, ProgressTx};
use super::{CollectError, Progress};
use crate::prometheus::remote_read::{read_raw_recycling, RawSeries, RemoteReadError};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel};
use tokio_util::sync::CancellationToken;

/// Batches queued between the reader and the writer thread.
const QUEUE: usize = 8;
/// Samples in one batch: one hand-over per batch, not per series (a hand-over wakes a thread,
/// which cost a quarter of the CPU when 100 k short series went one by one).
const BATCH_SAMPLES: usize = 64 * 1024;
/// Largest sample buffer a written series keeps for reuse (64 KiB).
const SPARE_MAX_SAMPLES: usize = 4 * 1024;

/// One raw export.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    /// Base URL of the Prometheus.
    pub url: &'a str,
    /// Vector selectors (`{session="bench-42"}`), read one after the other; a series an
    /// earlier one matched is skipped (by a 64-bit hash of its labels).
    pub selectors: &'a [String],
    /// Inclusive on both ends, as a range vector `selector[end-start]` at `end` is.
    pub start_ms: i64,
    pub end_ms: i64,
    pub formats: Formats,
}

/// How a raw export ended.
#[derive(Debug)]
pub enum RawOutcome {
    Written(RawWritten),
    /// The server does not serve streamed remote read (its answer is the reason); nothing was
    /// written.
    Unsupported(String),
}

/// Streams the raw samples of `req` into `dir` (the bundle's temp directory).
///
/// `streaming`, if given, is told when the first series arrived: from then on the server
/// has shown it serves streamed remote read, so the caller can start other work alongside.
pub async fn export_raw(
    http: &reqwest::Client,
    req: &RawRequest<'_>,
    dir: &Path,
    cancel: &CancellationToken,
    progress: &ProgressTx,
    mut streaming: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<RawOutcome, CollectError> {
    let asked = std::time::Instant::now();
    let label_names = label_names(http, req).await?;
    tracing::debug!(
        elapsed_ms = asked.elapsed().as_millis() as u64,
        "raw export: {} label names",
        label_names.len()
    );
    let (tx, rx) = sync_channel::<Vec<RawSeries>>(QUEUE);
    // Written batches come back to be freed by the thread that allocated them: glibc frees a
    // block into its own thread's arena, and freeing on the writer contended for that lock.
    let (done_tx, done_rx) = channel::<Vec<RawSeries>>();
    let (dir_owned, formats) = (dir.to_owned(), req.formats);
    let writer = tokio::task::spawn_blocking(move || {
        let mut files = RawFiles::create(&dir_owned, &label_names, formats)?;
        for batch in rx {
            for s in &batch {
                files.write_series(&s.labels, &s.samples)?;
            }
            let _ = done_tx.send(batch);
        }
        files.finish()
    });
    // A receiver is not `Sync`; in a mutex it keeps the reading future `Send`.
    let done_rx = std::sync::Mutex::new(done_rx);
    // Written series, reused one for one by the reader (their label strings and sample
    // vectors): no allocation per series once the first batches are back.
    let mut spares: Vec<RawSeries> = Vec::new();
    let mut next_spare = || {
        if spares.is_empty() {
            if let Ok(rx) = done_rx.lock() {
                if let Ok(written) = rx.try_recv() {
                    spares = written;
                }
            }
        }
        let mut s = spares.pop()?;
        // A long series' buffer is not kept for short ones: memory stays one batch.
        if s.samples.capacity() > SPARE_MAX_SAMPLES {
            s.samples = Vec::new();
        }
        Some(s)
    };
    let (mut batch, mut batch_samples) = (Vec::new(), 0);
    let mut handed_over: u64 = 0;
    let mut seen = HashSet::new();
    let several = req.selectors.len() > 1;
    let mut on_series = |s: RawSeries| {
        if let Some(tx) = streaming.take() {
            let _ = tx.send(());
        }
        if several && !seen.insert(labels_hash(&s.labels)) {
            return Ok(Some(s));
        }
        batch_samples += s.samples.len();
        batch.push(s);
        let spare = next_spare();
        if batch_samples < BATCH_SAMPLES {
            return Ok(spare);
        }
        handed_over += batch_samples as u64;
        emit(
            progress,
            Progress::RawSamples {
                samples: handed_over,
            },
        );
        batch_samples = 0;
        // Blocks this thread while the writer is QUEUE batches behind: the back-pressure
        // that bounds memory (the read pauses; Prometheus's stream waits in the socket).
        tx.send(std::mem::take(&mut batch))
            .map(|()| spare)
            .map_err(|_| "the raw writer stopped")
    };
    let mut read = Ok(Default::default());
    for selector in req.selectors {
        read = read_raw_recycling(
            http,
            req.url,
            selector,
            (req.start_ms, req.end_ms),
            cancel,
            &mut on_series,
        )
        .await;
        if read.is_err() {
            break;
        }
    }
    if read.is_ok() && !batch.is_empty() {
        handed_over += batch_samples as u64;
        if tx.send(batch).is_err() {
            read = Err(RemoteReadError::Sink("the raw writer stopped".into()));
        }
        emit(
            progress,
            Progress::RawSamples {
                samples: handed_over,
            },
        );
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
    match read {
        Ok(_) => Ok(RawOutcome::Written(written?)),
        Err(e @ (RemoteReadError::Unsupported { .. } | RemoteReadError::Status { .. }))
            if unsupported(&e) =>
        {
            for name in ["raw.parquet", "raw.csv", "raw_series.csv", "raw.json"] {
                let _ = std::fs::remove_file(dir.join(name));
            }
            Ok(RawOutcome::Unsupported(e.to_string()))
        }
        // The writer's own error explains a closed channel better than the reader's.
        Err(RemoteReadError::Sink(_)) => Err(written
            .err()
            .unwrap_or_else(|| CollectError::Task("the raw writer stopped".into()))),
        Err(RemoteReadError::Cancelled) => Err(CollectError::Cancelled),
        Err(e) => Err(CollectError::Response {
            query: super::plan::RAW.to_owned(),
            reason: format!("remote read from {}: {e}", req.url),
        }),
    }
}

/// Identity of a series across selectors.
fn labels_hash(labels: &[(String, String)]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

/// Answers that mean "this server has no streamed remote read", not "this read failed": a
/// non-streamed content type, or a refusal of the endpoint or of the request's encoding.
fn unsupported(e: &RemoteReadError) -> bool {
    match e {
        RemoteReadError::Unsupported { .. } => true,
        RemoteReadError::Status { status, .. } => {
            matches!(status.as_u16(), 400 | 404 | 405 | 406 | 415 | 501)
        }
        _ => false,
    }
}

#[derive(serde::Deserialize)]
struct LabelsAnswer {
    data: Vec<String>,
}

/// Every label name of the series in the window: the Parquet columns.
async fn label_names(
    http: &reqwest::Client,
    req: &RawRequest<'_>,
) -> Result<Vec<String>, CollectError> {
    let url = format!("{}/api/v1/labels", req.url.trim_end_matches('/'));
    let mut form: Vec<(&str, String)> = req
        .selectors
        .iter()
        .map(|s| ("match[]", s.clone()))
        .collect();
    form.push(("start", super::plan::unix_text(req.start_ms)));
    form.push(("end", super::plan::unix_text(req.end_ms)));
    let http_err = |source| CollectError::Http {
        query: super::plan::RAW.to_owned(),
        url: url.clone(),
        source,
    };
    let resp = http.post(&url).form(&form).send().await.map_err(http_err)?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(http_err)?;
    if !status.is_success() {
        return Err(CollectError::Status {
            query: super::plan::RAW.to_owned(),
            url,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned(),
        });
    }
    let answer: LabelsAnswer =
        serde_json::from_slice(&body).map_err(|e| CollectError::Response {
            query: super::plan::RAW.to_owned(),
            reason: format!("label names: {e}"),
        })?;
    Ok(answer.data)
}
