//! The end of a collection: `series.csv`, the summaries, `coverage.csv`, `report.html`, then
//! `MANIFEST.json` (last, listing every other file with its size and sha256, `"complete": true`),
//! and the rename that publishes the bundle.

use super::bundle::{write_file, TempBundle};
use super::consume::Merging;
use super::coverage;
use super::energy::{self, EnergyRow};
use super::manifest::{to_json, Found, Manifest, ManifestInput};
use super::plan::Resolved;
use super::progress::{emit, ProgressTx};
use super::quality;
use super::report::{render, ReportInput};
use super::summary;
use super::windowed::{self, WindowSummary};
use super::{
    Artifact, CollectError, CollectionOutcome, CollectionPlan, Progress, QueryReport, QueryStatus,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A collection whose fetches are all merged.
pub(super) struct Finish {
    /// The temp bundle, with the sample files and the parts directory.
    pub(super) bundle: TempBundle,
    pub(super) merged: Merging,
    pub(super) resolved: Resolved,
    pub(super) plan: CollectionPlan,
    /// Of the Prometheus queried.
    pub(super) version: String,
    /// When the collection started.
    pub(super) started: Instant,
}

/// Writes the small files, the report and the manifest, then publishes the bundle.
pub(super) async fn finish(
    done: Finish,
    progress: &ProgressTx,
) -> Result<CollectionOutcome, CollectError> {
    let Finish {
        bundle,
        mut merged,
        resolved,
        mut plan,
        version,
        started,
    } = done;
    let extra = std::mem::take(&mut plan.extra_files);
    let found = found(&plan, &resolved, &mut merged);
    let manifest = Manifest::new(ManifestInput {
        plan: &plan,
        resolved: &resolved,
        version,
        merged: &merged,
        found,
    });
    let (raw_series, raw_samples) = (merged.raw_series, merged.raw_samples);
    let writing = Writing {
        dir: bundle.path().to_owned(),
        title: plan.bundle_name,
        merged,
        resolved,
        manifest,
        started,
        extra,
        events: plan.events,
    };
    let (mut artifacts, manifest, value) = tokio::task::spawn_blocking(move || writing.write())
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
    super::run::phase(started, "files written");

    let (bundle_dir, bundle_name) = tokio::task::spawn_blocking(move || bundle.publish())
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
    for a in &mut artifacts {
        a.path = bundle_dir.join(&a.name);
    }
    emit(
        progress,
        Progress::Finished {
            bundle_dir: bundle_dir.display().to_string(),
        },
    );
    Ok(CollectionOutcome {
        bundle_dir,
        bundle_name,
        start: manifest.window.start,
        end: manifest.window.end,
        step: manifest.step,
        artifacts,
        manifest: value,
        absent_queries: manifest.absent_queries,
        queries: manifest.queries,
        coverage: manifest.coverage,
        gaps: manifest.gaps,
        samples: manifest.samples,
        raw_series,
        raw_samples,
        duration_seconds: started.elapsed().as_secs_f64(),
        verdict: manifest.verdict,
    })
}

/// The queries' reports, the absent ones, coverage (from the merged `up` state) and its gaps,
/// and the number of samples written.
fn found(plan: &CollectionPlan, r: &Resolved, m: &mut Merging) -> Found {
    let coverage = plan.coverage_selector.as_ref().map(|sel| {
        coverage::report(
            sel,
            r.start_ms,
            r.end_ms,
            r.scrape_ms,
            std::mem::take(&mut m.coverage),
            &plan.quality,
        )
    });
    let coverage = coverage.map(|mut c| {
        coverage::mark_known_gaps(&mut c, &plan.known_gaps, r.start_ms, r.end_ms, r.scrape_ms);
        c
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
    let verdict = quality::judge(&queries, coverage.as_ref(), samples, &plan.quality);
    Found {
        verdict,
        queries,
        absent,
        coverage,
        gaps,
        samples,
    }
}

/// The files written on a blocking thread, in this order: the sample files and their series,
/// the summaries, the report, and the manifest last.
struct Writing {
    /// The temp bundle directory.
    dir: PathBuf,
    /// The report's title: the bundle name.
    title: String,
    merged: Merging,
    resolved: Resolved,
    manifest: Manifest,
    started: Instant,
    /// The caller's files ([`CollectionPlan::extra_files`]).
    extra: Vec<super::ExtraFile>,
    events: Vec<super::events::EventRow>,
}

impl Writing {
    /// Writes every remaining file; returns them (`MANIFEST.json` last) and the manifest, as a
    /// struct and as the JSON written.
    fn write(self) -> Result<(Vec<Artifact>, Manifest, serde_json::Value), CollectError> {
        let Writing {
            dir,
            title,
            mut merged,
            resolved,
            mut manifest,
            started,
            extra,
            events,
        } = self;
        let mut arts = write_samples(&dir, &mut merged)?;
        super::run::phase(started, "sample files closed");
        let windowed = windowed::window_kpis(
            &dir,
            &manifest.windows,
            (resolved.start_ms, resolved.end_ms),
            &merged.summaries,
            &merged.series_rows,
        )?;
        let energy = energy::energy_rows(&merged.summaries, &windowed);
        arts.extend(write_summaries(
            &dir, &merged, &manifest, &windowed, &energy,
        )?);
        for f in &extra {
            arts.push(write_file(&dir, &f.name, &f.bytes)?);
        }
        let span = (resolved.start_ms, resolved.end_ms);
        if let Some(bytes) = super::events::to_csv(&events, span, &manifest.windows)
            .map_err(|e| CollectError::Task(e.to_string()))?
        {
            arts.push(write_file(&dir, "events.csv", &bytes)?);
        }
        let report = ReportInput {
            title: &title,
            start_s: resolved.start_ms as f64 / 1000.0,
            end_s: resolved.end_ms as f64 / 1000.0,
            window: format!("{} → {}", manifest.window.start, manifest.window.end),
            step: format!(
                "{} ({}), rate window {}",
                resolved.step, resolved.step_source, resolved.rate_window
            ),
            prometheus: manifest.prometheus.url.clone(),
            version: manifest.prometheus.version.clone(),
            queries: &manifest.queries,
            coverage: manifest.coverage.as_ref(),
            charts: &merged.charts,
            windows: &manifest.windows,
            events: &events,
            verdict: &manifest.verdict,
            window_kpis: &windowed,
            energy: &energy,
            context: &manifest.context,
        };
        super::run::phase(started, "summaries written");
        let html = render(&report)?;
        super::run::phase(started, "report rendered");
        arts.push(write_file(&dir, "report.html", html.as_bytes())?);
        let _ = std::fs::remove_dir_all(dir.join(".parts"));
        manifest.seal(&arts, started.elapsed().as_secs_f64());
        let value = manifest.to_value()?;
        arts.push(write_file(&dir, "MANIFEST.json", &to_json(&value)?)?);
        Ok((arts, manifest, value))
    }
}

/// Closes `samples.*` (then writes `series.csv`) and the query fallback's `raw.*` and
/// `raw_series.csv`; with the raw files remote read wrote.
fn write_samples(dir: &Path, m: &mut Merging) -> Result<Vec<Artifact>, CollectError> {
    let mut arts = Vec::new();
    if let Some(f) = m.samples.take() {
        arts.extend(f.finish()?);
        let bytes =
            summary::series_csv(&m.series_rows).map_err(|e| CollectError::Task(e.to_string()))?;
        arts.push(write_file(dir, "series.csv", &bytes)?);
        if m.samples_parquet {
            arts.push(super::samples_parquet::write(dir, &m.series_rows)?);
        }
    }
    if let Some(f) = m.raw.take() {
        arts.extend(f.finish()?);
    }
    if let Some(rows) = m.raw_rows.take() {
        arts.push(rows.finish()?);
    }
    arts.append(&mut m.artifacts);
    Ok(arts)
}

/// `summary.csv`, `summary.json` and, with a coverage selector, `coverage.csv`.
fn write_summaries(
    dir: &Path,
    m: &Merging,
    manifest: &Manifest,
    windows: &[WindowSummary],
    energy: &[EnergyRow],
) -> Result<Vec<Artifact>, CollectError> {
    let csv_err = |e: csv::Error| CollectError::Task(e.to_string());
    let mut arts = vec![write_file(
        dir,
        "summary.csv",
        &summary::summary_csv(&m.summaries, windows).map_err(csv_err)?,
    )?];
    let mut sj = summary::summary_json(
        &m.summaries,
        &manifest.window,
        &manifest.verdict,
        windows,
        energy,
    );
    // A session's alerts in the window (the caller put them in the manifest's context).
    if let Some(alerts) = manifest.context.get("alerts").filter(|a| a.is_array()) {
        sj["alerts"] = alerts.clone();
    }
    arts.push(write_file(dir, "summary.json", &to_json(&sj)?)?);
    if !energy.is_empty() {
        let bytes = energy::to_csv(energy).map_err(csv_err)?;
        arts.push(write_file(dir, "energy.csv", &bytes)?);
    }
    if let Some(c) = &manifest.coverage {
        arts.push(write_file(
            dir,
            "coverage.csv",
            &coverage::to_csv(c).map_err(csv_err)?,
        )?);
    }
    Ok(arts)
}
