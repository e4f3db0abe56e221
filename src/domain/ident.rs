//! Identifiers chosen by users (run ids, client ids, service and window names).
//!
//! They become directory and file names and Prometheus label values, so the grammar is narrow:
//! 1–64 of `[A-Za-z0-9._-]`, and never `.` or `..`.

use super::{only_chars, string_newtype, Invalid};

/// Checks the shared identifier grammar.
pub fn check_ident(s: &str) -> Result<(), Invalid> {
    if s.is_empty() || s.len() > 64 {
        return Err(Invalid::new(format!(
            "must be 1 to 64 characters long, got {}",
            s.chars().count()
        )));
    }
    if !only_chars(s, "._-") {
        return Err(Invalid::new(
            "may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    // A leading '.' would hide a directory (and collide with benchmon's own `.deleted-*` and
    // `.tmp-*` names); a leading '-' reads as an option to command-line tools.
    if s.starts_with('.') || s.starts_with('-') {
        return Err(Invalid::new("may not start with '.' or '-'"));
    }
    Ok(())
}

macro_rules! ident_type {
    ($(#[$doc:meta])* $ty:ident, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        #[schema(value_type = String, pattern = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$", example = $example)]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(s: &str) -> Result<Self, Invalid> {
                check_ident(s)?;
                Ok(Self(s.to_owned()))
            }
        }
        string_newtype!($ty);
    };
}

ident_type!(
    /// A benchmark run's id; it is also the session id.
    RunId,
    "benchmark-01"
);
ident_type!(
    /// A client (a node with exporters) within a session.
    ClientId,
    "client-001"
);
ident_type!(
    /// A service under test within a session.
    ServiceName,
    "vllm"
);
ident_type!(
    /// A named window (a benchmark phase) within a session.
    WindowName,
    "steady"
);

/// An exporter kind (`node`, `dcgm`, …): it forms the preference key `enable_<kind>` and the
/// `exporter` label, so it is narrower than the other identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^[a-zA-Z0-9_]{1,64}$", example = "node")]
pub struct ExporterKind(String);

impl ExporterKind {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 64 || !only_chars(s, "_") {
            return Err(Invalid::new(format!(
                "exporter kind {s:?} must be 1 to 64 of letters, digits and '_'"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(ExporterKind);

/// Any identifier, when the kind does not matter (e.g. file names).
pub trait Ident: AsRef<str> {}

/// [`check_ident`]'s grammar as a JSON Schema pattern (for path parameters).
pub const IDENT_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$";
impl Ident for RunId {}
impl Ident for ClientId {}
impl Ident for ServiceName {}
impl Ident for WindowName {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_that_would_escape_a_directory_are_refused() {
        for bad in [
            "",
            "../x",
            "a b",
            "a/b",
            ".",
            "..",
            &"x".repeat(65),
            "ü",
            "a\nb",
        ] {
            assert!(RunId::parse(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "benchmark-01",
            "a",
            "run.1_x",
            &"x".repeat(64),
            "a..b",
            "_x",
        ] {
            assert!(RunId::parse(good).is_ok(), "{good:?} refused");
        }
    }
}
