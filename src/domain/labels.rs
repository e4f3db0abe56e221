//! Prometheus label names and user label sets.

use super::{string_newtype, Invalid};
use std::collections::BTreeMap;

/// Labels benchmon sets itself on every target; users may not override them.
pub const RESERVED_LABELS: [&str; 8] = [
    "session",
    "run_id",
    "client_id",
    "node",
    "exporter",
    "service",
    "job",
    "instance",
];

/// A label name a user may set: Prometheus's `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
/// (reserved for Prometheus internals) and not one of [`RESERVED_LABELS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$", example = "model")]
pub struct LabelName(String);

impl LabelName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Invalid::new(format!(
                "label name {s:?} must match [a-zA-Z_][a-zA-Z0-9_]*"
            )));
        }
        if s.starts_with("__") {
            return Err(Invalid::new(format!(
                "label name {s:?} may not start with '__' (reserved by Prometheus)"
            )));
        }
        if RESERVED_LABELS.contains(&s) {
            return Err(Invalid::new(format!(
                "label name {s:?} is set by benchmon and may not be overridden"
            )));
        }
        Ok(LabelName(s.to_owned()))
    }
}
string_newtype!(LabelName);

/// User labels: validated names, any UTF-8 values (quoted wherever they are written).
pub type Labels = BTreeMap<LabelName, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_follow_prometheus_and_protect_benchmon_labels() {
        for good in ["model", "_x", "a1_B"] {
            assert!(LabelName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "1a", "a-b", "__name__", "__x", "session", "job", "a b", "é",
        ] {
            assert!(LabelName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_label_name_inside_a_map_is_refused_on_deserialize() {
        let r: Result<Labels, _> = serde_json::from_str(r#"{"ok":"1","bad-name":"2"}"#);
        assert!(r.is_err());
    }
}
