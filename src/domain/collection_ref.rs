//! `SESSION/COLLECTION`: a bundle of one of the server's sessions, named by the session id and
//! the bundle directory's name (the collection's `run_id`). Both halves follow the identifier
//! grammar, so neither can climb out of a directory; the bundle itself is found in the
//! session's index, never by joining the name onto a path.

use super::ident::check_ident;
use super::{string_newtype, Invalid, RunId};

/// A bundle named as `SESSION/COLLECTION`.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Za-z0-9._-]{1,64}/[A-Za-z0-9._-]{1,64}$", example = "benchmark-01/run-001")]
pub struct CollectionRef(String);

impl CollectionRef {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let (session, collection) = s
            .split_once('/')
            .ok_or_else(|| Invalid::new(format!("{s:?} is not SESSION/COLLECTION")))?;
        RunId::parse(session).map_err(|e| Invalid::new(format!("session {session:?} {e}")))?;
        check_ident(collection)
            .map_err(|e| Invalid::new(format!("collection {collection:?} {e}")))?;
        Ok(CollectionRef(s.to_owned()))
    }

    /// The session id (validated by [`CollectionRef::parse`]).
    pub fn session(&self) -> Result<RunId, Invalid> {
        RunId::parse(self.0.split_once('/').map_or("", |(s, _)| s))
    }

    /// The bundle directory's name.
    pub fn collection(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, c)| c)
    }
}
string_newtype!(CollectionRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_halves_follow_the_identifier_grammar() {
        let r = CollectionRef::parse("bench-42/run-001").unwrap();
        assert_eq!(
            (r.session().unwrap().as_str(), r.collection()),
            ("bench-42", "run-001")
        );
        for bad in [
            "bench-42",
            "bench-42/",
            "/run",
            "a/../b",
            "a/b/c",
            "a/..",
            "a b/c",
        ] {
            assert!(CollectionRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
