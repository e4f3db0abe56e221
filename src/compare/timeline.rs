//! The two runs' samples for the overlaid charts, on time since each window's start so runs
//! made on different days line up. Read from `samples.csv`/`series.csv` as they stream past,
//! binned into [`BINS`] bins per line: memory is bounded by the charted queries, not the
//! window. A query with more than [`MAX_LINES`] series is drawn as the mean over its series.

use super::labels::{parse_label_string, Identity};
use super::Bundle;
use std::collections::{BTreeMap, BTreeSet};

/// Bins per line.
pub const BINS: usize = 300;
/// Queries with more series are drawn as their mean.
pub const MAX_LINES: usize = 6;

#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    sum: f64,
    n: u32,
}

/// One run's binned lines of one query.
#[derive(Debug, Clone, Default)]
pub struct RunLines {
    /// Identity → bins, until the query has more than [`MAX_LINES`] series.
    per_series: Option<BTreeMap<String, Vec<Bin>>>,
    pooled: Vec<Bin>,
    series: BTreeSet<String>,
}

/// A line ready to draw: points `(seconds since window start, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

impl RunLines {
    fn push(&mut self, identity: &str, bin: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        let add = |bins: &mut Vec<Bin>| {
            if bins.is_empty() {
                bins.resize(BINS, Bin::default());
            }
            bins[bin].sum += v;
            bins[bin].n += 1;
        };
        add(&mut self.pooled);
        if !self.series.contains(identity) {
            self.series.insert(identity.to_owned());
            if self.series.len() > MAX_LINES {
                self.per_series = None;
            }
        }
        if self.series.len() <= MAX_LINES {
            add(self
                .per_series
                .get_or_insert_with(BTreeMap::new)
                .entry(identity.to_owned())
                .or_default());
        }
    }

    /// The lines: one per series, or the mean over all of them.
    pub fn lines(&self, seconds: f64) -> Vec<Line> {
        let points = |bins: &[Bin]| -> Vec<(f64, f64)> {
            bins.iter()
                .enumerate()
                .filter(|(_, b)| b.n > 0)
                .map(|(i, b)| {
                    let x = seconds * (i as f64 + 0.5) / BINS as f64;
                    (x, b.sum / f64::from(b.n))
                })
                .collect()
        };
        match &self.per_series {
            Some(m) => m
                .iter()
                .map(|(k, bins)| Line {
                    label: if k.is_empty() {
                        "{}".into()
                    } else {
                        format!("{{{k}}}")
                    },
                    points: points(bins),
                })
                .collect(),
            None if !self.pooled.is_empty() => vec![Line {
                label: format!("mean of {} series", self.series.len()),
                points: points(&self.pooled),
            }],
            None => Vec::new(),
        }
    }
}

/// Reads the samples of `queries` from a bundle; a bundle without `samples.csv` has none.
pub fn read(
    bundle: &Bundle,
    queries: &BTreeSet<String>,
    identity: &Identity,
) -> Result<BTreeMap<String, RunLines>, String> {
    let mut out: BTreeMap<String, RunLines> = BTreeMap::new();
    let series_path = bundle.dir.join("series.csv");
    let samples_path = bundle.dir.join("samples.csv");
    if !series_path.exists() || !samples_path.exists() {
        return Ok(out);
    }
    let mut ids: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut r = csv::Reader::from_path(&series_path).map_err(|e| e.to_string())?;
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let (Some(q), Some(key), Some(labels)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            continue;
        };
        if queries.contains(q) {
            let id = identity.key(&parse_label_string(labels)?);
            ids.entry(q.to_owned())
                .or_default()
                .insert(key.to_owned(), id);
        }
    }
    let mut r = csv::Reader::from_path(&samples_path).map_err(|e| e.to_string())?;
    // `timestamp` (unix seconds) today, `timestamp_ms` (integer ms) in newer bundles.
    let to_ms: fn(&str) -> Option<f64> = match r.headers().map_err(|e| e.to_string())?.get(0) {
        Some("timestamp_ms") => |s| s.parse::<f64>().ok(),
        _ => |s| s.parse::<f64>().ok().map(|t| t * 1000.0),
    };
    let (start_ms, span_ms) = (bundle.start * 1000.0, (bundle.end - bundle.start) * 1000.0);
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let (Some(t), Some(q), Some(key), Some(v)) =
            (rec.get(0), rec.get(1), rec.get(2), rec.get(3))
        else {
            continue;
        };
        if !queries.contains(q) {
            continue;
        }
        let (Some(ms), Ok(v)) = (to_ms(t), v.parse::<f64>()) else {
            continue;
        };
        let off = ms - start_ms;
        if off < 0.0 || off > span_ms || span_ms <= 0.0 {
            continue;
        }
        let bin = ((off / span_ms * BINS as f64) as usize).min(BINS - 1);
        let id = ids
            .get(q)
            .and_then(|m| m.get(key))
            .map_or(key, String::as_str);
        out.entry(q.to_owned()).or_default().push(id, bin, v);
    }
    Ok(out)
}
