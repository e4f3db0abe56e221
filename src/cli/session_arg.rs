//! The session argument every session command takes, the same way everywhere: a positional
//! `SESSION`, or `--session SESSION` (`-s`), or `BENCHMON_SESSION` — in that order of
//! precedence. A positional and a flag that disagree are a usage error naming both.
//!
//! The environment is read here rather than by clap: clap would fill the flag from it, and a
//! flag filled from the environment could not be told apart from one typed next to a different
//! positional.
//!
//! Commands with a positional of their own after it (`window open [SESSION] NAME`,
//! `push [SESSION] FILE`) declare theirs optional and call [`SessionArg::resolve_before`]:
//! clap fills SESSION first, so a lone positional is the command's own, and the flag and env
//! forms (`window open --session S NAME`) keep working wherever the options stand. (clap's
//! `allow_missing_positional` decides by peeking at the next word instead, which takes
//! `window open S --start T NAME` apart.)

use super::CliError;
use crate::domain::RunId;

/// The variable a script sets once instead of passing the session to every command.
pub const SESSION_ENV: &str = "BENCHMON_SESSION";

/// The session a command works on, as given on the command line (see [`SessionArg::resolve`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SessionArg {
    /// Session id (its run id); or --session SESSION, or BENCHMON_SESSION.
    #[arg(id = "session_positional", value_name = "SESSION")]
    pub positional: Option<String>,
    /// Session id as a flag (for scripts); the positional SESSION wins over it, and
    /// BENCHMON_SESSION is used when neither is given.
    #[arg(
        id = "session",
        long = "session",
        short = 's',
        value_name = "SESSION",
        help_heading = "Session"
    )]
    pub flag: Option<RunId>,
}

impl SessionArg {
    /// The session: positional, then `--session`, then `BENCHMON_SESSION`.
    pub fn resolve(&self) -> Result<RunId, CliError> {
        self.resolve_with(std::env::var(SESSION_ENV).ok())
    }

    /// [`Self::resolve`] with the environment's value given (tests).
    pub fn resolve_with(&self, env: Option<String>) -> Result<RunId, CliError> {
        let positional = match &self.positional {
            Some(p) => Some(RunId::parse(p).map_err(|e| CliError::Usage(format!("SESSION: {e}")))?),
            None => None,
        };
        match (&positional, &self.flag) {
            (Some(p), Some(f)) if p != f => Err(CliError::Usage(format!(
                "the session is given twice and differently: SESSION {p} and --session {f}; \
                 give one"
            ))),
            (Some(s), _) | (None, Some(s)) => Ok(s.clone()),
            (None, None) => match env.filter(|v| !v.is_empty()) {
                Some(v) => RunId::parse(&v)
                    .map_err(|e| CliError::Usage(format!("{SESSION_ENV}={v:?}: {e}"))),
                None => Err(CliError::Usage(format!(
                    "no session: give SESSION, --session SESSION or set {SESSION_ENV}"
                ))),
            },
        }
    }

    /// The session and the command's own positional `own` (named `what` in errors) for a
    /// command that takes one after SESSION: one positional alone is `own`, parsed by `parse`.
    pub fn resolve_before<T>(
        &self,
        own: Option<T>,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<(RunId, T), CliError> {
        match (own, &self.positional) {
            (Some(own), _) => Ok((self.resolve()?, own)),
            (None, Some(lone)) => {
                let own = parse(lone).map_err(|e| CliError::Usage(format!("{what}: {e}")))?;
                let rest = SessionArg {
                    positional: None,
                    flag: self.flag.clone(),
                };
                Ok((rest.resolve()?, own))
            }
            (None, None) => Err(CliError::Usage(format!("{what} is required"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(p: Option<&str>, f: Option<&str>) -> SessionArg {
        SessionArg {
            positional: p.map(str::to_owned),
            flag: f.map(|s| RunId::parse(s).unwrap()),
        }
    }

    fn resolved(a: &SessionArg, env: Option<&str>) -> Result<String, String> {
        a.resolve_with(env.map(str::to_owned))
            .map(|r| r.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_positional_wins_over_the_flag_and_the_flag_over_the_environment() {
        assert_eq!(resolved(&arg(Some("a"), None), Some("e")), Ok("a".into()));
        assert_eq!(resolved(&arg(None, Some("f")), Some("e")), Ok("f".into()));
        assert_eq!(resolved(&arg(Some("a"), Some("a")), None), Ok("a".into()));
        assert_eq!(resolved(&arg(None, None), Some("e")), Ok("e".into()));
    }

    #[test]
    fn a_positional_and_a_flag_that_differ_are_named_both_in_the_error() {
        let e = resolved(&arg(Some("a"), Some("b")), None).unwrap_err();
        assert!(e.contains("SESSION a") && e.contains("--session b"), "{e}");
    }

    #[test]
    fn a_lone_positional_is_the_commands_own_and_two_are_session_then_own() {
        let own = |s: &str| Ok::<_, String>(s.to_owned());
        let lone = arg(Some("steady"), Some("f"));
        let (session, name) = lone.resolve_before(None, "NAME", own).unwrap();
        assert_eq!((session.as_str(), name.as_str()), ("f", "steady"));
        let both = arg(Some("s"), None);
        let (session, name) = both.resolve_before(Some("n".into()), "NAME", own).unwrap();
        assert_eq!((session.as_str(), name.as_str()), ("s", "n"));
        let e = arg(None, Some("f"))
            .resolve_before(None, "NAME", own)
            .unwrap_err();
        assert_eq!(e.to_string(), "NAME is required");
    }

    #[test]
    fn no_session_at_all_or_a_bad_environment_value_is_a_usage_error() {
        let e = resolved(&arg(None, None), None).unwrap_err();
        assert!(e.contains("BENCHMON_SESSION"), "{e}");
        let e = resolved(&arg(None, None), Some("a b")).unwrap_err();
        assert!(e.contains("BENCHMON_SESSION=\"a b\""), "{e}");
        assert!(resolved(&arg(None, None), Some("")).is_err());
    }
}
