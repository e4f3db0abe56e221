//! `MANIFEST.json`: what a bundle holds and how it was made, written last with every other
//! file's size and sha256 and `"complete": true`.
//!
//! The manifest is written through a [`serde_json::Value`] (also the outcome's `manifest`), whose
//! objects keep their keys sorted (serde_json's `preserve_order` is off): every object in the
//! file, nested ones included, has its keys in alphabetical order. The structs here declare
//! their fields in that order too, so they read like the file.

use super::consume::Merging;
use super::coverage::{CoverageReport, Gap};
use super::plan::Resolved;
use super::quality::Verdict;
use super::summary;
use super::{Artifact, CollectError, CollectionPlan, MarkedWindow, QueryReport};
use crate::domain::{PromDuration, Timestamp};
use serde::Serialize;

/// The collection window, in the manifest and in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Window {
    pub(super) end: Timestamp,
    pub(super) seconds: f64,
    pub(super) start: Timestamp,
    pub(super) step: PromDuration,
    pub(super) step_seconds: f64,
}

impl Window {
    pub(super) fn new(plan: &CollectionPlan, r: &Resolved) -> Self {
        Window {
            end: plan.end,
            seconds: (r.end_ms - r.start_ms) as f64 / 1000.0,
            start: plan.start,
            step: r.step.clone(),
            step_seconds: r.step_ms as f64 / 1000.0,
        }
    }
}

/// The Prometheus queried.
#[derive(Debug, Serialize)]
pub(super) struct PrometheusInfo {
    pub(super) url: String,
    pub(super) version: String,
}

/// The raw export, if the plan has a raw selector.
#[derive(Debug, Serialize)]
pub(super) struct RawExport {
    /// Why the raw export did not use remote read, when it fell back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fallback_reason: Option<String>,
    /// `remote_read` (streamed XOR chunks) or `query` (range-vector queries).
    pub(super) method: &'static str,
    pub(super) samples: u64,
    /// The first of `selectors` (the only one, for a session's collection).
    pub(super) selector: String,
    /// Every raw selector, in the order given.
    pub(super) selectors: Vec<String>,
    pub(super) series: u64,
    /// How the query fallback cut the raw export (series groups × time chunks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) query_plan: Option<super::fallback::FallbackPlan>,
    /// Warnings Prometheus attached to the raw export.
    pub(super) warnings: Vec<String>,
}

/// The collection's size estimate and the limit it was checked against.
#[derive(Debug, Serialize)]
pub(super) struct Budget {
    pub(super) estimated_points: u64,
    pub(super) estimated_raw_samples: u64,
    pub(super) estimated_raw_series: u64,
    pub(super) max_points: u64,
    /// How the raw samples were estimated (`series_count`, `scrape_statistics`).
    pub(super) raw_sizing: super::RawSizing,
}

/// One other file of the bundle.
#[derive(Debug, Serialize)]
pub(super) struct ManifestFile {
    pub(super) bytes: u64,
    pub(super) name: String,
    pub(super) sha256: String,
}

/// What a collection found, for the manifest, the report and the outcome.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) verdict: Verdict,
    pub(super) queries: Vec<QueryReport>,
    /// Names of the queries that matched nothing.
    pub(super) absent: Vec<String>,
    pub(super) coverage: Option<CoverageReport>,
    pub(super) gaps: Vec<Gap>,
    /// Samples written, raw export included.
    pub(super) samples: u64,
}

/// `MANIFEST.json`.
#[derive(Debug, Serialize)]
pub(super) struct Manifest {
    pub(super) absent_queries: Vec<String>,
    pub(super) benchmon_version: &'static str,
    /// The size estimate checked against `collect.max_points` before anything was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) budget: Option<Budget>,
    /// Set by [`Manifest::seal`], just before the manifest is written.
    pub(super) complete: bool,
    /// The caller's [`CollectionPlan::manifest_extra`].
    pub(super) context: serde_json::Value,
    pub(super) coverage: Option<CoverageReport>,
    pub(super) created_at: Timestamp,
    pub(super) duration_seconds: f64,
    pub(super) files: Vec<ManifestFile>,
    pub(super) format: &'static str,
    pub(super) formats: serde_json::Value,
    pub(super) gaps: Vec<Gap>,
    pub(super) prometheus: PrometheusInfo,
    pub(super) queries: Vec<QueryReport>,
    pub(super) rate_interval: PromDuration,
    pub(super) raw: Option<RawExport>,
    pub(super) samples: u64,
    pub(super) scrape_interval: Option<PromDuration>,
    pub(super) step: PromDuration,
    pub(super) step_source: &'static str,
    /// `quality`, `quality_notes`, `quality_reasons`, `quality_thresholds`.
    #[serde(flatten)]
    pub(super) verdict: Verdict,
    pub(super) window: Window,
    pub(super) windows: Vec<MarkedWindow>,
}

/// Where the manifest's facts come from.
pub(super) struct ManifestInput<'a> {
    pub(super) plan: &'a CollectionPlan,
    pub(super) resolved: &'a Resolved,
    pub(super) version: String,
    pub(super) merged: &'a Merging,
    pub(super) found: Found,
}

impl Manifest {
    /// The manifest as of now (`created_at`), not yet [sealed](Manifest::seal).
    pub(super) fn new(input: ManifestInput<'_>) -> Self {
        let ManifestInput {
            plan,
            resolved: r,
            version,
            merged: m,
            found,
        } = input;
        let raw = plan.raw_selectors.first().map(|s| RawExport {
            fallback_reason: m.raw_method.as_ref().and_then(|(_, why)| why.clone()),
            method: m.raw_method.as_ref().map_or("query", |(how, _)| how),
            samples: m.raw_samples,
            selector: s.clone(),
            selectors: plan.raw_selectors.clone(),
            series: m.raw_series,
            query_plan: m.raw_plan.clone(),
            warnings: m.raw_warnings.clone(),
        });
        Manifest {
            absent_queries: found.absent,
            benchmon_version: env!("CARGO_PKG_VERSION"),
            budget: plan
                .max_points
                .zip(m.estimate)
                .map(|(max_points, e)| Budget {
                    estimated_points: e.points,
                    estimated_raw_samples: e.raw_samples,
                    estimated_raw_series: e.raw_series,
                    max_points,
                    raw_sizing: e.raw_sizing,
                }),
            complete: false,
            context: plan.manifest_extra.clone(),
            coverage: found.coverage,
            created_at: Timestamp::now(),
            duration_seconds: 0.0,
            files: Vec::new(),
            format: "benchmon.bundle/v1",
            formats: summary::formats(),
            gaps: found.gaps,
            prometheus: PrometheusInfo {
                url: plan.prometheus_url.clone(),
                version,
            },
            queries: found.queries,
            rate_interval: r.rate_window.clone(),
            raw,
            samples: found.samples,
            scrape_interval: plan.scrape_interval.clone(),
            step: r.step.clone(),
            step_source: r.step_source,
            verdict: found.verdict,
            window: Window::new(plan, r),
            windows: plan.windows.clone(),
        }
    }

    /// Lists the bundle's other files and marks the manifest complete.
    pub(super) fn seal(&mut self, files: &[Artifact], duration_seconds: f64) {
        self.duration_seconds = duration_seconds;
        self.files = files
            .iter()
            .map(|a| ManifestFile {
                bytes: a.bytes,
                name: a.name.clone(),
                sha256: a.sha256.clone(),
            })
            .collect();
        self.complete = true;
    }

    /// The manifest as a JSON value: what `MANIFEST.json` holds.
    pub(super) fn to_value(&self) -> Result<serde_json::Value, CollectError> {
        serde_json::to_value(self).map_err(|e| CollectError::Task(e.to_string()))
    }
}

/// Pretty JSON with a final newline, as the bundle's JSON files are written.
pub(super) fn to_json(v: &serde_json::Value) -> Result<Vec<u8>, CollectError> {
    let mut b = serde_json::to_vec_pretty(v).map_err(|e| CollectError::Task(e.to_string()))?;
    b.push(b'\n');
    Ok(b)
}
