//! Verdicts across runs: two bundles' KPIs matched and judged (`benchmon compare`,
//! `POST /api/v1/compare`), and many bundles' KPIs as one table (`benchmon history`).
//!
//! Data flow: [`bundle`] reads a bundle back (manifest window, summary rows) → [`engine`]
//! pairs rows by (window, query, scope, kind, identifying [`labels`], KPI) and judges each pair
//! with the [`tolerance`] rules and the [`direction`] defaults → [`Comparison`] → [`files`]
//! writes `compare.csv`, `compare.json` and `compare.html` (charts from [`timeline`]).
//! This module reads bundles only; it never queries Prometheus, so it works on bundles copied
//! off the cluster.

pub mod bundle;
pub mod direction;
pub mod engine;
pub mod files;
pub mod history;
mod html;
pub mod labels;
pub mod timeline;
pub mod tolerance;

pub use bundle::Bundle;
pub use engine::{Options, Row, Verdict};
pub use tolerance::{Direction, TolerancesSpec};

use serde::Serialize;
use std::path::PathBuf;
use utoipa::ToSchema;

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{}: not a complete benchmon bundle: {why}", dir.display())]
    NotABundle { dir: PathBuf, why: String },
    #[error("invalid tolerances: {0}")]
    Tolerances(#[from] tolerance::InvalidRule),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Render(String),
}

/// Which bundle a side of the comparison is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BundleInfo {
    pub id: String,
    pub dir: String,
    pub window_start: String,
    pub window_end: String,
}

impl BundleInfo {
    fn of(b: &Bundle) -> Self {
        let t = |s: f64| {
            crate::domain::Timestamp::from_unix(s)
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        BundleInfo {
            id: b.id.clone(),
            dir: b.dir.display().to_string(),
            window_start: t(b.start),
            window_end: t(b.end),
        }
    }
}

/// Rows per verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    pub regression: u64,
    pub worse: u64,
    pub missing: u64,
    pub new: u64,
    pub changed: u64,
    pub better: u64,
    pub same: u64,
}

impl Counts {
    fn add(&mut self, v: Verdict) {
        let slot = match v {
            Verdict::Regression => &mut self.regression,
            Verdict::Worse => &mut self.worse,
            Verdict::Missing => &mut self.missing,
            Verdict::New => &mut self.new,
            Verdict::Changed => &mut self.changed,
            Verdict::Better => &mut self.better,
            Verdict::Same => &mut self.same,
        };
        *slot += 1;
    }

    pub fn get(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Regression => self.regression,
            Verdict::Worse => self.worse,
            Verdict::Missing => self.missing,
            Verdict::New => self.new,
            Verdict::Changed => self.changed,
            Verdict::Better => self.better,
            Verdict::Same => self.same,
        }
    }
}

/// The whole comparison: `compare.json`, the API's answer, `--json`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Comparison {
    /// `benchmon.compare/v1`.
    pub format: String,
    pub baseline: BundleInfo,
    pub candidate: BundleInfo,
    /// True when any row is a `regression` (the CLI then exits 3).
    pub regression: bool,
    pub counts: Counts,
    /// Labels left out when matching series.
    pub ignored_labels: Vec<String>,
    pub noise: String,
    /// Most severe first; regressions by relative size.
    pub rows: Vec<Row>,
}

/// Compares `candidate` against `baseline`.
pub fn compare(baseline: &Bundle, candidate: &Bundle, opts: &Options) -> Comparison {
    let rows = engine::compare_rows(baseline, candidate, opts);
    let mut counts = Counts::default();
    for r in &rows {
        counts.add(r.verdict);
    }
    let mut ignored = opts.identity.ignored.clone();
    if opts.identity.strip_instance_port {
        ignored.push("instance (port)".into());
    }
    Comparison {
        format: "benchmon.compare/v1".into(),
        baseline: BundleInfo::of(baseline),
        candidate: BundleInfo::of(candidate),
        regression: counts.regression > 0,
        counts,
        ignored_labels: ignored,
        noise: engine::limit_text(opts.noise),
        rows,
    }
}

impl Options {
    /// Options from a tolerance document; `prefix` names its place in a request
    /// (`tolerances.`) so an error points at the field.
    pub fn from_spec(spec: &TolerancesSpec, prefix: &str) -> Result<Options, CompareError> {
        let mut opts = Options {
            rules: spec.rules(prefix)?,
            noise: spec.noise(prefix)?,
            ..Options::default()
        };
        if let Some(ignore) = &spec.ignore_labels {
            opts.identity.ignored = ignore.clone();
        }
        Ok(opts)
    }
}
