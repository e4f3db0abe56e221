//! One chunk's share of a query, written to disk as it is parsed: the [`MatrixSink`] that the
//! fetchers feed.
//!
//! A part is three files — the `samples.csv` rows, the `samples.json` `[ts,"v"]` pairs and, for
//! gauges, the finite values as little-endian f64 (for exact percentiles later) — plus an index
//! in memory: per series its labels, byte ranges in those files and KPI state. [`super::merge`]
//! later copies the ranges series by series into the bundle, so a series fetched in several
//! chunks ends up contiguous and in time order.

use super::chart::{Bin, Binning, ChartAcc, MAX_LINES};
use super::kpi::{CounterAcc, Integral, KpiKind};
use super::matrix::{Labels, MatrixMeta, MatrixSink};
use super::series::{label, series_key};
use super::{CollectError, MetricKind};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Buffer size before a write to the part file.
const FLUSH_AT: usize = 256 * 1024;

/// What a part is for.
#[derive(Debug, Clone)]
pub(crate) struct PartSpec {
    /// Query name as written in the `query` column.
    pub(crate) query: Arc<str>,
    /// `None` for the raw export: no KPIs, no chart.
    pub(crate) kind: Option<MetricKind>,
    /// Parts directory and file stem (`q3-c1`).
    pub(crate) dir: PathBuf,
    pub(crate) stem: String,
    pub(crate) binning: Binning,
    pub(crate) cancel: CancellationToken,
}

/// A series within a part.
#[derive(Debug, Clone)]
pub(crate) struct PartSeries {
    pub(crate) labels: Labels,
    pub(crate) key: String,
    pub(crate) kind: Option<KpiKind>,
    /// Byte ranges `(offset, len)` in the part's files; `vals` counts f64s.
    pub(crate) csv: (u64, u64),
    pub(crate) json: (u64, u64),
    pub(crate) vals: (u64, u64),
    pub(crate) samples: u64,
    /// Gauges: samples that were NaN or ±Inf.
    pub(crate) nonfinite: u64,
    /// Counters and histogram buckets.
    pub(crate) counter: CounterAcc,
    /// Gauges: the integral over time.
    pub(crate) integral: Integral,
    /// Mean-per-bin chart data, for the first [`MAX_LINES`] series of the part.
    pub(crate) bins: Vec<Bin>,
}

/// A finished part.
#[derive(Debug)]
pub(crate) struct ChunkPart {
    pub(crate) paths: [PathBuf; 3],
    pub(crate) series: Vec<PartSeries>,
    pub(crate) samples: u64,
    pub(crate) meta: MatrixMeta,
    pub(crate) chart: Option<ChartAcc>,
}

struct Out {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    flushed: u64,
}

impl Out {
    fn create(path: PathBuf) -> Result<Self, CollectError> {
        let file = File::create(&path).map_err(|e| CollectError::io(&path, e))?;
        Ok(Out {
            path,
            file,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            flushed: 0,
        })
    }

    fn pos(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    #[inline]
    fn maybe_flush(&mut self) -> Result<(), CollectError> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CollectError> {
        self.file
            .write_all(&self.buf)
            .map_err(|e| CollectError::io(&self.path, e))?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// The sink for one chunk.
pub(crate) struct PartWriter {
    spec: PartSpec,
    csv: Out,
    json: Out,
    vals: Out,
    series: Vec<PartSeries>,
    /// Index of the open series in `series`.
    open: Option<usize>,
    samples: u64,
    chart: Option<ChartAcc>,
}

/// Kind of one series: the query's, or by name for [`MetricKind::Auto`].
pub(crate) fn series_kind(kind: MetricKind, labels: &Labels) -> KpiKind {
    let has_le = label(labels, "le").is_some();
    match kind {
        MetricKind::Gauge => KpiKind::Gauge,
        MetricKind::Counter => KpiKind::Counter,
        MetricKind::Histogram if has_le => KpiKind::Histogram,
        MetricKind::Histogram => KpiKind::Counter,
        MetricKind::Auto => {
            let name = label(labels, "__name__").unwrap_or("");
            if name.ends_with("_bucket") && has_le {
                KpiKind::Histogram
            } else if name.ends_with("_total") || name.ends_with("_count") || name.ends_with("_sum")
            {
                KpiKind::Counter
            } else {
                KpiKind::Gauge
            }
        }
    }
}

/// Prometheus's value text as f64 (`NaN`, `+Inf`, `-Inf`, decimal or exponent form).
pub(crate) fn parse_value(v: &[u8]) -> Option<f64> {
    match v {
        b"NaN" => Some(f64::NAN),
        b"+Inf" => Some(f64::INFINITY),
        b"-Inf" => Some(f64::NEG_INFINITY),
        _ => fast_decimal(v).or_else(|| std::str::from_utf8(v).ok()?.parse().ok()),
    }
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Plain decimals of at most 15 digits (`-12.345`), exactly: the digits and the power of ten
/// are both exact f64s, so one division rounds correctly (Clinger's fast path) and the result
/// equals the full parser's.
fn fast_decimal(v: &[u8]) -> Option<f64> {
    let (neg, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    let (mut m, mut n, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    for &c in digits {
        if c == b'.' && !dot {
            dot = true;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m * 10 + u64::from(d);
        n += 1;
        frac += usize::from(dot);
        if n > 15 {
            return None;
        }
    }
    if n == 0 {
        return None;
    }
    let x = m as f64 / POW10[frac];
    Some(if neg { -x } else { x })
}

impl PartWriter {
    pub(crate) fn create(spec: PartSpec) -> Result<Self, CollectError> {
        let path = |ext: &str| spec.dir.join(format!("{}.{ext}", spec.stem));
        let chart = spec.kind.map(|_| ChartAcc::new(spec.binning));
        Ok(PartWriter {
            csv: Out::create(path("csv"))?,
            json: Out::create(path("json"))?,
            vals: Out::create(path("f64"))?,
            spec,
            series: Vec::new(),
            open: None,
            samples: 0,
            chart,
        })
    }

    pub(crate) fn finish(mut self, meta: MatrixMeta) -> Result<ChunkPart, CollectError> {
        self.csv.flush()?;
        self.json.flush()?;
        self.vals.flush()?;
        Ok(ChunkPart {
            paths: [self.csv.path, self.json.path, self.vals.path],
            series: self.series,
            samples: self.samples,
            meta,
            chart: self.chart,
        })
    }

    fn current(&mut self) -> Result<&mut PartSeries, CollectError> {
        let i = self
            .open
            .ok_or_else(|| CollectError::Task("sample outside a series".into()))?;
        Ok(&mut self.series[i])
    }
}

impl MatrixSink for PartWriter {
    type Error = CollectError;

    fn series(&mut self, labels: Labels) -> Result<(), CollectError> {
        if self.spec.cancel.is_cancelled() {
            return Err(CollectError::Cancelled);
        }
        let key = series_key(&self.spec.query, &labels);
        let kind = self.spec.kind.map(|k| series_kind(k, &labels));
        self.series.push(PartSeries {
            labels,
            key,
            kind,
            csv: (self.csv.pos(), 0),
            json: (self.json.pos(), 0),
            vals: (self.vals.pos() / 8, 0),
            samples: 0,
            nonfinite: 0,
            counter: CounterAcc::default(),
            integral: Integral::default(),
            bins: Vec::new(),
        });
        self.open = Some(self.series.len() - 1);
        Ok(())
    }

    #[inline]
    fn sample(&mut self, ms: i64, _ts: &[u8], value: &[u8]) -> Result<(), CollectError> {
        let i = self
            .open
            .ok_or_else(|| CollectError::Task("sample outside a series".into()))?;
        let s = &mut self.series[i];
        // samples.csv row: timestamp_ms,query,series,value
        let b = &mut self.csv.buf;
        write_ms(b, ms);
        b.push(b',');
        b.extend_from_slice(self.spec.query.as_bytes());
        b.push(b',');
        b.extend_from_slice(s.key.as_bytes());
        b.push(b',');
        b.extend_from_slice(value);
        b.push(b'\n');
        // samples.json pair: [ts,"value"]
        let j = &mut self.json.buf;
        if s.samples > 0 {
            j.push(b',');
        }
        j.push(b'[');
        write_ms(j, ms);
        j.extend_from_slice(b",\"");
        j.extend_from_slice(value);
        j.extend_from_slice(b"\"]");
        s.samples += 1;
        self.samples += 1;
        if let Some(kind) = s.kind {
            let v = parse_value(value).ok_or_else(|| CollectError::Response {
                query: self.spec.query.to_string(),
                reason: format!(
                    "sample value {:?} is not a number",
                    String::from_utf8_lossy(value)
                ),
            })?;
            match kind {
                KpiKind::Gauge if v.is_finite() => {
                    self.vals.buf.extend_from_slice(&v.to_le_bytes());
                    s.integral.push(ms, v);
                }
                KpiKind::Gauge => s.nonfinite += 1,
                KpiKind::Counter | KpiKind::Histogram => s.counter.push(ms, v),
            }
            if let (Some(chart), true) = (self.chart.as_mut(), v.is_finite()) {
                let own = (i < MAX_LINES).then_some(&mut s.bins);
                chart.push(ms, v, own);
            }
            self.vals.maybe_flush()?;
        }
        self.csv.maybe_flush()?;
        self.json.maybe_flush()
    }

    fn end_series(&mut self) -> Result<(), CollectError> {
        let (csv, json, vals) = (self.csv.pos(), self.json.pos(), self.vals.pos() / 8);
        let s = self.current()?;
        s.csv.1 = csv - s.csv.0;
        s.json.1 = json - s.json.0;
        s.vals.1 = vals - s.vals.0;
        self.open = None;
        Ok(())
    }
}

/// Removes a part's files; best effort (they live in the bundle's temp dir anyway).
pub(crate) fn remove_part(paths: &[PathBuf; 3]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// Integer milliseconds, the exact form of a Prometheus timestamp (its text, unix seconds with
/// up to three decimals, reads back inexact as a float: `…35.882999897`).
#[inline]
pub(crate) fn write_ms(out: &mut Vec<u8>, ms: i64) {
    // itoa, not `write!`: the formatting machinery was a tenth of a query export's CPU.
    out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_value_parsing_matches_the_standard_parser() {
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "49.9",
            "0.1",
            "1e-05",
            "123456789012345",
            "1234567890123456",
            "-3.25",
            "99.99",
            "0.000001",
            "5.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for i in 0..20_000u64 {
            let x = (i * 2_654_435_761 % 1_000_003) as f64 / 977.0;
            cases.push(x.to_string());
            cases.push(format!("{:.3}", x));
        }
        for c in cases {
            let want: f64 = c.parse().unwrap();
            assert_eq!(
                parse_value(c.as_bytes()).unwrap().to_bits(),
                want.to_bits(),
                "{c}"
            );
        }
        assert!(parse_value(b"NaN").unwrap().is_nan());
        assert_eq!(parse_value(b"x"), None);
    }
}
