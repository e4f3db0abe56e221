//! The end of a collection: `series.csv`, the summaries, `coverage.csv`, `report.html`, then
//! `MANIFEST.json` (last, listing every other file with its size and sha256, `"complete": true`),
//! and the rename that publishes the bundle.

use super::bundle::{write_file, TempBundle};
use super::chart::ChartData;
use super::coverage::{self, TargetAcc};
use super::matrix::Labels;
use super::merge::SampleFiles;
use super::part::ChunkPart;
use super::plan::Resolved;
use super::run::emit;
use super::summary::{self, QuerySummary};
use super::{
    Artifact, CollectError, CollectionOutcome, CollectionPlan, Progress, QueryReport, QueryStatus,
};
use crate::domain::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// Consumer state: what has been merged so far.
pub(super) struct Merging {
    pub(super) samples: Option<SampleFiles>,
    pub(super) raw: Option<SampleFiles>,
    pub(super) pending: Vec<ChunkPart>,
    pub(super) summaries: Vec<QuerySummary>,
    pub(super) series_rows: Vec<(String, String, Labels)>,
    pub(super) charts: Vec<ChartData>,
    pub(super) coverage: BTreeMap<Labels, TargetAcc>,
    pub(super) raw_series: u64,
    pub(super) raw_samples: u64,
    pub(super) artifacts: Vec<Artifact>,
    /// Warnings Prometheus attached to the raw export.
    pub(super) raw_warnings: Vec<String>,
}

/// Writes the small files, the report and the manifest, then publishes the bundle.
pub(super) async fn finish(
    bundle: TempBundle,
    mut m: Merging,
    r: Resolved,
    plan: CollectionPlan,
    version: String,
    progress: Option<UnboundedSender<Progress>>,
    started: Instant,
) -> Result<CollectionOutcome, CollectError> {
    let coverage = plan.coverage_selector.as_ref().map(|sel| {
        coverage::report(
            sel,
            r.start_ms,
            r.end_ms,
            r.scrape_ms,
            std::mem::take(&mut m.coverage),
        )
    });
    let gaps: Vec<coverage::Gap> = coverage
        .iter()
        .flat_map(|c| c.targets.iter().flat_map(|t| t.gaps.clone()))
        .collect();
    let queries: Vec<QueryReport> = m.summaries.iter().map(|s| s.report.clone()).collect();
    let absent: Vec<String> = queries
        .iter()
        .filter(|q| q.status == QueryStatus::Absent)
        .map(|q| q.name.clone())
        .collect();
    let samples = queries.iter().map(|q| q.samples).sum::<u64>() + m.raw_samples;
    let (start, end) = (plan.start, plan.end);
    let window = json!({"start": start, "end": end, "seconds": (r.end_ms - r.start_ms) as f64 / 1000.0,
        "step": r.step, "step_seconds": r.step_ms as f64 / 1000.0});
    let dir = bundle.path().to_owned();
    let name = plan.bundle_name.clone();
    let raw = plan.raw_selector.as_ref().map(|s| {
        json!({"selector": s, "series": m.raw_series, "samples": m.raw_samples, "warnings": m.raw_warnings})
    });
    let manifest_base = json!({
        "format": "benchmon.bundle/v1",
        "benchmon_version": env!("CARGO_PKG_VERSION"),
        "created_at": Timestamp::now(),
        "window": window,
        "step": r.step,
        "step_source": r.step_source,
        "scrape_interval": plan.scrape_interval,
        "rate_interval": r.rate_window,
        "prometheus": {"url": plan.prometheus_url, "version": &version},
        "queries": queries,
        "absent_queries": absent,
        "raw": raw,
        "coverage": coverage,
        "gaps": gaps,
        "windows": plan.windows,
        "samples": samples,
        "formats": summary::formats(),
        "context": plan.manifest_extra,
    });
    let title = name.clone();
    let cov = coverage.clone();
    let qs = queries.clone();
    let (raw_series, raw_samples) = (m.raw_series, m.raw_samples);
    let step = r.step.clone();
    let (mut artifacts, manifest) =
        tokio::task::spawn_blocking(move || -> Result<_, CollectError> {
            let mut arts = Vec::new();
            if let Some(f) = m.samples.take() {
                arts.extend(f.finish()?);
                let bytes = summary::series_csv(&m.series_rows)
                    .map_err(|e| CollectError::Task(e.to_string()))?;
                arts.push(write_file(&dir, "series.csv", &bytes)?);
            }
            if let Some(f) = m.raw.take() {
                arts.extend(f.finish()?);
            }
            arts.append(&mut m.artifacts);
            let csv_err = |e: csv::Error| CollectError::Task(e.to_string());
            arts.push(write_file(
                &dir,
                "summary.csv",
                &summary::summary_csv(&m.summaries).map_err(csv_err)?,
            )?);
            let sj = summary::summary_json(&m.summaries, window);
            arts.push(write_file(&dir, "summary.json", &to_json(&sj)?)?);
            if let Some(c) = &cov {
                arts.push(write_file(
                    &dir,
                    "coverage.csv",
                    &coverage::to_csv(c).map_err(csv_err)?,
                )?);
            }
            let html = super::report::render(&super::report::ReportInput {
                title: &title,
                start_s: r.start_ms as f64 / 1000.0,
                end_s: r.end_ms as f64 / 1000.0,
                window: format!("{start} → {end}"),
                step: format!(
                    "{} ({}), rate window {}",
                    r.step, r.step_source, r.rate_window
                ),
                prometheus: plan.prometheus_url.clone(),
                version,
                queries: &qs,
                coverage: cov.as_ref(),
                charts: &m.charts,
                windows: &plan.windows,
            })?;
            arts.push(write_file(&dir, "report.html", html.as_bytes())?);
            let _ = std::fs::remove_dir_all(dir.join(".parts"));
            let mut manifest = manifest_base;
            manifest["duration_seconds"] = json!(started.elapsed().as_secs_f64());
            manifest["files"] = json!(arts
                .iter()
                .map(|a| json!({"name": a.name, "bytes": a.bytes, "sha256": a.sha256}))
                .collect::<Vec<_>>());
            manifest["complete"] = json!(true);
            arts.push(write_file(&dir, "MANIFEST.json", &to_json(&manifest)?)?);
            Ok((arts, manifest))
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;

    let (bundle_dir, bundle_name) = tokio::task::spawn_blocking(move || bundle.publish())
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
    for a in &mut artifacts {
        a.path = bundle_dir.join(&a.name);
    }
    emit(
        &progress,
        Progress::Finished {
            bundle_dir: bundle_dir.display().to_string(),
        },
    );
    Ok(CollectionOutcome {
        bundle_dir,
        bundle_name,
        start,
        end,
        step,
        artifacts,
        manifest,
        absent_queries: absent,
        queries,
        coverage,
        gaps,
        samples,
        raw_series,
        raw_samples,
        duration_seconds: started.elapsed().as_secs_f64(),
    })
}

fn to_json(v: &serde_json::Value) -> Result<Vec<u8>, CollectError> {
    let mut b = serde_json::to_vec_pretty(v).map_err(|e| CollectError::Task(e.to_string()))?;
    b.push(b'\n');
    Ok(b)
}
