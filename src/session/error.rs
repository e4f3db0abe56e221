//! What can go wrong with a session, as one enum the HTTP edge maps to statuses.

use super::store::StoreError;
use crate::domain::RunId;
use crate::launcher::LaunchError;

/// Errors of session operations, each mapped to one HTTP status at the edge.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session {0} not found")]
    NotFound(RunId),
    #[error("session {0} already exists")]
    Exists(RunId),
    #[error("cannot {action} session {id}: it is {state}")]
    Conflict {
        id: RunId,
        state: &'static str,
        action: &'static str,
    },
    /// The scheduler refused the job because of a request field.
    #[error("{message}")]
    Refused {
        field: &'static str,
        message: String,
    },
    /// A request field that parsed but does not fit the rest of the request.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("launcher error: {0}")]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot render {what}: {message}")]
    Render { what: &'static str, message: String },
    #[error("session {id} did not reach {wanted} within {waited_secs} s; it is {state}")]
    WaitTimeout {
        id: RunId,
        wanted: &'static str,
        state: &'static str,
        waited_secs: u64,
    },
    #[error("benchmon is shutting down; try again once it is back")]
    ShuttingDown,
    #[error(
        "session {id} can no longer reach {wanted}: it is {state}{}{}",
        reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
        last_output.as_deref().map(|l| format!("; the job's last output line: {l}")).unwrap_or_default()
    )]
    Unreachable {
        id: RunId,
        wanted: &'static str,
        state: &'static str,
        reason: Option<String>,
        /// The last line the job printed, usually Prometheus's own error: a script waiting for
        /// `running` sees why without a second request for the full `output_tail`.
        last_output: Option<String>,
    },
}

impl SessionError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SessionError::Store(StoreError::Io {
            path: path.to_owned(),
            source,
        })
    }
}
