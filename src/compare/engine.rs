//! Matching two bundles' KPIs and judging each pair.
//!
//! A row's key is (window, query, scope, kind, identifying labels, KPI name). Each pair gets a
//! delta and a verdict: `same` within the noise limit, else `better`/`worse` by the direction
//! (a rule's, else the profile's), `regression` when a matching rule's `max_regression` is
//! exceeded, `changed` when no direction is known; unpaired rows are `missing` / `new`.

use super::bundle::{Bundle, KpiRow};
use super::direction::default_direction;
use super::labels::Identity;
use super::tolerance::{Direction, Limit, Rule};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The verdict of one row, most severe first (the order rows are listed in).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Worse beyond a rule's `max_regression`: fails the gate.
    Regression,
    /// Worse beyond the noise, within tolerance (or no rule).
    Worse,
    /// In the baseline only.
    Missing,
    /// In the candidate only.
    New,
    /// Moved beyond the noise, no direction known.
    Changed,
    Better,
    /// Within the noise.
    Same,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Regression,
        Verdict::Worse,
        Verdict::Missing,
        Verdict::New,
        Verdict::Changed,
        Verdict::Better,
        Verdict::Same,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Worse => "worse",
            Verdict::Missing => "missing",
            Verdict::New => "new",
            Verdict::Changed => "changed",
            Verdict::Better => "better",
            Verdict::Same => "same",
        }
    }
}

/// How the comparison is made.
#[derive(Debug, Clone)]
pub struct Options {
    pub identity: Identity,
    pub rules: Vec<Rule>,
    /// Direction overrides by query pattern (`vllm_*`), after a rule's own, before the profile's.
    pub directions: Vec<(String, Direction)>,
    pub noise: Limit,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            identity: Identity::default(),
            rules: Vec::new(),
            directions: Vec::new(),
            noise: Limit::Relative(0.01),
        }
    }
}

/// One matched (or unmatched) KPI.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Row {
    pub window: String,
    pub query: String,
    /// `aggregate` or `series`.
    pub scope: String,
    pub kind: String,
    /// The identifying labels (`k="v",…`), empty for aggregates.
    pub series: String,
    pub kpi: String,
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    /// candidate − baseline.
    pub delta: Option<f64>,
    /// delta / |baseline| (absent when the baseline is 0 and the delta is not).
    pub relative: Option<f64>,
    pub unit: Option<String>,
    pub direction: Option<Direction>,
    /// The applying rule's `max_regression`, as a fraction (`relative`) or an absolute number.
    pub max_regression: Option<String>,
    pub verdict: Verdict,
}

type Key = (String, String, String, String, String, String);

fn keyed<'a>(rows: &'a [KpiRow], identity: &Identity) -> BTreeMap<Key, &'a KpiRow> {
    let mut out = BTreeMap::new();
    for r in rows {
        let series = identity.key(&r.labels);
        let mut key = (
            r.window.clone(),
            r.query.clone(),
            r.scope.clone(),
            r.kind.clone(),
            series.clone(),
            r.kpi.clone(),
        );
        // Two series of one bundle that only run labels told apart stay two rows.
        let mut n = 1;
        while out.contains_key(&key) {
            n += 1;
            key.4 = format!("{series}#{n}");
        }
        out.insert(key, r);
    }
    out
}

pub(crate) fn limit_text(l: Limit) -> String {
    match l {
        // Rounded so "7%" does not come back as 7.000000000000001 %.
        Limit::Relative(f) => format!("{}%", (f * 100.0 * 1e9).round() / 1e9),
        Limit::Absolute(x) => x.to_string(),
    }
}

/// delta / |baseline|; 0 when equal, none when the baseline is 0 and the value moved.
fn relative_change(b: f64, c: f64) -> Option<f64> {
    if c == b {
        Some(0.0)
    } else if b == 0.0 {
        None
    } else {
        Some((c - b) / b.abs())
    }
}

/// Judges one pair of finite values.
fn judge(
    b: f64,
    c: f64,
    direction: Option<Direction>,
    rule: Option<&Rule>,
    noise: Limit,
) -> Verdict {
    let delta = c - b;
    if !noise.exceeded(b, delta.abs()) {
        return Verdict::Same;
    }
    let Some(d) = direction else {
        // A rule on a KPI without a direction gates both ways.
        return match rule {
            Some(r) if r.limit.exceeded(b, delta.abs()) => Verdict::Regression,
            _ => Verdict::Changed,
        };
    };
    let worsening = match d {
        Direction::Lower => delta,
        Direction::Higher => -delta,
    };
    if worsening < 0.0 {
        Verdict::Better
    } else if rule.is_some_and(|r| r.limit.exceeded(b, worsening)) {
        Verdict::Regression
    } else {
        Verdict::Worse
    }
}

/// Every row of both bundles, paired, most severe first (regressions by relative size).
pub fn compare_rows(baseline: &Bundle, candidate: &Bundle, opts: &Options) -> Vec<Row> {
    let base = keyed(&baseline.rows, &opts.identity);
    let cand = keyed(&candidate.rows, &opts.identity);
    let mut keys: Vec<&Key> = base.keys().chain(cand.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|key| {
            let (b, c) = (base.get(key), cand.get(key));
            let (window, query, scope, kind, series, kpi) = key.clone();
            let rule = opts.rules.iter().find(|r| r.matches(&window, &query, &kpi));
            let direction = rule
                .and_then(|r| r.direction)
                .or_else(|| {
                    opts.directions
                        .iter()
                        .find(|(p, _)| super::tolerance::glob(p, &query))
                        .map(|(_, d)| *d)
                })
                .or_else(|| default_direction(&query, &kpi));
            let (bv, cv) = (b.map(|r| r.value), c.map(|r| r.value));
            let (mut delta, mut relative) = (None, None);
            let verdict = match (bv, cv) {
                (Some(_), None) => Verdict::Missing,
                (None, _) => Verdict::New,
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                    delta = Some(y - x);
                    relative = relative_change(x, y);
                    judge(x, y, direction, rule, opts.noise)
                }
                (Some(x), Some(y)) if x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) => {
                    Verdict::Same
                }
                _ => Verdict::Changed,
            };
            Row {
                window,
                query,
                scope,
                kind,
                series,
                kpi,
                baseline: bv,
                candidate: cv,
                delta,
                relative,
                unit: c.or(b).and_then(|r| r.unit.clone()),
                direction,
                max_regression: rule.map(|r| limit_text(r.limit)),
                verdict,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.verdict.cmp(&b.verdict).then_with(|| {
            let size = |r: &Row| r.relative.map_or(f64::INFINITY, f64::abs);
            size(b).total_cmp(&size(a))
        })
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_direction_noise_and_rule() {
        let rule = Rule {
            query: "*".into(),
            kpi: "*".into(),
            limit: Limit::Relative(0.1),
            direction: None,
            window: None,
        };
        let n = Limit::Relative(0.01);
        let lower = Some(Direction::Lower);
        assert_eq!(judge(100.0, 100.5, lower, Some(&rule), n), Verdict::Same);
        assert_eq!(judge(100.0, 105.0, lower, Some(&rule), n), Verdict::Worse);
        assert_eq!(
            judge(100.0, 111.0, lower, Some(&rule), n),
            Verdict::Regression
        );
        assert_eq!(judge(100.0, 111.0, lower, None, n), Verdict::Worse);
        assert_eq!(judge(100.0, 80.0, lower, Some(&rule), n), Verdict::Better);
        let higher = Some(Direction::Higher);
        assert_eq!(
            judge(100.0, 80.0, higher, Some(&rule), n),
            Verdict::Regression
        );
        assert_eq!(judge(100.0, 120.0, None, None, n), Verdict::Changed);
        assert_eq!(
            judge(100.0, 80.0, None, Some(&rule), n),
            Verdict::Regression
        );
        assert_eq!(judge(0.0, 0.0, lower, Some(&rule), n), Verdict::Same);
        assert_eq!(judge(0.0, 1.0, lower, Some(&rule), n), Verdict::Regression);
    }
}
