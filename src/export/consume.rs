//! The consumer side of a collection: takes the started fetches in plan order, and as soon as
//! all chunks of a query (or of the raw export) are in, [`merge`](super::merge)s them into the
//! bundle while later fetches still run. Coverage chunks are combined in memory.
//!
//! What has been merged so far is kept in [`Merging`], which [`finish`](super::finish) then
//! turns into the small files and the manifest.

use super::chart::ChartData;
use super::coverage::TargetAcc;
use super::fallback::FallbackPlan;
use super::matrix::Labels;
use super::merge::{merge_query, Merged, SampleFiles};
use super::part::ChunkPart;
use super::plan::{Resolved, RAW};
use super::progress::{emit, ProgressTx};
use super::raw::SeriesSpill;
use super::schedule::{Destination, Fetched, InFlight};
use super::summary::QuerySummary;
use super::{Artifact, CollectError, Progress, QueryReport, QueryStatus};
use std::collections::BTreeMap;
use std::path::Path;
use tokio::sync::mpsc::UnboundedReceiver;

/// Which tables also get a `.json` file (the formats list JSON).
#[derive(Debug, Clone, Copy)]
pub(super) struct JsonFiles {
    pub(super) samples: bool,
    pub(super) raw: bool,
}

/// Consumer state: what has been merged so far.
pub(super) struct Merging {
    pub(super) samples: Option<SampleFiles>,
    pub(super) raw: Option<SampleFiles>,
    /// Parts of the query being fetched, in chunk order.
    pub(super) pending: Vec<ChunkPart>,
    pub(super) summaries: Vec<QuerySummary>,
    /// `series.csv` rows: `(query, series key, labels)`.
    pub(super) series_rows: Vec<(String, String, Labels)>,
    pub(super) charts: Vec<ChartData>,
    pub(super) coverage: BTreeMap<Labels, TargetAcc>,
    pub(super) raw_series: u64,
    pub(super) raw_samples: u64,
    /// Files already written (`raw_series.csv`).
    pub(super) artifacts: Vec<Artifact>,
    /// Warnings Prometheus attached to the raw export.
    pub(super) raw_warnings: Vec<String>,
    /// How the raw export was read (`remote_read` or `query`), and why not by remote read.
    pub(super) raw_method: Option<(&'static str, Option<String>)>,
    /// Also write `samples.parquet` (the formats list Parquet).
    pub(super) samples_parquet: bool,
    /// `raw_series.csv` rows of the query fallback, batch after batch.
    pub(super) raw_rows: Option<SeriesSpill>,
    /// How the query fallback was planned, for the manifest.
    pub(super) raw_plan: Option<FallbackPlan>,
    /// The size estimate the budget checked (`None` without a budget).
    pub(super) estimate: Option<super::budget::Estimate>,
}

impl Merging {
    /// Opens `samples.*` (if there are queries) and `raw.*` (if there is a raw export through
    /// queries) in `dir`; each `.json` too only if `json` says so.
    pub(super) fn create(
        dir: &Path,
        queries: bool,
        raw: bool,
        json: JsonFiles,
    ) -> Result<Self, CollectError> {
        Ok(Merging {
            samples: if queries {
                Some(SampleFiles::create(dir, "samples", json.samples)?)
            } else {
                None
            },
            raw: if raw {
                Some(SampleFiles::create(dir, RAW, json.raw)?)
            } else {
                None
            },
            raw_rows: if raw {
                Some(SeriesSpill::create(dir)?)
            } else {
                None
            },
            raw_plan: None,
            estimate: None,
            pending: Vec::new(),
            summaries: Vec::new(),
            series_rows: Vec::new(),
            charts: Vec::new(),
            coverage: BTreeMap::new(),
            raw_series: 0,
            raw_samples: 0,
            artifacts: Vec::new(),
            raw_warnings: Vec::new(),
            raw_method: None,
            samples_parquet: false,
        })
    }
}

/// What the consumer reads but does not change.
pub(super) struct Consumer<'a> {
    pub(super) resolved: &'a Resolved,
    /// The parts directory in the temp bundle.
    pub(super) parts: &'a Path,
    pub(super) progress: &'a ProgressTx,
}

impl Consumer<'_> {
    /// Awaits every fetch in order and merges each destination once its last chunk is in.
    pub(super) async fn consume(
        &self,
        rx: &mut UnboundedReceiver<InFlight>,
        m: &mut Merging,
    ) -> Result<(), CollectError> {
        while let Some(InFlight {
            dest,
            name,
            chunk,
            of,
            merge_after,
            task,
        }) = rx.recv().await
        {
            let fetched = task
                .await
                .map_err(|e| CollectError::Task(e.to_string()))??;
            let samples = match &fetched {
                Fetched::Part(p) => p.samples,
                Fetched::Parts(p) => p.iter().map(|p| p.samples).sum(),
                Fetched::Coverage(_) => 0,
            };
            emit(
                self.progress,
                Progress::ChunkFetched {
                    job: name.to_string(),
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
                    continue;
                }
                Fetched::Part(part) => m.pending.push(part),
                Fetched::Parts(parts) => {
                    // Each refusal replaced one request by two.
                    if let Some(plan) = m.raw_plan.as_mut() {
                        plan.refused_and_halved += parts.len().saturating_sub(1) as u64;
                    }
                    m.pending.extend(parts);
                }
            }
            if merge_after {
                self.merge(m, dest, &name, chunk + 1 == of).await?;
            }
        }
        Ok(())
    }

    /// Merges the pending parts of `dest` (named `name`) and records what they gave; `last`: no
    /// parts of `dest` follow (a raw fallback is merged in batches).
    async fn merge(
        &self,
        m: &mut Merging,
        dest: Destination,
        name: &str,
        last: bool,
    ) -> Result<(), CollectError> {
        let chunks = m.pending.len();
        let merged = self.merge_pending(m, dest, name).await?;
        let done = |series: u64, samples: u64| Progress::QueryDone {
            query: name.to_owned(),
            series,
            samples,
            absent: series == 0,
        };
        match dest {
            Destination::Query(qi) => {
                emit(
                    self.progress,
                    done(merged.series.len() as u64, merged.samples),
                );
                self.record_query(m, qi, merged, chunks);
            }
            _ => {
                self.record_raw(m, merged).await?;
                if last {
                    emit(self.progress, done(m.raw_series, m.raw_samples));
                }
            }
        }
        Ok(())
    }

    /// Appends the pending parts to the destination's sample files, on a blocking thread.
    async fn merge_pending(
        &self,
        m: &mut Merging,
        dest: Destination,
        name: &str,
    ) -> Result<Merged, CollectError> {
        let pending = std::mem::take(&mut m.pending);
        let slot = if dest == Destination::Raw {
            &mut m.raw
        } else {
            &mut m.samples
        };
        let mut files = slot
            .take()
            .ok_or_else(|| CollectError::Task("sample files missing".into()))?;
        let spill = self.parts.join(format!("{name}.spill"));
        let query = name.to_owned();
        let (mut files, merged) = tokio::task::spawn_blocking(move || {
            let merged = merge_query(&query, pending, &mut files, &spill);
            (files, merged)
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
        let merged = merged?;
        files.csv.sync_in_background()?;
        if let Some(json) = files.json.as_mut() {
            json.sync_in_background()?;
        }
        *slot = Some(files);
        Ok(merged)
    }

    /// A batch of the raw export: its counts and warnings, and its `raw_series.csv` rows.
    async fn record_raw(&self, m: &mut Merging, merged: Merged) -> Result<(), CollectError> {
        m.raw_series += merged.series.len() as u64;
        m.raw_samples += merged.samples;
        m.raw_warnings.extend(merged.warnings);
        m.raw_warnings.sort();
        m.raw_warnings.dedup();
        let mut spill = m
            .raw_rows
            .take()
            .ok_or_else(|| CollectError::Task("raw series spill missing".into()))?;
        let spill = tokio::task::spawn_blocking(move || {
            for (key, labels) in &merged.series {
                spill.push(key, labels)?;
            }
            Ok::<_, CollectError>(spill)
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
        m.raw_rows = Some(spill);
        Ok(())
    }

    /// A query of the plan: its report, `series.csv` rows, chart and KPIs.
    fn record_query(&self, m: &mut Merging, qi: usize, merged: Merged, chunks: usize) {
        let q = &self.resolved.queries[qi];
        let series = merged.series.len() as u64;
        let report = QueryReport {
            name: q.query.name.clone(),
            promql: q.query.promql.clone(),
            sent_promql: q.sent.clone(),
            kind: q.query.kind,
            origin: q.query.origin.clone(),
            unit: q.query.unit,
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
    }
}
