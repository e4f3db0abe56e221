//! KPIs per named window: every named window that overlaps the collection (clipped to it) gets
//! the same KPIs as the whole collection — per series and aggregated per query, by the same
//! [`KpiSet`] — computed from the samples of the query inside the window.
//!
//! A second pass over the finished `samples.csv` (rows grouped by query, then series, then
//! time): memory is one series per window plus the spill files of the pooled percentiles, as
//! in the merge. Counters count only the increase between samples inside the window, as the
//! whole-window KPIs do (no extrapolation to the window's edges).

use super::kpi::{parse_le, CounterAcc, Integral, Kpi, KpiKind};
use super::kpi_set::{bucket_group, KpiSet};
use super::matrix::Labels;
use super::merge::SeriesOut;
use super::part::{parse_value, series_kind};
use super::series::label;
use super::summary::QuerySummary;
use super::{CollectError, MarkedWindow};
use crate::domain::Timestamp;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

/// The window name of the whole collection's KPI rows.
pub(crate) const WHOLE: &str = "collection";

/// The KPIs of one named window.
#[derive(Debug, Clone)]
pub(crate) struct WindowSummary {
    pub(crate) name: String,
    /// The window clipped to the collection.
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// Queries with samples in the window, in bundle order.
    pub(crate) queries: Vec<WindowQuery>,
}

/// One query's KPIs in one window.
#[derive(Debug, Clone)]
pub(crate) struct WindowQuery {
    pub(crate) name: String,
    pub(crate) series: Vec<SeriesOut>,
    pub(crate) aggregate: Vec<Kpi>,
}

/// One series' samples inside one window.
#[derive(Default)]
struct Acc {
    values: Vec<f64>,
    nonfinite: u64,
    counter: CounterAcc,
    integral: Integral,
}

/// The windows that overlap `[start_ms, end_ms]`, clipped to it.
fn overlapping(windows: &[MarkedWindow], start_ms: i64, end_ms: i64) -> Vec<(String, i64, i64)> {
    windows
        .iter()
        .filter_map(|w| {
            let (a, b) = (
                w.start.unix_millis().max(start_ms),
                w.end.unix_millis().min(end_ms),
            );
            (a <= b && w.name != WHOLE).then(|| (w.name.clone(), a, b))
        })
        .collect()
}

fn ts(ms: i64) -> Result<Timestamp, CollectError> {
    Timestamp::from_unix(ms as f64 / 1000.0).map_err(|e| CollectError::Task(e.0))
}

/// What the pass needs to know about each series: its labels and kind.
type Kinds<'a> = HashMap<(&'a str, &'a str), (&'a Labels, KpiKind)>;

/// Per-window KPIs from `dir/samples.csv`.
pub(crate) fn window_kpis(
    dir: &Path,
    windows: &[MarkedWindow],
    (start_ms, end_ms): (i64, i64),
    summaries: &[QuerySummary],
    series_rows: &[(String, String, Labels)],
) -> Result<Vec<WindowSummary>, CollectError> {
    let spans = overlapping(windows, start_ms, end_ms);
    let path = dir.join("samples.csv");
    if spans.is_empty() || !path.is_file() {
        return Ok(Vec::new());
    }
    let query_kind: HashMap<&str, _> = summaries
        .iter()
        .map(|s| (s.report.name.as_str(), s.report.kind))
        .collect();
    let kinds: Kinds<'_> = series_rows
        .iter()
        .filter_map(|(q, k, l)| {
            let kind = series_kind(*query_kind.get(q.as_str())?, l);
            Some(((q.as_str(), k.as_str()), (l, kind)))
        })
        .collect();
    let mut out: Vec<WindowSummary> = Vec::with_capacity(spans.len());
    for (name, a, b) in &spans {
        out.push(WindowSummary {
            name: name.clone(),
            start: ts(*a)?,
            end: ts(*b)?,
            queries: Vec::new(),
        });
    }
    let mut pass = Pass {
        dir,
        spans: &spans,
        kinds: &kinds,
        out: &mut out,
        query: String::new(),
        key: String::new(),
        sets: Vec::new(),
        accs: (0..spans.len()).map(|_| Acc::default()).collect(),
    };
    let file = std::fs::File::open(&path).map_err(|e| CollectError::io(&path, e))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    for line in reader.lines().skip(1) {
        let line = line.map_err(|e| CollectError::io(&path, e))?;
        let mut f = line.splitn(4, ',');
        let (Some(t), Some(q), Some(k), Some(v)) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(CollectError::Task(format!("samples.csv: bad row {line:?}")));
        };
        let ms: i64 = t
            .parse()
            .map_err(|_| CollectError::Task(format!("samples.csv: timestamp {t:?}")))?;
        let v = parse_value(v.as_bytes())
            .ok_or_else(|| CollectError::Task(format!("samples.csv: value {v:?}")))?;
        pass.sample(q, k, ms, v)?;
    }
    pass.end_query()?;
    Ok(out)
}

/// The state of the pass over `samples.csv`.
struct Pass<'a> {
    dir: &'a Path,
    spans: &'a [(String, i64, i64)],
    kinds: &'a Kinds<'a>,
    out: &'a mut Vec<WindowSummary>,
    query: String,
    key: String,
    /// One per window, for the current query.
    sets: Vec<KpiSet>,
    /// One per window, for the current series.
    accs: Vec<Acc>,
}

impl Pass<'_> {
    fn sample(&mut self, q: &str, k: &str, ms: i64, v: f64) -> Result<(), CollectError> {
        if q != self.query {
            self.end_query()?;
            self.query = q.to_owned();
            self.key = k.to_owned();
            self.sets = (0..self.spans.len())
                .map(|i| KpiSet::new(q, &self.dir.join(format!(".window-spill-{i}"))))
                .collect::<Result<_, _>>()?;
        } else if k != self.key {
            self.end_series()?;
            self.key = k.to_owned();
        }
        for (i, &(_, a, b)) in self.spans.iter().enumerate() {
            if ms < a || ms > b {
                continue;
            }
            let acc = &mut self.accs[i];
            if v.is_finite() {
                acc.values.push(v);
            } else {
                acc.nonfinite += 1;
            }
            acc.counter.push(ms, v);
            acc.integral.push(ms, v);
        }
        Ok(())
    }

    /// Hands the current series' samples of each window to that window's KPIs.
    fn end_series(&mut self) -> Result<(), CollectError> {
        let Some(&(labels, kind)) = self.kinds.get(&(self.query.as_str(), self.key.as_str()))
        else {
            self.accs.iter_mut().for_each(|a| *a = Acc::default());
            return Ok(());
        };
        for (set, acc) in self.sets.iter_mut().zip(self.accs.iter_mut()) {
            let mut acc = std::mem::take(acc);
            if acc.values.is_empty() && acc.nonfinite == 0 {
                continue;
            }
            match (kind, label(labels, "le").and_then(parse_le)) {
                (KpiKind::Gauge, _) => set.gauge(
                    &self.key,
                    labels,
                    &mut acc.values,
                    acc.nonfinite,
                    &acc.integral,
                )?,
                (KpiKind::Histogram, Some(le)) => set.bucket(bucket_group(labels), le, acc.counter),
                _ => set.counter(&self.key, labels, &acc.counter),
            }
        }
        Ok(())
    }

    fn end_query(&mut self) -> Result<(), CollectError> {
        if self.query.is_empty() {
            return Ok(());
        }
        self.end_series()?;
        for (w, set) in self.out.iter_mut().zip(std::mem::take(&mut self.sets)) {
            let (series, aggregate) = set.finish()?;
            if !aggregate.is_empty() {
                w.queries.push(WindowQuery {
                    name: self.query.clone(),
                    series,
                    aggregate,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_clipped_to_the_collection_and_disjoint_ones_dropped() {
        let w = |name: &str, a: f64, b: f64| MarkedWindow {
            name: name.into(),
            start: Timestamp::from_unix(a).unwrap(),
            end: Timestamp::from_unix(b).unwrap(),
        };
        let spans = overlapping(
            &[
                w("warmup", 0.0, 15.0),
                w("steady", 15.0, 40.0),
                w("later", 50.0, 60.0),
            ],
            10_000,
            30_000,
        );
        assert_eq!(
            spans,
            [
                ("warmup".to_owned(), 10_000, 15_000),
                ("steady".to_owned(), 15_000, 30_000)
            ]
        );
    }
}
