//! The JSON form of a push, close to seed 001's metric posts:
//! `{"metrics": [{"name", "labels"?, "value", "timestamp"?, "type"?}]}`. Errors name the
//! element (`metrics[6].labels.session`).

use super::{validate, PushError, Sample};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A JSON push.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushMetrics {
    pub metrics: Vec<PushedMetric>,
}

/// One sample.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedMetric {
    /// Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub name: String,
    /// The sample's own labels; `session`, `run_id`, `source`, `client_id`, `__*` and the
    /// session's label names are set by benchmon.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A finite number (NaN and ±Inf are refused).
    pub value: f64,
    /// Milliseconds since the epoch; when benchmon received it if omitted.
    pub timestamp: Option<i64>,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`: informative only, the name's
    /// suffix (`_total`, `_bucket`) is what profiles read.
    #[serde(rename = "type")]
    pub kind: Option<MetricKind>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

/// Validates a decoded JSON push into samples.
pub fn parse(push: PushMetrics, session_labels: &[&str]) -> Result<Vec<Sample>, PushError> {
    if push.metrics.len() > super::MAX_SAMPLES {
        return Err(PushError::new(
            "metrics",
            format!(
                "{} samples in one request; at most {} are allowed",
                push.metrics.len(),
                super::MAX_SAMPLES
            ),
        ));
    }
    push.metrics
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let at = format!("metrics[{i}]");
            validate::metric_name(&format!("{at}.name"), &m.name)?;
            for (k, v) in &m.labels {
                validate::label(&format!("{at}.labels.{k}"), k, v, session_labels)?;
            }
            validate::value(&format!("{at}.value"), m.value)?;
            let labels =
                validate::label_set(&format!("{at}.labels"), m.labels.into_iter().collect())?;
            Ok(Sample {
                name: m.name,
                labels,
                value: m.value,
                timestamp_ms: m.timestamp,
                origin: at,
            })
        })
        .collect()
}
