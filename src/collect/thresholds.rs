//! Collect-time thresholds: absolute limits on a collection's own KPIs (`p99 of
//! vllm_ttft_seconds ≤ 0.5`), judged on the bundle's summary once it is written. Unlike
//! `compare`, no baseline: the verdict is this run's alone, and the CLI's exit code follows it.

use crate::compare::bundle::{KpiRow, COLLECTION_WINDOW};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which rows a threshold checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdScope {
    /// The query's aggregate over all its series.
    #[default]
    Aggregate,
    /// Every series on its own.
    Series,
}

/// One limit, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Query name.
    pub query: String,
    /// KPI name (`p99`, `mean`, `max`, `increase`, `rate_per_second`, …).
    pub kpi: String,
    /// The KPI must be at most this.
    #[serde(default)]
    pub max: Option<f64>,
    /// The KPI must be at least this.
    #[serde(default)]
    pub min: Option<f64>,
    /// `collection` (default) or a named window's rows.
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub scope: ThresholdScope,
}

/// One checked value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThresholdResult {
    pub query: String,
    pub kpi: String,
    pub window: String,
    /// The series' labels (`k="v",…`) for `series` scope; absent for the aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// The KPI's value; null when the bundle has no such KPI (which fails).
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub passed: bool,
}

/// Every threshold's results, and whether all passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThresholdReport {
    pub passed: bool,
    pub results: Vec<ThresholdResult>,
}

/// The first bad threshold: its field (`thresholds[1].max`) and why.
pub fn validate(ts: &[Threshold]) -> Result<(), (String, String)> {
    for (i, t) in ts.iter().enumerate() {
        let at = |f: &str| format!("thresholds[{i}].{f}");
        if t.query.is_empty() {
            return Err((at("query"), "must not be empty".into()));
        }
        if t.kpi.is_empty() {
            return Err((at("kpi"), "must not be empty".into()));
        }
        if t.max.is_none() && t.min.is_none() {
            return Err((at("max"), "give max, min or both".into()));
        }
        for (name, v) in [("max", t.max), ("min", t.min)] {
            if v.is_some_and(|x| !x.is_finite()) {
                return Err((at(name), "must be a finite number".into()));
            }
        }
    }
    Ok(())
}

/// Judges every threshold against the bundle's KPI rows.
pub fn evaluate(ts: &[Threshold], rows: &[KpiRow]) -> ThresholdReport {
    let identity = crate::compare::labels::Identity::default();
    let mut results = Vec::new();
    for t in ts {
        let window = t.window.as_deref().unwrap_or(COLLECTION_WINDOW);
        let scope = match t.scope {
            ThresholdScope::Aggregate => "aggregate",
            ThresholdScope::Series => "series",
        };
        let ok = |v: f64| t.max.is_none_or(|m| v <= m) && t.min.is_none_or(|m| v >= m);
        let before = results.len();
        for r in rows.iter().filter(|r| {
            r.query == t.query && r.kpi == t.kpi && r.window == window && r.scope == scope
        }) {
            results.push(ThresholdResult {
                query: t.query.clone(),
                kpi: t.kpi.clone(),
                window: window.to_owned(),
                series: (t.scope == ThresholdScope::Series).then(|| identity.key(&r.labels)),
                value: Some(r.value),
                min: t.min,
                max: t.max,
                passed: ok(r.value),
            });
        }
        if results.len() == before {
            results.push(ThresholdResult {
                query: t.query.clone(),
                kpi: t.kpi.clone(),
                window: window.to_owned(),
                series: None,
                value: None,
                min: t.min,
                max: t.max,
                passed: false,
            });
        }
    }
    ThresholdReport {
        passed: results.iter().all(|r| r.passed),
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scope: &str, kpi: &str, value: f64, labels: &[(&str, &str)]) -> KpiRow {
        KpiRow {
            window: "collection".into(),
            query: "lat".into(),
            scope: scope.into(),
            kind: "gauge".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            kpi: kpi.into(),
            value,
            unit: None,
        }
    }

    #[test]
    fn limits_are_inclusive_and_a_missing_kpi_fails() {
        let rows = [
            row("aggregate", "p99", 0.5, &[]),
            row("series", "p99", 0.4, &[("gpu", "0"), ("session", "s")]),
            row("series", "p99", 0.6, &[("gpu", "1")]),
        ];
        let t = |kpi: &str, max: Option<f64>, min: Option<f64>, scope| Threshold {
            query: "lat".into(),
            kpi: kpi.into(),
            max,
            min,
            window: None,
            scope,
        };
        let r = evaluate(
            &[t("p99", Some(0.5), None, ThresholdScope::Aggregate)],
            &rows,
        );
        assert!(r.passed);
        let r = evaluate(
            &[t("p99", Some(0.5), Some(0.45), ThresholdScope::Series)],
            &rows,
        );
        let got: Vec<(Option<&str>, bool)> = r
            .results
            .iter()
            .map(|x| (x.series.as_deref(), x.passed))
            .collect();
        assert_eq!(
            got,
            [(Some(r#"gpu="0""#), false), (Some(r#"gpu="1""#), false)]
        );
        let r = evaluate(
            &[t("p50", Some(1.0), None, ThresholdScope::Aggregate)],
            &rows,
        );
        assert_eq!((r.passed, r.results[0].value), (false, None));
        assert_eq!(
            validate(&[t("p99", None, None, ThresholdScope::Aggregate)]),
            Err(("thresholds[0].max".into(), "give max, min or both".into()))
        );
    }
}
