//! Prometheus label names and user label sets, with the bounds every set must keep.
//!
//! Prometheus itself sets no limit on labels (its scrape-config `label_*_limit`s default to 0,
//! "no limit"), so the bounds come from the Prometheus-compatible long-term stores' defaults
//! (Cortex and Mimir: label names ≤ 1024 bytes, values ≤ 2048 bytes, ≤ 30 labels per series):
//! a series benchmon labels can always be remote-written. A session's and a target's labels are
//! each at most [`MAX_LABELS`] (benchmon adds up to 9 of its own, `__name__` included, and the
//! metric keeps room for its own), together at most [`MAX_LABEL_SET_BYTES`]: every label is
//! copied into every series of the session or target.

use super::{string_newtype, Invalid};
use std::collections::BTreeMap;

/// Longest label name, in bytes (Cortex/Mimir `max_label_name_length`).
pub const MAX_LABEL_NAME_BYTES: usize = 1024;
/// Longest label value, in bytes (Cortex/Mimir `max_label_value_length`).
pub const MAX_LABEL_VALUE_BYTES: usize = 2048;
/// Most user labels on a session, and on a target.
pub const MAX_LABELS: usize = 8;
/// Most bytes (names plus values) of a session's, or a target's, user labels.
pub const MAX_LABEL_SET_BYTES: usize = 4096;

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
        if s.len() > MAX_LABEL_NAME_BYTES {
            return Err(Invalid::new(format!(
                "label name is {} bytes long; at most {MAX_LABEL_NAME_BYTES} are allowed",
                s.len()
            )));
        }
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

/// A label value on its way in: refused past [`MAX_LABEL_VALUE_BYTES`], so the error names the
/// label (`labels.model`).
struct BoundedValue(String);

impl<'de> serde::Deserialize<'de> for BoundedValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        if v.len() > MAX_LABEL_VALUE_BYTES {
            return Err(serde::de::Error::custom(format!(
                "label value is {} bytes long; at most {MAX_LABEL_VALUE_BYTES} are allowed",
                v.len()
            )));
        }
        Ok(BoundedValue(v))
    }
}

/// Checks a whole label set against [`MAX_LABELS`] and [`MAX_LABEL_SET_BYTES`].
pub fn check_label_set(labels: &Labels) -> Result<(), Invalid> {
    if labels.len() > MAX_LABELS {
        return Err(Invalid::new(format!(
            "{} labels given; at most {MAX_LABELS} are allowed",
            labels.len()
        )));
    }
    let bytes: usize = labels.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if bytes > MAX_LABEL_SET_BYTES {
        return Err(Invalid::new(format!(
            "the labels take {bytes} bytes (names plus values); at most {MAX_LABEL_SET_BYTES} are allowed"
        )));
    }
    Ok(())
}

/// The OpenAPI schema of a user label set (`#[schema(schema_with)]`): the same bounds, as far
/// as JSON Schema can say them (not the byte total).
pub fn label_set_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_LABEL_VALUE_BYTES));
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^[a-zA-Z_][a-zA-Z0-9_]*$"))
        .max_length(Some(MAX_LABEL_NAME_BYTES));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(value))
        .property_names(Some(name))
        .max_properties(Some(MAX_LABELS))
        .build()
}

/// `#[serde(deserialize_with)]` for a user label set: every bound above, checked as it is read.
pub fn bounded_labels<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
    let raw: BTreeMap<LabelName, BoundedValue> = serde::Deserialize::deserialize(d)?;
    let labels: Labels = raw.into_iter().map(|(k, v)| (k, v.0)).collect();
    check_label_set(&labels).map_err(serde::de::Error::custom)?;
    Ok(labels)
}

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
    fn label_sets_are_bounded_in_names_values_count_and_bytes() {
        let de = |j: serde_json::Value| bounded_labels(j);
        assert!(de(serde_json::json!({"a": "x".repeat(2048)})).is_ok());
        assert!(de(serde_json::json!({"a": "x".repeat(2049)})).is_err());
        assert!(de(serde_json::json!({"a".repeat(1025): "x"})).is_err());
        let many: serde_json::Map<_, _> = (0..9).map(|i| (format!("l{i}"), "v".into())).collect();
        assert!(de(serde_json::Value::Object(many)).is_err());
        let big: serde_json::Map<_, _> = (0..3)
            .map(|i| (format!("l{i}"), "v".repeat(1500).into()))
            .collect();
        assert!(de(serde_json::Value::Object(big)).is_err());
    }

    #[test]
    fn a_bad_label_name_inside_a_map_is_refused_on_deserialize() {
        let r: Result<Labels, _> = serde_json::from_str(r#"{"ok":"1","bad-name":"2"}"#);
        assert!(r.is_err());
    }
}
