//! Validated newtypes: every value that crosses the HTTP or CLI edge is parsed here, once.
//!
//! A value of one of these types is proof that it matched its grammar, so code further in (job
//! scripts, YAML, file paths) never re-checks it. Each type deserializes through its parser, so a
//! bad value in a JSON body is rejected with the field's path before any handler runs.

mod collection_ref;
mod duration;
mod file_name;
mod ident;
mod labels;
mod net;
mod slurm;
mod store;
mod time;

pub use collection_ref::CollectionRef;
pub use duration::PromDuration;
pub use file_name::{FileName, FILE_NAME_PATTERN};
pub use ident::{ClientId, ExporterKind, Ident, RunId, ServiceName, WindowName, IDENT_PATTERN};
pub use labels::{
    bounded_labels, check_label_set, label_set_schema, LabelName, Labels, MAX_LABELS,
    MAX_LABEL_NAME_BYTES, MAX_LABEL_SET_BYTES, MAX_LABEL_VALUE_BYTES, RESERVED_LABELS,
};
pub use net::{Host, HostPort, MetricsEndpoint, Port};
pub use slurm::{
    CpuCount, MemMb, ScraperNodes, SlurmConstraint, SlurmName, SlurmNodeList, SlurmNodeName,
    SlurmOptions, TimeLimit,
};
pub use store::with_secrets_exposed;
pub use store::{
    AuthUser, BasicAuth, RemoteStore, ScraperCount, Secret, StoreHeaders, StoreSpec, StoreUrl,
    TokenFile,
};
pub use time::Timestamp;

/// Why a value was refused; the caller adds which field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(msg: impl Into<String>) -> Self {
        Invalid(msg.into())
    }
}

/// Implements `FromStr`, `Display`, `Serialize`, `Deserialize` and `as_str` for a string newtype
/// whose constructor is `fn parse(&str) -> Result<Self, Invalid>`.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::domain::Invalid;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use string_newtype;

/// True when every char of `s` is ASCII alphanumeric or in `extra`.
fn only_chars(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Quotes `s` as a YAML scalar. A JSON string literal is valid YAML (flow double-quoted
/// scalar), and serde_json escapes quotes, backslashes and control characters.
pub fn yaml_quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Quotes `s` for a POSIX shell: single quotes, with embedded single quotes closed and escaped.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quote_escapes_quotes_newlines_and_templates() {
        assert_eq!(yaml_quote("a\"b\n{{x}}: #"), r#""a\"b\n{{x}}: #""#);
    }

    #[test]
    fn shell_quote_survives_single_quotes() {
        assert_eq!(shell_quote("it's $(x)"), r#"'it'\''s $(x)'"#);
    }
}
