//! Per-target coverage from the raw `up` samples of the window.
//!
//! For each target (an `up` series, labels without `__name__`): the scrapes present against the
//! scrapes expected (`window / scrape interval`), the `up` breakdown (1 vs 0) and the gaps —
//! stretches longer than two scrape intervals without a scrape, window edges included. The
//! scrape interval is the plan's, or else estimated per target as the smallest spacing between
//! its samples. A target is flagged when its coverage or its share of successful scrapes is
//! below the site's thresholds ([`QualityThresholds`]), or it has a gap.
//! Streaming: per target only counters and the [`MAX_GAPS`] longest spacings are kept.

use super::matrix::{Labels, MatrixSink};
use super::quality::QualityThresholds;
use super::series::{label, label_string};
use super::CollectError;
use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// Longest spacings kept (and gaps reported) per target.
pub(crate) const MAX_GAPS: usize = 50;

/// Coverage of every target the selector matched in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CoverageReport {
    pub selector: String,
    pub window_seconds: f64,
    /// The plan's scrape interval, if given.
    pub scrape_interval_seconds: Option<f64>,
    pub targets: Vec<TargetCoverage>,
    /// Targets flagged for low coverage or gaps.
    pub flagged: usize,
    pub method: String,
}

/// One target's coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetCoverage {
    /// `{instance="…",job="…",…}`
    pub target: String,
    pub labels: BTreeMap<String, String>,
    pub instance: Option<String>,
    pub job: Option<String>,
    /// Scrape interval used: the plan's, or estimated (smallest spacing).
    pub interval_seconds: Option<f64>,
    pub interval_estimated: bool,
    pub expected_scrapes: Option<f64>,
    pub scrapes: u64,
    /// `min(1, scrapes / expected)`.
    pub coverage: Option<f64>,
    /// Scrapes with `up == 1` and with `up == 0`.
    pub up: u64,
    pub down: u64,
    pub up_fraction: Option<f64>,
    pub max_gap_seconds: Option<f64>,
    pub gaps: Vec<Gap>,
    /// More gaps than [`MAX_GAPS`] may exist.
    pub gaps_truncated: bool,
    pub flagged: bool,
}

/// A stretch without scrapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Gap {
    pub target: String,
    /// Last scrape before the gap (or the window start).
    pub start: Timestamp,
    /// First scrape after it (or the window end).
    pub end: Timestamp,
    pub seconds: f64,
    /// Set when the gap is known from elsewhere than the samples (a silent scraper of a
    /// sharded session): what happened. The samples may cover the stretch (sent late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// One target's state over a time range; adjacent ranges combine with [`TargetAcc::append`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetAcc {
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
    pub(crate) n: u64,
    pub(crate) up: u64,
    pub(crate) down: u64,
    pub(crate) min_delta: Option<i64>,
    /// The longest spacings `(from, to)`, longest first, at most [`MAX_GAPS`] + 1.
    pub(crate) spacings: Vec<(i64, i64)>,
}

impl TargetAcc {
    fn spacing(&mut self, from: i64, to: i64) {
        let d = to - from;
        self.min_delta = Some(self.min_delta.map_or(d, |m| m.min(d)));
        if self.spacings.len() > MAX_GAPS && self.spacings.last().is_some_and(|&(a, b)| b - a >= d)
        {
            return;
        }
        let at = self.spacings.partition_point(|&(a, b)| b - a >= d);
        self.spacings.insert(at, (from, to));
        self.spacings.truncate(MAX_GAPS + 1);
    }

    fn push(&mut self, ms: i64, value: &[u8]) {
        if let Some(prev) = self.last {
            self.spacing(prev, ms);
        } else {
            self.first = Some(ms);
        }
        self.last = Some(ms);
        self.n += 1;
        match value {
            b"1" => self.up += 1,
            b"0" => self.down += 1,
            _ => {}
        }
    }

    pub(crate) fn append(&mut self, later: TargetAcc) {
        if let (Some(a), Some(b)) = (self.last, later.first) {
            self.spacing(a, b);
        }
        if self.first.is_none() {
            self.first = later.first;
        }
        if later.last.is_some() {
            self.last = later.last;
        }
        self.n += later.n;
        self.up += later.up;
        self.down += later.down;
        if let Some(d) = later.min_delta {
            self.min_delta = Some(self.min_delta.map_or(d, |m| m.min(d)));
        }
        for (a, b) in later.spacings {
            self.spacing(a, b);
        }
    }
}

/// Sink for one coverage chunk.
#[derive(Debug, Default)]
pub(crate) struct CoverageSink {
    pub(crate) targets: HashMap<Labels, TargetAcc>,
    current: Option<Labels>,
    acc: TargetAcc,
}

impl MatrixSink for CoverageSink {
    type Error = CollectError;
    fn series(&mut self, mut labels: Labels) -> Result<(), CollectError> {
        labels.retain(|(k, _)| k != "__name__");
        self.current = Some(labels);
        self.acc = TargetAcc::default();
        Ok(())
    }
    fn sample(&mut self, ms: i64, _ts: &[u8], value: &[u8]) -> Result<(), CollectError> {
        self.acc.push(ms, value);
        Ok(())
    }
    fn end_series(&mut self) -> Result<(), CollectError> {
        if let Some(l) = self.current.take() {
            let acc = std::mem::take(&mut self.acc);
            match self.targets.get_mut(&l) {
                Some(t) => t.append(acc),
                None => {
                    self.targets.insert(l, acc);
                }
            }
        }
        Ok(())
    }
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix(ms as f64 / 1000.0).unwrap_or_else(|_| Timestamp::now())
}

/// Builds the report from the combined per-target state.
pub(crate) fn report(
    selector: &str,
    start_ms: i64,
    end_ms: i64,
    scrape_ms: Option<i64>,
    targets: BTreeMap<Labels, TargetAcc>,
    thresholds: &QualityThresholds,
) -> CoverageReport {
    let (min_coverage, gap_intervals) = (thresholds.min_coverage, thresholds.gap_intervals);
    let window = (end_ms - start_ms) as f64 / 1000.0;
    let mut out = Vec::with_capacity(targets.len());
    for (labels, mut acc) in targets {
        let target = label_string(&labels);
        let interval = scrape_ms.or(acc.min_delta.filter(|&d| d > 0));
        // Window edges count as spacings too.
        if let (Some(first), Some(last)) = (acc.first, acc.last) {
            acc.spacing(start_ms, first);
            acc.spacing(last, end_ms);
        }
        let mut gaps = Vec::new();
        let mut truncated = false;
        if let Some(iv) = interval {
            let limit = gap_intervals * iv as f64;
            for &(a, b) in &acc.spacings {
                if (b - a) as f64 > limit {
                    if gaps.len() == MAX_GAPS {
                        truncated = true;
                        break;
                    }
                    gaps.push(Gap {
                        target: target.clone(),
                        start: ts(a),
                        end: ts(b),
                        seconds: (b - a) as f64 / 1000.0,
                        cause: None,
                    });
                }
            }
            gaps.sort_by_key(|g| g.start);
        }
        let expected = interval.map(|iv| window * 1000.0 / iv as f64);
        let coverage = expected.map(|e| {
            if e > 0.0 {
                (acc.n as f64 / e).min(1.0)
            } else {
                1.0
            }
        });
        let up_fraction =
            (acc.up + acc.down > 0).then(|| acc.up as f64 / (acc.up + acc.down) as f64);
        let flagged = coverage.is_none_or(|c| c < min_coverage)
            || up_fraction.is_some_and(|u| u < thresholds.min_up_fraction)
            || !gaps.is_empty();
        out.push(TargetCoverage {
            instance: label(&labels, "instance").map(str::to_owned),
            job: label(&labels, "job").map(str::to_owned),
            labels: labels.iter().cloned().collect(),
            target,
            interval_seconds: interval.map(|i| i as f64 / 1000.0),
            interval_estimated: scrape_ms.is_none(),
            expected_scrapes: expected,
            scrapes: acc.n,
            coverage,
            up: acc.up,
            down: acc.down,
            up_fraction,
            max_gap_seconds: acc.spacings.first().map(|&(a, b)| (b - a) as f64 / 1000.0),
            gaps,
            gaps_truncated: truncated,
            flagged,
        });
    }
    CoverageReport {
        selector: selector.to_owned(),
        window_seconds: window,
        scrape_interval_seconds: scrape_ms.map(|s| s as f64 / 1000.0),
        flagged: out.iter().filter(|t| t.flagged).count(),
        targets: out,
        method: format!(
            "raw samples of the selector in the window; expected = window / scrape interval (given, else the smallest spacing); coverage = min(1, scrapes/expected); a gap is a spacing over {gap_intervals} intervals, window edges included; flagged when coverage < {min_coverage}, up fraction < {} or any gap", thresholds.min_up_fraction
        ),
    }
}

/// Flags the targets of every known gap that overlaps the window `[start_ms, end_ms]`, with
/// the overlap as a gap of theirs; a target of one that has no `up` in the window at all gets an
/// entry of its own (labelled by its `instance` alone), so none goes missing unflagged.
pub(crate) fn mark_known_gaps(
    report: &mut CoverageReport,
    known: &[super::KnownGap],
    start_ms: i64,
    end_ms: i64,
    scrape_ms: Option<i64>,
) {
    for k in known {
        let from = k.start.unix_millis().max(start_ms);
        let to = k.end.map_or(end_ms, |e| e.unix_millis()).min(end_ms);
        if from >= to {
            continue;
        }
        for instance in &k.instances {
            let at = report
                .targets
                .iter()
                .position(|t| t.instance.as_deref() == Some(instance));
            let at = at.unwrap_or_else(|| {
                let labels: Labels = vec![("instance".to_owned(), instance.clone())];
                let expected = scrape_ms.map(|iv| (end_ms - start_ms) as f64 / iv as f64);
                report.targets.push(TargetCoverage {
                    target: label_string(&labels),
                    labels: labels.into_iter().collect(),
                    instance: Some(instance.clone()),
                    job: None,
                    interval_seconds: scrape_ms.map(|i| i as f64 / 1000.0),
                    interval_estimated: false,
                    expected_scrapes: expected,
                    scrapes: 0,
                    coverage: Some(0.0),
                    up: 0,
                    down: 0,
                    up_fraction: None,
                    max_gap_seconds: None,
                    gaps: Vec::new(),
                    gaps_truncated: false,
                    flagged: true,
                });
                report.targets.len() - 1
            });
            let t = &mut report.targets[at];
            let seconds = (to - from) as f64 / 1000.0;
            t.gaps.push(Gap {
                target: t.target.clone(),
                start: ts(from),
                end: ts(to),
                seconds,
                cause: Some(k.cause.clone()),
            });
            t.gaps.sort_by_key(|g| g.start);
            t.max_gap_seconds = Some(t.max_gap_seconds.unwrap_or(0.0).max(seconds));
            t.flagged = true;
        }
    }
    report.flagged = report.targets.iter().filter(|t| t.flagged).count();
}

/// `coverage.csv`.
pub(crate) fn to_csv(r: &CoverageReport) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "target",
        "instance",
        "job",
        "scrapes",
        "expected_scrapes",
        "coverage",
        "up",
        "down",
        "up_fraction",
        "interval_seconds",
        "interval_estimated",
        "max_gap_seconds",
        "gaps",
        "flagged",
    ])?;
    let f = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for t in &r.targets {
        w.write_record([
            t.target.clone(),
            t.instance.clone().unwrap_or_default(),
            t.job.clone().unwrap_or_default(),
            t.scrapes.to_string(),
            f(t.expected_scrapes),
            f(t.coverage),
            t.up.to_string(),
            t.down.to_string(),
            f(t.up_fraction),
            f(t.interval_seconds),
            t.interval_estimated.to_string(),
            f(t.max_gap_seconds),
            t.gaps.len().to_string(),
            t.flagged.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(times: &[i64]) -> TargetAcc {
        let mut a = TargetAcc::default();
        for &t in times {
            a.push(t, b"1");
        }
        a
    }

    #[test]
    fn gaps_and_coverage_from_scrapes_split_across_chunks() {
        // Scrapes every 10s over [0, 100s], missing 40..70 (a 40s spacing), split in two chunks.
        let mut a = acc(&[0, 10_000, 20_000, 30_000]);
        a.append(acc(&[70_000, 80_000, 90_000, 100_000]));
        let l: Labels = vec![("instance".into(), "n1".into())];
        let r = report(
            "up",
            0,
            100_000,
            Some(10_000),
            [(l, a)].into_iter().collect(),
            &QualityThresholds::default(),
        );
        let t = &r.targets[0];
        assert_eq!((t.scrapes, t.up, t.down), (8, 8, 0));
        assert_eq!(t.coverage, Some(0.8));
        assert_eq!(t.gaps.len(), 1);
        assert_eq!(t.gaps[0].seconds, 40.0);
        assert!(t.flagged);
        assert_eq!(r.flagged, 1);
    }

    #[test]
    fn estimated_interval_and_trailing_gap() {
        let a = acc(&[0, 5_000, 10_000, 15_000]);
        let t = QualityThresholds::default();
        let r = report(
            "up",
            0,
            60_000,
            None,
            [(vec![], a)].into_iter().collect(),
            &t,
        );
        let t = &r.targets[0];
        assert_eq!(t.interval_seconds, Some(5.0));
        assert!(t.interval_estimated);
        assert_eq!(t.gaps.len(), 1);
        assert_eq!(t.gaps[0].seconds, 45.0);
    }

    #[test]
    fn a_known_gap_flags_its_targets_within_the_window_and_adds_the_missing_ones() {
        const T0: i64 = 1_000_000;
        let every_10s: Vec<i64> = (0..=10).map(|i| T0 + i * 10_000).collect();
        let l = |i: &str| -> Labels { vec![("instance".into(), i.into())] };
        let mut r = report(
            "up",
            T0,
            T0 + 100_000,
            Some(10_000),
            [(l("a:1"), acc(&every_10s)), (l("b:1"), acc(&every_10s))]
                .into_iter()
                .collect(),
            &QualityThresholds::default(),
        );
        assert_eq!(r.flagged, 0);
        let at = |ms: i64| Timestamp::from_unix((T0 + ms) as f64 / 1000.0).unwrap();
        let known = [
            super::super::KnownGap {
                instances: vec!["a:1".into(), "gone:1".into()],
                start: at(-20_000),
                end: Some(at(30_000)),
                cause: "scraper 1 silent".into(),
            },
            // Outside the window: nothing.
            super::super::KnownGap {
                instances: vec!["b:1".into()],
                start: at(200_000),
                end: None,
                cause: "later".into(),
            },
        ];
        mark_known_gaps(&mut r, &known, T0, T0 + 100_000, Some(10_000));
        assert_eq!(r.flagged, 2);
        let a = r.targets.iter().find(|t| t.target.contains("a:1")).unwrap();
        assert!(a.flagged);
        assert_eq!(a.gaps.len(), 1);
        assert_eq!((a.gaps[0].seconds, a.gaps[0].start), (30.0, at(0)));
        assert_eq!(a.gaps[0].cause.as_deref(), Some("scraper 1 silent"));
        let gone = r
            .targets
            .iter()
            .find(|t| t.instance.as_deref() == Some("gone:1"));
        let gone = gone.unwrap();
        assert!(gone.flagged && gone.scrapes == 0, "{gone:?}");
        assert!(
            !r.targets
                .iter()
                .find(|t| t.target.contains("b:1"))
                .unwrap()
                .flagged
        );
    }
}
