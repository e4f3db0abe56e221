//! The rules every pushed name, label and value keeps, whichever format it came in.

use super::{PushError, MAX_SAMPLE_LABELS};
use crate::domain::{MAX_LABEL_NAME_BYTES, MAX_LABEL_VALUE_BYTES};

/// Labels benchmon sets on every pushed series; a caller may not set them.
pub const PUSH_RESERVED: [&str; 4] = ["session", "run_id", "source", "client_id"];

/// Prometheus's metric-name grammar `[a-zA-Z_:][a-zA-Z0-9_:]*`, bounded like a label name.
pub fn metric_name(origin: &str, s: &str) -> Result<(), PushError> {
    if s.len() > MAX_LABEL_NAME_BYTES {
        return Err(PushError::new(
            origin,
            format!(
                "metric name is {} bytes long; at most {MAX_LABEL_NAME_BYTES} are allowed",
                s.len()
            ),
        ));
    }
    let mut chars = s.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if !first || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(PushError::new(
            origin,
            format!("metric name {s:?} must match [a-zA-Z_:][a-zA-Z0-9_:]*"),
        ));
    }
    Ok(())
}

/// A caller's label: Prometheus's grammar, not `__*`, not one benchmon or the session sets.
pub fn label(
    origin: &str,
    name: &str,
    value: &str,
    session_labels: &[&str],
) -> Result<(), PushError> {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if name.len() > MAX_LABEL_NAME_BYTES
        || !first
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(PushError::new(
            origin,
            format!("label name {name:?} must match [a-zA-Z_][a-zA-Z0-9_]* (at most {MAX_LABEL_NAME_BYTES} bytes)"),
        ));
    }
    if name.starts_with("__") {
        return Err(PushError::new(
            origin,
            format!("label name {name:?} may not start with '__' (reserved by Prometheus)"),
        ));
    }
    if PUSH_RESERVED.contains(&name) || session_labels.contains(&name) {
        return Err(PushError::new(
            origin,
            format!(
                "label {name:?} is set by benchmon on every pushed series and may not be given"
            ),
        ));
    }
    if value.len() > MAX_LABEL_VALUE_BYTES {
        return Err(PushError::new(
            origin,
            format!("label {name:?} has a value of {} bytes; at most {MAX_LABEL_VALUE_BYTES} are allowed", value.len()),
        ));
    }
    Ok(())
}

/// Sorts a sample's labels and refuses duplicates and too many.
pub fn label_set(
    origin: &str,
    mut labels: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, PushError> {
    if labels.len() > MAX_SAMPLE_LABELS {
        return Err(PushError::new(
            origin,
            format!(
                "{} labels given; at most {MAX_SAMPLE_LABELS} are allowed",
                labels.len()
            ),
        ));
    }
    labels.sort();
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(PushError::new(
            origin,
            format!("label {:?} is given twice", w[0].0),
        ));
    }
    Ok(labels)
}

/// Values must be finite: NaN and ±Inf are refused, because a KPI (mean, rate, quantile) over a
/// window with one of them is NaN or infinite and says nothing. (`le="+Inf"` is a label value,
/// not a sample value, and is fine.)
pub fn value(origin: &str, v: f64) -> Result<(), PushError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(PushError::new(
            origin,
            format!("value {v} is not finite; NaN and ±Inf are refused"),
        ))
    }
}
