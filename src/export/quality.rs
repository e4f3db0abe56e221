//! The verdict on a collection: `ok`, `partial` or `empty`, with the reasons.
//!
//! `complete` (in the manifest) only says every file was written; a complete bundle can still
//! hold nothing useful. The verdict says whether the data can be trusted: `empty` when not a
//! single sample was written, or when targets were tried but no scrape succeeded; `partial` when a query matched nothing, a target's coverage or
//! its share of successful scrapes is under the site's threshold, or a target has a gap;
//! `ok` otherwise. The thresholds are site config (`[collect.quality]`) and are copied into the
//! manifest next to the verdict, so a bundle says what it was judged against.

use super::coverage::CoverageReport;
use super::profiles::OPTIONAL;
use super::{QueryOrigin, QueryReport, QueryStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How much a collection can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Every query matched, every target covered, no gaps.
    Ok,
    /// Some data, with the problems listed in the reasons.
    Partial,
    /// Not a single sample in the window, or not a single successful scrape.
    Empty,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Ok => "ok",
            Quality::Partial => "partial",
            Quality::Empty => "empty",
        }
    }
}

/// What kind of problem a reason names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// No sample at all in the window (queries and raw export).
    NoSamples,
    /// Targets were tried but not one scrape succeeded (`up` is 0 throughout): the only
    /// samples are Prometheus's own bookkeeping of the failures.
    NoSuccessfulScrapes,
    /// Queries that matched no series.
    AbsentQueries,
    /// Targets scraped less often than `min_coverage` of the expected scrapes.
    LowCoverage,
    /// Targets whose scrapes failed (`up == 0`) more than `1 - min_up_fraction` of the time.
    TargetsDown,
    /// Targets with stretches of more than `gap_intervals` scrape intervals without a scrape.
    Gaps,
}

/// One reason for a verdict below `ok`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    pub code: ReasonCode,
    /// One sentence for people.
    pub detail: String,
    /// The queries concerned (`absent_queries`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
    /// The targets concerned, as label sets (`low_coverage`, `targets_down`, `gaps`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

/// The site's thresholds (`[collect.quality]` in the TOML config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QualityThresholds {
    /// A target with fewer scrapes than this share of the expected ones makes the collection
    /// partial (0–1, default 0.9).
    pub min_coverage: f64,
    /// A target with a smaller share of successful scrapes (`up == 1`) makes it partial (0–1,
    /// default 0.9).
    pub min_up_fraction: f64,
    /// A spacing between scrapes longer than this many scrape intervals is a gap (default 2).
    pub gap_intervals: f64,
    /// Whether a gap alone makes the collection partial (default true).
    pub gaps_are_partial: bool,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        QualityThresholds {
            min_coverage: 0.9,
            min_up_fraction: 0.9,
            gap_intervals: 2.0,
            gaps_are_partial: true,
        }
    }
}

impl QualityThresholds {
    /// Checked when the site config is loaded.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("min_coverage", self.min_coverage),
            ("min_up_fraction", self.min_up_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("collect.quality.{name} = {v} is not within 0..1"));
            }
        }
        if !(self.gap_intervals.is_finite() && self.gap_intervals >= 1.0) {
            return Err(format!(
                "collect.quality.gap_intervals = {} is below 1",
                self.gap_intervals
            ));
        }
        Ok(())
    }
}

/// The verdict, as the response, the manifest and `summary.json` carry it (flattened).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    pub quality: Quality,
    /// Empty when the quality is `ok`.
    #[serde(rename = "quality_reasons")]
    pub reasons: Vec<Reason>,
    /// Facts that do not lower the verdict (a profile none of whose queries matched: the
    /// services registered do not expose its metrics).
    #[serde(rename = "quality_notes", default)]
    pub notes: Vec<String>,
    #[serde(rename = "quality_thresholds")]
    pub thresholds: QualityThresholds,
}

/// Profiles added on speculation (every service gets the vLLM profile): all of one absent is
/// a note, not a problem.
const SPECULATIVE_PROFILES: [&str; 1] = ["vllm"];

/// Judges a collection from its queries, its coverage and the samples it wrote.
pub(crate) fn judge(
    queries: &[QueryReport],
    coverage: Option<&CoverageReport>,
    samples: u64,
    t: &QualityThresholds,
) -> Verdict {
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    if samples == 0 {
        reasons.push(Reason {
            code: ReasonCode::NoSamples,
            detail: "no sample at all in the window: nothing was scraped then (is the window \
                     right, and were the targets registered and up during it?)"
                .into(),
            queries: vec![],
            targets: vec![],
        });
    }
    let never_up =
        coverage.filter(|c| !c.targets.is_empty() && c.targets.iter().all(|x| x.up == 0));
    if let (true, Some(c)) = (samples > 0, never_up) {
        reasons.push(Reason {
            code: ReasonCode::NoSuccessfulScrapes,
            detail: format!(
                "not one successful scrape in the window: every target was down ({})",
                c.targets
                    .iter()
                    .map(|x| x.target.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            queries: vec![],
            targets: c.targets.iter().map(|x| x.target.clone()).collect(),
        });
    }
    let mut absent = Vec::new();
    for q in queries.iter().filter(|q| q.status == QueryStatus::Absent) {
        if matches!(q.origin, QueryOrigin::Profile(_)) && OPTIONAL.contains(&q.name.as_str()) {
            notes.push(format!(
                "{}: no such series here (the hardware or exporter does not provide it)",
                q.name
            ));
            continue;
        }
        let speculative = match &q.origin {
            QueryOrigin::Profile(p) if SPECULATIVE_PROFILES.contains(&p.as_str()) => {
                let same = |o: &QueryReport| o.origin == q.origin;
                queries
                    .iter()
                    .filter(|o| same(o))
                    .all(|o| o.status == QueryStatus::Absent)
            }
            _ => false,
        };
        if !speculative {
            absent.push(q.name.clone());
        }
    }
    for p in SPECULATIVE_PROFILES {
        let origin = QueryOrigin::Profile(p.to_owned());
        let of: Vec<_> = queries.iter().filter(|q| q.origin == origin).collect();
        if !of.is_empty() && of.iter().all(|q| q.status == QueryStatus::Absent) {
            notes.push(format!(
                "profile {p}: none of its {} queries matched (the services do not expose its metrics)",
                of.len()
            ));
        }
    }
    if !absent.is_empty() {
        reasons.push(Reason {
            code: ReasonCode::AbsentQueries,
            detail: format!(
                "{} quer{} matched no series: {}",
                absent.len(),
                if absent.len() == 1 { "y" } else { "ies" },
                absent.join(", ")
            ),
            queries: absent,
            targets: vec![],
        });
    }
    if let Some(c) = coverage {
        target_reasons(c, t, &mut reasons);
    }
    let quality = if samples == 0 || never_up.is_some() {
        Quality::Empty
    } else if reasons.is_empty() {
        Quality::Ok
    } else {
        Quality::Partial
    };
    Verdict {
        quality,
        reasons,
        notes,
        thresholds: t.clone(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Low coverage, targets down and gaps, each naming its targets.
fn target_reasons(c: &CoverageReport, t: &QualityThresholds, reasons: &mut Vec<Reason>) {
    let low: Vec<_> = c
        .targets
        .iter()
        .filter(|x| x.coverage.is_none_or(|v| v < t.min_coverage))
        .collect();
    if !low.is_empty() {
        let named: Vec<String> = low
            .iter()
            .map(|x| match x.coverage {
                Some(v) => format!("{} at {}", x.target, pct(v)),
                None => format!("{} (coverage unknown)", x.target),
            })
            .collect();
        reasons.push(Reason {
            code: ReasonCode::LowCoverage,
            detail: format!(
                "{} target{} under {} coverage: {}",
                low.len(),
                if low.len() == 1 { "" } else { "s" },
                pct(t.min_coverage),
                named.join("; ")
            ),
            queries: vec![],
            targets: low.iter().map(|x| x.target.clone()).collect(),
        });
    }
    let down: Vec<_> = c
        .targets
        .iter()
        .filter(|x| x.up_fraction.is_some_and(|u| u < t.min_up_fraction))
        .collect();
    if !down.is_empty() {
        let named: Vec<String> = down
            .iter()
            .map(|x| format!("{} up {}", x.target, pct(x.up_fraction.unwrap_or(0.0))))
            .collect();
        reasons.push(Reason {
            code: ReasonCode::TargetsDown,
            detail: format!(
                "{} target{} failed scrapes (up < {}): {}",
                down.len(),
                if down.len() == 1 { "" } else { "s" },
                pct(t.min_up_fraction),
                named.join("; ")
            ),
            queries: vec![],
            targets: down.iter().map(|x| x.target.clone()).collect(),
        });
    }
    let gapped: Vec<_> = c.targets.iter().filter(|x| !x.gaps.is_empty()).collect();
    if t.gaps_are_partial && !gapped.is_empty() {
        let named: Vec<String> = gapped
            .iter()
            .map(|x| {
                let longest = x.gaps.iter().map(|g| g.seconds).fold(0.0, f64::max);
                format!(
                    "{}: {} gap{}, longest {longest} s",
                    x.target,
                    x.gaps.len(),
                    if x.gaps.len() == 1 { "" } else { "s" }
                )
            })
            .collect();
        reasons.push(Reason {
            code: ReasonCode::Gaps,
            detail: format!("scrape gaps: {}", named.join("; ")),
            queries: vec![],
            targets: gapped.iter().map(|x| x.target.clone()).collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{MetricKind, QueryStatus};

    fn q(name: &str, origin: QueryOrigin, status: QueryStatus) -> QueryReport {
        QueryReport {
            name: name.into(),
            promql: String::new(),
            sent_promql: String::new(),
            kind: MetricKind::Gauge,
            origin,
            unit: None,
            status,
            series: 0,
            samples: 0,
            chunks: 1,
            warnings: vec![],
            aggregate: vec![],
        }
    }

    #[test]
    fn no_samples_is_empty_and_absent_queries_are_partial_unless_a_speculative_profile() {
        let t = QualityThresholds::default();
        let v = judge(&[], None, 0, &t);
        assert_eq!(v.quality, Quality::Empty);
        assert_eq!(v.reasons[0].code, ReasonCode::NoSamples);
        let vllm = QueryOrigin::Profile("vllm".into());
        let qs = [
            q("a", QueryOrigin::User, QueryStatus::Ok),
            q("v1", vllm.clone(), QueryStatus::Absent),
            q("v2", vllm.clone(), QueryStatus::Absent),
        ];
        let v = judge(&qs, None, 10, &t);
        assert_eq!((v.quality, v.reasons.len()), (Quality::Ok, 0), "{v:?}");
        assert_eq!(v.notes.len(), 1);
        let qs = [
            q("a", QueryOrigin::User, QueryStatus::Absent),
            q("v1", vllm.clone(), QueryStatus::Ok),
            q("v2", vllm, QueryStatus::Absent),
        ];
        let v = judge(&qs, None, 10, &t);
        assert_eq!(v.quality, Quality::Partial);
        assert_eq!(v.notes.len(), 0, "part of the profile matched");
        assert_eq!(v.reasons[0].queries, vec!["a", "v2"]);
        assert_eq!(v.reasons[0].detail, "2 queries matched no series: a, v2");
        // RAPL counters missing on the node: a note, not a partial collection.
        let qs = [
            q("a", QueryOrigin::User, QueryStatus::Ok),
            q(
                "cpu_package_energy_joules",
                QueryOrigin::Profile("node".into()),
                QueryStatus::Absent,
            ),
        ];
        let v = judge(&qs, None, 10, &t);
        assert_eq!((v.quality, v.notes.len()), (Quality::Ok, 1), "{v:?}");
    }

    #[test]
    fn thresholds_are_checked() {
        let mut t = QualityThresholds::default();
        assert!(t.validate().is_ok());
        t.min_coverage = 1.5;
        assert!(t.validate().is_err());
        t.min_coverage = 0.5;
        t.gap_intervals = 0.5;
        assert!(t.validate().is_err());
    }
}
