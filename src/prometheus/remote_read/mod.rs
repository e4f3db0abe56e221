//! Raw samples from Prometheus's streamed remote-read API (`POST /api/v1/read` with
//! `STREAMED_XOR_CHUNKS`), decoded as the body arrives.
//!
//! The JSON query API materialises a whole result in Prometheus's memory and is capped by
//! `--query.max-samples`; a streamed remote read sends TSDB chunks series after series in frames
//! of about 1 MiB, so reading every raw sample of a long window costs both sides memory bounded
//! by one frame (plus, here, the samples of the one series being assembled), not by the window
//! or the number of series. The samples handed out equal those of the JSON range-vector query
//! `selector[end - start]` evaluated at `end` (see [`read_raw`] for the exact interval).

pub mod frames;
pub mod proto;
pub mod selector;
pub mod wire;
pub mod xor;

use prost::Message;
use proto::{ChunkEncoding, MatcherType};
use selector::{MatchOp, SelectorError};
use tokio_util::sync::CancellationToken;

/// The bit pattern Prometheus writes as a staleness marker (`value.StaleNaN`); PromQL never
/// returns it, so neither do we. Other NaNs are ordinary values.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The response content type of a streamed remote read.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Most characters of an error response body kept in [`RemoteReadError::Status`].
const MAX_ERROR_BODY_CHARS: usize = 2000;

/// One series with its samples in the requested range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSeries {
    /// Sorted by name, as Prometheus sends them; `__name__` included.
    pub labels: Vec<(String, String)>,
    /// `(timestamp_ms, value)`, strictly increasing timestamps, no staleness markers.
    pub samples: Vec<(i64, f64)>,
}

/// What one read transferred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Series handed to the callback (those with at least one sample in range).
    pub series: u64,
    /// Samples handed to the callback.
    pub samples: u64,
    /// Frames received.
    pub frames: u64,
    /// Response body bytes received.
    pub bytes: u64,
}

/// Why a remote read failed. `Status` and `Unsupported` mean "this Prometheus will not stream
/// to us": a caller can fall back to the JSON API; the others are failures of the read itself.
#[derive(Debug, thiserror::Error)]
pub enum RemoteReadError {
    #[error("invalid selector: {0}")]
    Selector(#[from] SelectorError),
    #[error("invalid range: start {start_ms} ms is after end {end_ms} ms")]
    InvalidRange { start_ms: i64, end_ms: i64 },
    #[error("remote read request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("remote read answered HTTP {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        /// The start of the response body (at most 2000 characters).
        body: String,
    },
    #[error("remote read answered content type {content_type:?}, not a streamed response")]
    Unsupported { content_type: String },
    #[error("remote read stream: {0}")]
    Frame(#[from] frames::FrameError),
    #[error("remote read frame {frame}: undecodable ChunkedReadResponse: {source}")]
    Decode { frame: u64, source: wire::WireError },
    #[error(
        "remote read: series {series} has a chunk of encoding {encoding}, not XOR (float samples)"
    )]
    UnsupportedChunk { series: String, encoding: String },
    #[error("remote read: series {series}: {source}")]
    Chunk {
        series: String,
        source: xor::XorError,
    },
    #[error("remote read cancelled")]
    Cancelled,
    #[error("remote read consumer failed: {0}")]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}

/// Streams every series matching `selector` with its samples at `start_ms <= t <= end_ms`.
///
/// The interval is closed at both ends, as remote read itself and as Prometheus 2.x's range
/// vectors: `selector[d]` evaluated at `end` holds the samples of `[end - d, end]`, so
/// `read_raw(.., end - d, end, ..)` yields exactly them (proved against Prometheus 2.42 by the
/// `collect` integration tests). Staleness markers are dropped, as PromQL drops them; other
/// NaNs are kept. Chunks are cut to the interval and samples deduplicated by timestamp (chunks
/// of one series may overlap); series left without samples are not reported.
///
/// `on_series` is called once per series, in Prometheus's order (sorted by labels). Prometheus
/// may split a long series over several consecutive frame entries with equal labels; they are
/// merged first, so memory holds one frame plus the samples of the current series.
///
/// The selector is checked before any request. The read stops with
/// [`RemoteReadError::Cancelled`] when `cancel` fires, and with [`RemoteReadError::Sink`] when
/// `on_series` fails.
pub async fn read_raw<F, E>(
    http: &reqwest::Client,
    base_url: &str,
    selector: &str,
    start_ms: i64,
    end_ms: i64,
    cancel: &CancellationToken,
    mut on_series: F,
) -> Result<ReadStats, RemoteReadError>
where
    F: FnMut(RawSeries) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let range = (start_ms, end_ms);
    read_raw_recycling(http, base_url, selector, range, cancel, |s| {
        on_series(s).map(|()| None)
    })
    .await
}

/// [`read_raw`] where `on_series` may hand back a spent [`RawSeries`] for each one it takes:
/// the next series is assembled in its buffers, so a long export allocates no labels or
/// sample vectors per series once the first batches have come back.
pub async fn read_raw_recycling<F, E>(
    http: &reqwest::Client,
    base_url: &str,
    selector: &str,
    (start_ms, end_ms): (i64, i64),
    cancel: &CancellationToken,
    mut on_series: F,
) -> Result<ReadStats, RemoteReadError>
where
    F: FnMut(RawSeries) -> Result<Option<RawSeries>, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let matchers = selector::parse_selector(selector)?;
    if start_ms > end_ms {
        return Err(RemoteReadError::InvalidRange { start_ms, end_ms });
    }
    let body = request_body(&matchers, start_ms, end_ms);
    let url = format!("{}/api/v1/read", base_url.trim_end_matches('/'));
    let request = http
        .post(url)
        .header(reqwest::header::CONTENT_ENCODING, "snappy")
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(body)
        .send();
    let mut resp = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(RemoteReadError::Cancelled),
        r = request => r?,
    };
    if !resp.status().is_success() {
        return Err(status_error(resp, cancel).await);
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !is_streamed(&content_type) {
        return Err(RemoteReadError::Unsupported { content_type });
    }

    let mut stats = ReadStats::default();
    let mut decoder = frames::FrameDecoder::default();
    let mut asm = Assembler::new(start_ms, end_ms);
    let mut emit = |s: RawSeries, stats: &mut ReadStats, asm: &mut Assembler| {
        stats.series += 1;
        stats.samples += s.samples.len() as u64;
        let spare = on_series(s).map_err(|e| RemoteReadError::Sink(e.into()))?;
        asm.spare.extend(spare);
        Ok::<_, RemoteReadError>(())
    };
    loop {
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RemoteReadError::Cancelled),
            c = resp.chunk() => c?,
        };
        let Some(chunk) = chunk else { break };
        stats.bytes += chunk.len() as u64;
        decoder.push(&chunk);
        while let Some(frame) = decoder.next_frame()? {
            let frame_no = decoder.frames() - 1;
            wire::for_each_series(&frame, |labels, chunks| {
                if let Some(done) = asm.add(labels, chunks)? {
                    emit(done, &mut stats, &mut asm)?;
                }
                Ok(())
            })
            .map_err(|e| match e {
                InFrame::Wire(source) => RemoteReadError::Decode {
                    frame: frame_no,
                    source,
                },
                InFrame::Read(e) => e,
            })?;
        }
    }
    decoder.finish()?;
    stats.frames = decoder.frames();
    if let Some(done) = asm.finish() {
        emit(done, &mut stats, &mut asm)?;
    }
    Ok(stats)
}

/// A failure while going through one frame's series: its protobuf, or the series themselves.
enum InFrame {
    Wire(wire::WireError),
    Read(RemoteReadError),
}

impl From<wire::WireError> for InFrame {
    fn from(e: wire::WireError) -> Self {
        InFrame::Wire(e)
    }
}

impl From<RemoteReadError> for InFrame {
    fn from(e: RemoteReadError) -> Self {
        InFrame::Read(e)
    }
}

/// Whether a response content type announces the streamed chunk format.
fn is_streamed(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    parts
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("application/x-streamed-protobuf"))
        && parts.any(|p| p.replace(' ', "") == "proto=prometheus.ChunkedReadResponse")
}

/// The snappy-compressed (block format) protobuf `ReadRequest` for one query.
///
/// Equality matchers are sent as the equivalent anchored regex of the escaped value:
/// Prometheus's read handler rewrites `name="v"` into `name=""` when `name="v"` is one of its
/// own external labels (it assumes those are not stored), and a session's Prometheus both has
/// `session` as an external label and stores it on every series — so `{session="x"}` would
/// select nothing. A regex matcher is left as it is and selects the same series.
fn request_body(matchers: &[selector::Matcher], start_ms: i64, end_ms: i64) -> Vec<u8> {
    let sent: Vec<proto::LabelMatcher> = matchers
        .iter()
        .map(|m| {
            let (kind, value) = match m.op {
                MatchOp::Eq => (MatcherType::Re, regex::escape(&m.value)),
                MatchOp::Neq => (MatcherType::Neq, m.value.clone()),
                MatchOp::Re => (MatcherType::Re, m.value.clone()),
                MatchOp::Nre => (MatcherType::Nre, m.value.clone()),
            };
            proto::LabelMatcher {
                r#type: kind as i32,
                name: m.name.clone(),
                value,
            }
        })
        .collect();
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: start_ms,
            end_timestamp_ms: end_ms,
            matchers: sent,
            hints: None,
        }],
        accepted_response_types: vec![proto::ResponseType::StreamedXorChunks as i32],
    };
    let raw = req.encode_to_vec();
    // Compressing a Vec in memory cannot fail but for inputs beyond 4 GiB; send it raw then,
    // and let Prometheus refuse it.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or(raw)
}

/// The error for a non-2xx answer, with the start of its body.
async fn status_error(mut resp: reqwest::Response, cancel: &CancellationToken) -> RemoteReadError {
    let status = resp.status();
    let mut body = Vec::new();
    while body.len() < 4 * MAX_ERROR_BODY_CHARS {
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => return RemoteReadError::Cancelled,
            c = resp.chunk() => c,
        };
        match chunk {
            Ok(Some(c)) => body.extend_from_slice(&c),
            _ => break,
        }
    }
    let body = String::from_utf8_lossy(&body);
    let body = body.trim_end().chars().take(MAX_ERROR_BODY_CHARS).collect();
    RemoteReadError::Status { status, body }
}

/// Merges consecutive entries of one series, then cuts, cleans and hands it out.
struct Assembler {
    start_ms: i64,
    end_ms: i64,
    current: Option<RawSeries>,
    /// One decoded chunk, before cutting; reused.
    scratch: Vec<(i64, f64)>,
    /// Spent series handed back by the consumer: the next series is built in their buffers.
    spare: Vec<RawSeries>,
}

impl Assembler {
    fn new(start_ms: i64, end_ms: i64) -> Assembler {
        Assembler {
            start_ms,
            end_ms,
            current: None,
            scratch: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Adds one frame entry; returns the previous series when this one starts a new series.
    fn add(
        &mut self,
        labels: &[(&str, &str)],
        chunks: &[wire::ChunkView<'_>],
    ) -> Result<Option<RawSeries>, RemoteReadError> {
        let same = self.current.as_ref().is_some_and(|c| {
            c.labels.len() == labels.len()
                && c.labels
                    .iter()
                    .zip(labels)
                    .all(|((n, v), (name, value))| n == name && v == value)
        });
        let done = if same { None } else { self.finish() };
        if self.current.is_none() {
            let mut s = self.spare.pop().unwrap_or_default();
            s.samples.clear();
            set_labels(&mut s.labels, labels);
            self.current = Some(s);
        }
        let Some(cur) = self.current.as_mut() else {
            return Ok(done);
        };
        for chunk in chunks {
            if chunk.max_time_ms < self.start_ms || chunk.min_time_ms > self.end_ms {
                continue;
            }
            if chunk.encoding != ChunkEncoding::Xor as i32 {
                let encoding = ChunkEncoding::try_from(chunk.encoding)
                    .map(|e| e.name().to_owned())
                    .unwrap_or_else(|_| chunk.encoding.to_string());
                return Err(RemoteReadError::UnsupportedChunk {
                    series: series_name(&cur.labels),
                    encoding,
                });
            }
            self.scratch.clear();
            xor::decode_xor(chunk.data, &mut self.scratch).map_err(|source| {
                RemoteReadError::Chunk {
                    series: series_name(&cur.labels),
                    source,
                }
            })?;
            let range = self.start_ms..=self.end_ms;
            cur.samples.extend(
                self.scratch
                    .drain(..)
                    .filter(|&(t, v)| range.contains(&t) && v.to_bits() != STALE_NAN_BITS),
            );
        }
        Ok(done)
    }

    /// The series being assembled, sorted and deduplicated, unless it has no samples.
    fn finish(&mut self) -> Option<RawSeries> {
        let mut s = self.current.take()?;
        if !s.samples.windows(2).all(|w| w[0].0 < w[1].0) {
            // Overlapping chunks: keep the first sample of each timestamp, in time order.
            s.samples.sort_by_key(|&(t, _)| t);
            s.samples.dedup_by_key(|&mut (t, _)| t);
        }
        if s.samples.is_empty() {
            self.spare.push(s);
            return None;
        }
        Some(s)
    }
}

/// Overwrites `into` with `labels`, reusing its strings' buffers.
fn set_labels(into: &mut Vec<(String, String)>, labels: &[(&str, &str)]) {
    into.truncate(labels.len());
    for (i, &(name, value)) in labels.iter().enumerate() {
        match into.get_mut(i) {
            Some((n, v)) => {
                n.clear();
                n.push_str(name);
                v.clear();
                v.push_str(value);
            }
            None => into.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// `{a="b", ...}` for error messages.
fn series_name(labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
