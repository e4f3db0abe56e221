//! The name of one entry of a bundle directory, as a URL path segment carries it: a bundle's
//! directory name (the collection) or a file in it. The grammar is what benchmon itself writes:
//! 1–128 of `[A-Za-z0-9._-]`, not starting with `.` or `-` — so no `/`, no `..`, no hidden
//! file, no control character can ever reach a path join.

use super::{only_chars, string_newtype, Invalid};

/// A bundle directory or file name (`run-001-2`, `report.html`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", example = "report.html")]
pub struct FileName(String);

/// [`FileName`]'s grammar as a JSON Schema pattern (for path parameters).
pub const FILE_NAME_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$";

impl FileName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 128 {
            return Err(Invalid::new(format!(
                "must be 1 to 128 characters long, got {}",
                s.chars().count()
            )));
        }
        if s.contains('/') || s.contains('\\') {
            return Err(Invalid::new(format!(
                "{:?} is a path; give one name inside the bundle",
                s.escape_debug().to_string()
            )));
        }
        if !only_chars(s, "._-") {
            return Err(Invalid::new(
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        // Also refuses `.` and `..`.
        if s.starts_with('.') || s.starts_with('-') {
            return Err(Invalid::new("may not start with '.' or '-'"));
        }
        Ok(FileName(s.to_owned()))
    }
}
string_newtype!(FileName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_bundle_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            "a\\b",
            ".hidden",
            "-rf",
            "a\nb",
            "a\0b",
            "a b",
            "ä.csv",
            &"x".repeat(129),
        ] {
            assert!(FileName::parse(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "report.html",
            "raw.parquet",
            "run-001-2",
            "MANIFEST.json",
            "a..b",
        ] {
            assert_eq!(FileName::parse(good).unwrap().as_str(), good);
        }
    }
}
