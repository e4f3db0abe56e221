//! Collection: query a time window from Prometheus and write it into an artifact bundle.
//!
//! Data flows through the files of this module in order:
//! `plan` checks the plan and cuts the window into chunks of at most
//! `plan::MAX_POINTS_PER_CHUNK` steps → `schedule` lists the fetches (one per chunk of every
//! query, of the raw export and of coverage) and starts them → `fetch` POSTs each to
//! `query_range` (or an instant query of a range vector, for raw samples) and streams the body
//! through the incremental `matrix` parser (`matrix/parser.rs`) into a per-chunk `part` on disk →
//! `consume` takes the fetches in plan order and, once all chunks of a query are in, `merge`
//! appends its parts in order to the bundle files and finishes the `kpi`s (exact percentiles by
//! `select`ion, the sets built by `kpi_set`); `coverage` turns raw `up` samples into per-target
//! coverage and gaps, `quality` judges them → `finish` computes the KPIs of each named window
//! (`windowed`, a pass over `samples.csv`), writes the `summary` files and the `report` (charts
//! from `chart` bins), then the `manifest`
//! (`MANIFEST.json`, last, with the sha256 of every file computed as it was written, see
//! [`bundle`](crate::export::bundle)), and renames the temp directory into place. `run` drives it
//! all; `progress` carries the [`Progress`] events that `run`, `consume` and `finish` send;
//! `fallback` plans the raw export's range-vector queries (series groups × time chunks under a
//! sample budget) for a server without streamed remote read;
//! `profiles` holds the default queries; `benchmon export` is [`crate::cli::export`].
//!
//! Up to `plan::CONCURRENCY` requests are in flight; a query is merged as soon as all its
//! chunks are in, while later requests are still being fetched, and its CSV, its JSON and its
//! KPIs are produced on three threads.
//!
//! # Bundle layout
//!
//! | file | content |
//! |---|---|
//! | `samples.csv` | `timestamp_ms,query,series,value`: one row per sample. `timestamp_ms` is unix milliseconds, an integer (exact: Prometheus's timestamps are whole milliseconds, and float seconds read back inexact); `series` is a key (`s` + 16 hex digits), stable across collections, for (query name, label set); `value` is Prometheus's own text (`0.25`, `1e-05`, `NaN`, `+Inf`), so nothing is lost to float formatting. Rows are grouped by query (plan order), then series (label order), then time. `pd.read_csv("samples.csv")`, then `pd.to_datetime(df.timestamp_ms, unit="ms", utc=True)`. |
//! | `series.csv` | `query,series,labels,<one column per label name>`: join on `query,series` for labels as columns. Label values are strings: read with `dtype=str, keep_default_na=False` (else pandas makes `cpu="0"` a number and `NA` a NaN). |
//! | `samples.json` | with the `json` format: `{"format":"benchmon.samples/v2","series":[{"query","series","labels":{…},"values":[[ms,"value"],…]},…]}`, same order and values as the CSV (timestamps as integer milliseconds), one series per line. |
//! | `raw.parquet` | every raw sample of every series the raw selector matches, read through streamed remote read ([`raw`]): timestamp (ms, UTC), value, query, series and one column per label; zstd. |
//! | `raw.csv`, `raw_series.csv`, `raw.json` | the same raw samples in the CSV and JSON layouts, when the formats ask for them (query name `raw`, the real scrape timestamps). |
//! | `summary.csv`, `summary.json` | KPIs per series and aggregated per query, each with its method (see [`Kpi`]), for the whole collection (`window` = `collection`) and each named window overlapping it (`windowed`). |
//! | `energy.csv` | energy per GPU, CPU package and node, mean and peak power, J/token, per window, each row with its method (`energy`), when an energy query returned data. |
//! | `events.csv` | the session's events (phases, progress, notes, alerts) inside the window, each with the named windows holding it ([`events`]); absent when there are none. |
//! | `coverage.csv` | per target: samples, expected scrapes, coverage, `up` breakdown, gaps. |
//! | `report.html` | self-contained report: tables and one chart per query. |
//! | `MANIFEST.json` | window, step, queries, Prometheus URL and version, coverage, gaps, the verdict (`quality` with its reasons, see `quality`), the caller's context (session snapshot), every other file with size and sha256, `"complete": true` (every file written — not a judgement of the data). Written last. |
//!
//! # Memory
//!
//! Response bodies are parsed as they arrive and written to disk at once, so memory is bounded
//! by the buffers (about 1 MiB per request in flight, a few MiB for a merge), the per-series
//! index (labels, KPI state and `chart::BINS` chart bins — independent of the window) and,
//! while a query's KPIs are finished, the values of one gauge series (8 bytes per sample of that
//! one series). Percentiles over all series of a query are selected exactly from a spill file
//! (radix select), not from memory. Peak RSS on the benchmark (`examples/bench-export.sh`: 4 M
//! and 8 M samples) is about 40 MB either way.

mod budget;
pub use budget::RawSizing;
pub mod bundle;
mod chart;
mod consume;
mod coverage;
mod energy;
pub mod events;
mod fallback;
mod fetch;
mod finish;
pub mod formats;
mod kpi;
mod kpi_set;
mod manifest;
mod matrix;
mod merge;
mod part;
pub(crate) mod plan;
mod profiles;
mod progress;
mod quality;
pub(crate) mod raw;
mod report;
mod run;
mod samples_parquet;
mod schedule;
mod select;
mod series;
mod summary;
mod unit;
mod windowed;

use crate::domain::{PromDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use utoipa::ToSchema;

pub use coverage::{CoverageReport, Gap, TargetCoverage};
pub use kpi::{Kpi, KpiKind};
pub use plan::Tuning;
pub use profiles::default_queries;
pub use progress::Progress;
pub use quality::{Quality, QualityThresholds, Reason, ReasonCode, Verdict};
pub use run::{collect, collect_tuned};
pub use unit::{human, Unit};

/// Everything one collection needs. The caller has validated the parent directory.
#[derive(Debug, Clone)]
pub struct CollectionPlan {
    /// Base URL of the Prometheus to query (`http://host:9090`).
    pub prometheus_url: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Query resolution; `None` → the scrape interval, or 15s when that is unknown too.
    pub step: Option<PromDuration>,
    /// Used to choose the step, the rate window and the expected number of scrapes.
    pub scrape_interval: Option<PromDuration>,
    /// Default and user queries, in the order they appear in the bundle.
    pub queries: Vec<NamedQuery>,
    /// Selectors for the raw export of every series (`{session="benchmark-01"}`); none, no raw
    /// export. A series matched by several is written once.
    pub raw_selectors: Vec<String>,
    /// Selector of the `up` series for per-target coverage (`up{session="benchmark-01"}`).
    pub coverage_selector: Option<String>,
    /// Named windows marked in the report's charts.
    pub windows: Vec<MarkedWindow>,
    /// The session's events; those inside the window go to `events.csv`.
    pub events: Vec<events::EventRow>,
    /// Existing directory in which the bundle directory is created.
    pub bundle_parent: PathBuf,
    /// Name of the bundle directory; `run-001` becomes `run-001-2` if it exists.
    pub bundle_name: String,
    /// How the raw samples are read and which files they go to.
    pub raw_options: RawOptions,
    /// Refuse a collection estimated to write more points than this (`collect.max_points`).
    pub max_points: Option<u64>,
    /// Also write `samples.parquet` (the query samples, typed): asked for, not a default, as it
    /// costs a second pass over `samples.csv` (≈ 1.5 s per 4 M samples on 2 cores).
    pub samples_parquet: bool,
    /// Also write `samples.json` (the formats list JSON): the CSV's samples again, one object
    /// per series.
    pub samples_json: bool,
    /// Copied into `MANIFEST.json` as `context` (session snapshot, targets, SLURM job id …).
    pub manifest_extra: serde_json::Value,
    /// What the verdict judges against (`collect.quality`), also the coverage flags.
    pub quality: QualityThresholds,
    /// Files the caller made (a session's `alerts.csv`), written into the bundle and listed in
    /// the manifest like the engine's own.
    pub extra_files: Vec<ExtraFile>,
    /// Stretches the caller knows some targets' samples did not arrive (a sharded session's
    /// silent scrapers): coverage flags those targets with the stretch as a gap.
    pub known_gaps: Vec<KnownGap>,
}

/// Targets (by `instance`) whose samples did not reach the store from `start` to `end` (`None`:
/// to the window's end), and why.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownGap {
    pub instances: Vec<String>,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    pub cause: String,
}

/// A small file a caller adds to the bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// How raw samples are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawSource {
    /// Streamed remote read — VictoriaMetrics' `/api/v1/export` from a VictoriaMetrics —, and
    /// range-vector queries if the server serves neither.
    #[default]
    Auto,
    /// Streamed remote read only.
    RemoteRead,
    /// VictoriaMetrics' streaming `/api/v1/export` only.
    Export,
    /// Range-vector queries (`/api/v1/query`), cut into pieces under the sample limit.
    Query,
}

/// The raw export's source and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOptions {
    pub source: RawSource,
    pub formats: formats::Formats,
    /// How the budget estimates the raw samples before anything is written.
    pub sizing: RawSizing,
}

impl Default for RawOptions {
    fn default() -> Self {
        RawOptions {
            source: RawSource::Auto,
            formats: formats::Formats::RAW_DEFAULT,
            sizing: RawSizing::SeriesCount,
        }
    }
}

/// One PromQL query and the name it is stored under.
///
/// `$__rate_interval` in the PromQL is replaced by the rate window chosen for the collection
/// (`max(4 × scrape interval, step + scrape interval)`, as Grafana does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamedQuery {
    /// `[A-Za-z0-9_.:-]{1,100}`, unique in a plan; `raw` is reserved.
    pub name: String,
    pub promql: String,
    pub kind: MetricKind,
    pub origin: QueryOrigin,
    /// What the values measure; profiles always say, user queries may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

impl NamedQuery {
    /// A user query whose metric kind is detected from the series names.
    pub fn user(name: impl Into<String>, promql: impl Into<String>) -> Self {
        NamedQuery {
            name: name.into(),
            promql: promql.into(),
            kind: MetricKind::Auto,
            origin: QueryOrigin::User,
            unit: None,
        }
    }

    /// The same query with its unit.
    pub fn with_unit(mut self, unit: Option<Unit>) -> Self {
        self.unit = unit;
        self
    }
}

/// How a query's samples are summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Gauge,
    Counter,
    /// Classic histogram buckets (`_bucket` series with an `le` label).
    Histogram,
    /// Per series, by name: `_bucket` with `le` → histogram; `_total`, `_count`, `_sum` →
    /// counter; anything else (including expressions without `__name__`) → gauge.
    Auto,
}

/// Where a query came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueryOrigin {
    /// A default profile (`node`, `dcgm`, `services`, `vllm`).
    Profile(String),
    User,
}

/// A named span of time marked in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MarkedWindow {
    pub name: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Artifact {
    /// File name inside the bundle directory.
    pub name: String,
    #[schema(value_type = String)]
    pub path: PathBuf,
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Whether a query returned data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueryStatus {
    Ok,
    /// The query matched no series in the window.
    Absent,
}

/// What one query produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueryReport {
    pub name: String,
    /// As given.
    pub promql: String,
    /// As sent, after `$__rate_interval` substitution.
    pub sent_promql: String,
    pub kind: MetricKind,
    pub origin: QueryOrigin,
    /// The unit of the values (and of `increase`; `rate_per_second` is it per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    pub status: QueryStatus,
    pub series: u64,
    pub samples: u64,
    pub chunks: usize,
    /// Warnings and infos Prometheus attached to the responses.
    pub warnings: Vec<String>,
    /// KPIs over all series of the query, one entry per kind present.
    pub aggregate: Vec<Kpi>,
}

/// The result of a successful collection.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CollectionOutcome {
    #[schema(value_type = String)]
    pub bundle_dir: PathBuf,
    pub bundle_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub step: PromDuration,
    pub artifacts: Vec<Artifact>,
    /// The bundle's `MANIFEST.json`.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    pub queries: Vec<QueryReport>,
    /// Names of the queries that matched nothing.
    pub absent_queries: Vec<String>,
    pub coverage: Option<CoverageReport>,
    /// Coverage gaps of all targets (also in `coverage`).
    pub gaps: Vec<Gap>,
    /// Samples written, raw export included.
    pub samples: u64,
    pub raw_series: u64,
    pub raw_samples: u64,
    pub duration_seconds: f64,
    /// `quality` (`ok`, `partial`, `empty`) with its reasons.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Why a collection failed. Nothing that looks like a bundle is left behind.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("invalid collection plan: {field}: {reason}")]
    InvalidPlan { field: String, reason: String },
    #[error("query {query:?} failed: Prometheus returned {error_type}: {message}")]
    Query {
        query: String,
        error_type: String,
        message: String,
    },
    #[error("query {query:?}: request to {url} failed: {source}")]
    Http {
        query: String,
        url: String,
        source: reqwest::Error,
    },
    #[error("query {query:?}: Prometheus at {url} answered HTTP {status}: {body}")]
    Status {
        query: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("query {query:?}: unreadable response: {reason}")]
    Response { query: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rendering the report failed: {0}")]
    Report(String),
    #[error("collection cancelled")]
    Cancelled,
    /// The estimate is over the site's budget; nothing was written.
    #[error(
        "this collection would write about {estimate} points ({raw_samples} of them raw samples), \
         more than collect.max_points = {limit}: collect a shorter window, a coarser step, \
         fewer queries or raw: false — or raise collect.max_points in the site config"
    )]
    OverBudget {
        estimate: u64,
        raw_samples: u64,
        limit: u64,
    },
    #[error("internal task failed: {0}")]
    Task(String),
}

impl CollectError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CollectError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn plan(field: &str, reason: impl Into<String>) -> Self {
        CollectError::InvalidPlan {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
