//! Pushed metrics: a harness's own numbers (client-side latency, request counts) posted to a
//! session as Prometheus text exposition or JSON, validated whole, then remote-written into the
//! session's Prometheus so they are collected like scraped series.
//!
//! Data flow: [`text::parse`] or [`json::parse`] → [`Sample`]s whose names, labels and values
//! already passed [`validate`] → [`Batch::new`] checks timestamps against the session's life
//! and groups samples by series → `prometheus::remote_write` sends one `WriteRequest`.
//! A request is atomic: any bad line refuses the whole batch before anything is sent, and
//! Prometheus's receiver rolls back its appender if it refuses a sample itself.

pub mod batch;
pub mod json;
pub mod text;
pub mod validate;

pub use batch::{Batch, BatchContext};

/// Most samples in one request; a larger push is split by the client.
pub const MAX_SAMPLES: usize = 50_000;
/// Most labels a pushed sample may carry itself (benchmon adds the session's on top).
pub const MAX_SAMPLE_LABELS: usize = 16;
/// How far in the future (by benchmon's clock) a sample's timestamp may be: clock skew between
/// a compute node and benchmon's host, not a plan for later.
pub const MAX_FUTURE_SKEW_MS: i64 = 5_000;

/// Label `(name, value)` pairs, sorted by name.
pub type LabelPairs = Vec<(String, String)>;

/// One sample as the caller sent it, its name and labels validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// The caller's labels, sorted by name, without duplicates.
    pub labels: LabelPairs,
    pub value: f64,
    /// Milliseconds since the epoch; `None` means "when benchmon received it".
    pub timestamp_ms: Option<i64>,
    /// Where the sample came from, for errors: `line 7` or `metrics[6]`.
    pub origin: String,
}

/// Why a push was refused, naming the line or JSON element at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct PushError {
    /// `line 7`, `metrics[6].labels.session`, or `body`.
    pub origin: String,
    pub reason: String,
}

impl PushError {
    pub fn new(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        PushError {
            origin: origin.into(),
            reason: reason.into(),
        }
    }
}
