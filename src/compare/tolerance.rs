//! Tolerance rules: how much worse a KPI may get before it is a regression, and which way is
//! worse. The same rules come from a TOML file (`--tolerances`, `[[rule]]` tables) or JSON
//! (the API body's `tolerances`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which way a KPI is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Lower is better (latency, power, energy, temperature).
    Lower,
    /// Higher is better (throughput).
    Higher,
}

/// A limit as written: `"10%"`, `"2.5"` or `2.5`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LimitSpec {
    /// Absolute, in the KPI's unit.
    Number(f64),
    /// `"10%"` of the baseline's magnitude, or a number as text.
    Text(String),
}

/// How far a KPI may move the wrong way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A fraction of the baseline's magnitude (`"10%"` is 0.1).
    Relative(f64),
    /// In the KPI's own unit.
    Absolute(f64),
}

impl Limit {
    /// `"10%"`, `"2.5"` or a number; negative or non-finite values are refused.
    pub fn parse(v: &LimitSpec) -> Result<Limit, String> {
        let bad = || format!("{v:?} is not a percentage (\"10%\") or a non-negative number");
        let limit = match v {
            LimitSpec::Number(n) => Limit::Absolute(*n),
            LimitSpec::Text(s) => match s.trim().strip_suffix('%') {
                Some(p) => Limit::Relative(p.trim().parse::<f64>().map_err(|_| bad())? / 100.0),
                None => Limit::Absolute(s.trim().parse().map_err(|_| bad())?),
            },
        };
        match limit {
            Limit::Relative(x) | Limit::Absolute(x) if x.is_finite() && x >= 0.0 => Ok(limit),
            _ => Err(bad()),
        }
    }

    /// Whether moving `worsening` (> 0 is worse) away from `baseline` exceeds this limit.
    pub fn exceeded(self, baseline: f64, worsening: f64) -> bool {
        match self {
            Limit::Absolute(x) => worsening > x,
            Limit::Relative(f) => worsening > f * baseline.abs(),
        }
    }
}

/// One `[[rule]]`, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Query name, or `*` for every query (a trailing `*` matches a prefix).
    pub query: String,
    /// KPI name (`p99`, `mean`, `increase`, `rate_per_second`, …) or `*`.
    pub kpi: String,
    /// `"10%"` of the baseline, or an absolute number in the KPI's unit.
    pub max_regression: LimitSpec,
    /// Overrides the direction the profile gives.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Only rows of this window (`collection` or a named window); default every window.
    #[serde(default)]
    pub window: Option<String>,
}

/// The whole tolerance document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TolerancesSpec {
    /// Rules in order; the first that matches a row applies.
    #[serde(default, alias = "rule")]
    pub rules: Vec<RuleSpec>,
    /// Labels that do not identify a series across runs; replaces the default
    /// (`session`, `run_id`, `scraper`).
    #[serde(default)]
    pub ignore_labels: Option<Vec<String>>,
    /// Changes within this are `same` (default `"1%"`).
    #[serde(default)]
    pub noise: Option<LimitSpec>,
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub query: String,
    pub kpi: String,
    pub limit: Limit,
    pub direction: Option<Direction>,
    pub window: Option<String>,
}

/// A bad tolerance document: where (`rule[2].max_regression`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidRule {
    pub field: String,
    pub reason: String,
}

pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl Rule {
    pub fn matches(&self, window: &str, query: &str, kpi: &str) -> bool {
        glob(&self.query, query)
            && glob(&self.kpi, kpi)
            && self.window.as_deref().is_none_or(|w| w == window)
    }
}

impl TolerancesSpec {
    /// Parses the TOML file's text.
    pub fn from_toml(text: &str) -> Result<TolerancesSpec, InvalidRule> {
        toml::from_str(text).map_err(|e| InvalidRule {
            field: "tolerances".into(),
            reason: e.to_string(),
        })
    }

    /// Validates every rule (`field` names the rule's index, as the API reports it).
    pub fn rules(&self, prefix: &str) -> Result<Vec<Rule>, InvalidRule> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = |f: &str| format!("{prefix}rules[{i}].{f}");
                for (name, v) in [("query", &r.query), ("kpi", &r.kpi)] {
                    if v.is_empty() {
                        return Err(InvalidRule {
                            field: at(name),
                            reason: "must not be empty".into(),
                        });
                    }
                }
                let limit = Limit::parse(&r.max_regression).map_err(|reason| InvalidRule {
                    field: at("max_regression"),
                    reason,
                })?;
                Ok(Rule {
                    query: r.query.clone(),
                    kpi: r.kpi.clone(),
                    limit,
                    direction: r.direction,
                    window: r.window.clone(),
                })
            })
            .collect()
    }

    /// The noise limit (default 1 %).
    pub fn noise(&self, prefix: &str) -> Result<Limit, InvalidRule> {
        self.noise.as_ref().map_or(Ok(Limit::Relative(0.01)), |v| {
            Limit::parse(v).map_err(|reason| InvalidRule {
                field: format!("{prefix}noise"),
                reason,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_gives_rules_in_order_with_their_limits() {
        let t = TolerancesSpec::from_toml(
            r#"
            noise = "0.5%"
            [[rule]]
            query = "vllm_*"
            kpi = "p99"
            max_regression = "10%"
            [[rule]]
            query = "gpu_power_watts"
            kpi = "mean"
            max_regression = 25
            direction = "lower"
            window = "decode"
            "#,
        )
        .unwrap();
        let rules = t.rules("").unwrap();
        assert_eq!(rules[0].limit, Limit::Relative(0.1));
        assert_eq!(rules[1].limit, Limit::Absolute(25.0));
        assert_eq!(rules[1].direction, Some(Direction::Lower));
        assert!(rules[0].matches("collection", "vllm_ttft_seconds", "p99"));
        assert!(!rules[1].matches("collection", "gpu_power_watts", "mean"));
        assert!(rules[1].matches("decode", "gpu_power_watts", "mean"));
        assert_eq!(t.noise("").unwrap(), Limit::Relative(0.005));
    }

    #[test]
    fn a_bad_limit_names_the_rule() {
        let t = TolerancesSpec::from_toml(
            "[[rule]]\nquery = \"q\"\nkpi = \"p99\"\nmax_regression = \"-3%\"\n",
        )
        .unwrap();
        let e = t.rules("tolerances.").unwrap_err();
        assert_eq!(e.field, "tolerances.rules[0].max_regression");
        assert!(TolerancesSpec::from_toml("[[rule]]\nquery = 1\n").is_err());
        assert!(Limit::exceeded(Limit::Relative(0.1), 100.0, 10.5));
        assert!(!Limit::exceeded(Limit::Relative(0.1), 100.0, 10.0));
    }
}
