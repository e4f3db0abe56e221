//! Every domain error's status code, problem type and field: the `From<…> for ApiError`
//! conversions handlers rely on with `?`.

use super::ApiError;
use crate::artifacts::OutDirError;
use crate::collect::files::BundleFileError;
use crate::collect::storage::StorageFault;
use crate::collect::CollectionError;
use crate::export::CollectError;
use crate::session::{EventError, PushFailure, SessionError, StoreError, WindowError};
use crate::targets::DeregisterError;
use axum::http::StatusCode;

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        use SessionError as E;
        match e {
            E::NotFound(_) => ApiError::not_found(e.to_string()).with_field("session_id"),
            E::Exists(_) => ApiError::conflict(e.to_string()).with_field("run_id"),
            E::Conflict { .. } => ApiError::conflict(e.to_string()),
            E::Refused { field, message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "scheduler-refused",
                "The scheduler refused the job",
                format!("sbatch refused the job: {message}"),
            )
            .with_field(field),
            E::Invalid { field, message } => ApiError::validation(field, message),
            E::Launch(inner) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "scheduler-error",
                "The scheduler command failed",
                inner.to_string(),
            ),
            E::WaitTimeout { .. } => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "wait-timeout",
                "The session did not reach the state in time",
                e.to_string(),
            )
            .with_field("timeout"),
            E::Unreachable { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "state-unreachable",
                "The session can no longer reach that state",
                e.to_string(),
            )
            .with_field("wait"),
            E::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "benchmon is shutting down",
                e.to_string(),
            ),
            E::Store(StoreError::Exists(_)) => ApiError::conflict(e.to_string()),
            E::Store(_) | E::Render { .. } => ApiError::internal(e),
        }
    }
}

impl From<BundleFileError> for ApiError {
    fn from(e: BundleFileError) -> Self {
        match e {
            BundleFileError::Session(inner) => inner.into(),
            BundleFileError::NoCollection { .. } => {
                ApiError::not_found(e.to_string()).with_field("collection")
            }
            BundleFileError::NoFile { .. } => ApiError::not_found(e.to_string()).with_field("name"),
            BundleFileError::Io { .. } => ApiError::internal(e),
        }
    }
}

impl From<DeregisterError> for ApiError {
    fn from(e: DeregisterError) -> Self {
        match e {
            DeregisterError::Session(s) => s.into(),
            DeregisterError::Unknown { kind, .. } => {
                let field = if kind == "client" {
                    "client_id"
                } else {
                    "name"
                };
                ApiError::not_found(e.to_string()).with_field(field)
            }
        }
    }
}

impl From<WindowError> for ApiError {
    fn from(e: WindowError) -> Self {
        match e {
            WindowError::Session(s) => s.into(),
            WindowError::Exists(_) | WindowError::Closed(_) => {
                ApiError::conflict(e.to_string()).with_field("name")
            }
            WindowError::Unknown(_) => ApiError::not_found(e.to_string()).with_field("name"),
            WindowError::Order { .. } => ApiError::validation("end", e.to_string()),
            WindowError::EndWithoutStart => ApiError::validation("start", e.to_string()),
        }
    }
}

impl From<CollectionError> for ApiError {
    fn from(e: CollectionError) -> Self {
        match e {
            CollectionError::Session(s) => s.into(),
            CollectionError::Invalid { field, detail } => ApiError::validation(field, detail),
            CollectionError::NotRunning { .. } | CollectionError::NoData { .. } => {
                ApiError::conflict(e.to_string())
            }
            // Transient by nature: a 503 is what clients (ours included) retry.
            CollectionError::JobEnding { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "job-ending",
                "The session's job is still ending",
                e.to_string(),
            ),
            CollectionError::Offline(o) if o.tsdb_in_use() => ApiError::conflict(o.to_string()),
            // Its own log says why (a missing binary, a TSDB it cannot open): show it. Not a
            // 503, which clients would retry into the same failure.
            CollectionError::Offline(o) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "offline-prometheus",
                "benchmon could not serve the ended session's data",
                o.to_string(),
            ),
            CollectionError::OutDir(OutDirError::Invalid(d)) => ApiError::validation("out_dir", d),
            CollectionError::OutDir(OutDirError::Outside(d)) => ApiError::new(
                StatusCode::FORBIDDEN,
                "out-dir-forbidden",
                "out_dir is outside the allowed roots",
                d,
            )
            .with_field("out_dir"),
            CollectionError::OutDir(io @ OutDirError::Io { errno, .. }) => {
                match errno.and_then(crate::collect::storage::fault_of_errno) {
                    Some(fault) => storage_problem(fault, io.to_string()),
                    None => ApiError::internal(io),
                }
            }
            CollectionError::Storage(s) => storage_problem(s.fault, s.to_string()),
            CollectionError::Collect(c) => c.into(),
        }
    }
}

/// A full filesystem is 507 (RFC 4918: the server cannot store what the request needs); a
/// read-only or forbidden one is the server's own fault, a 500 that says which directory and
/// why instead of pointing at the log.
fn storage_problem(fault: StorageFault, detail: String) -> ApiError {
    let e = match fault {
        StorageFault::Full => ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient-storage",
            "The artifacts filesystem is full",
            detail,
        ),
        StorageFault::NotWritable => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage-not-writable",
            "The artifacts directory cannot be written",
            detail,
        ),
    };
    tracing::error!("collection failed on its filesystem: {}", e.detail);
    e.with_field("out_dir")
}

impl From<CollectError> for ApiError {
    fn from(e: CollectError) -> Self {
        match e {
            CollectError::InvalidPlan { ref field, .. } => {
                let field = field.clone();
                ApiError::validation(field, e.to_string())
            }
            // The window is what makes a collection big; the detail names the estimate, the
            // limit and the site knob.
            CollectError::OverBudget { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "over-budget",
                "The collection is larger than the site allows",
                e.to_string(),
            )
            .with_field("window"),
            // Prometheus's own trouble (a query timeout, an internal error) is not the request's.
            CollectError::Query { ref error_type, .. } if error_type != "bad_data" => {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "prometheus-error",
                    "Prometheus could not answer a query",
                    e.to_string(),
                )
            }
            CollectError::Query { ref query, .. } => {
                let field = format!("queries.{query}");
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "query-refused",
                    "Prometheus refused a query",
                    e.to_string(),
                )
                .with_field(field)
            }
            CollectError::Http { .. }
            | CollectError::Status { .. }
            | CollectError::Response { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "prometheus-error",
                "Prometheus did not answer as expected",
                e.to_string(),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::compare::CompareError> for ApiError {
    fn from(e: crate::compare::CompareError) -> Self {
        use crate::compare::CompareError as E;
        match e {
            E::Tolerances(inner) => ApiError::validation(inner.field.clone(), inner.to_string()),
            // Listed in the session's index but gone or incomplete on disk now.
            E::NotABundle { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "bundle-unreadable",
                "The bundle cannot be read",
                e.to_string(),
            ),
            E::Write { .. } | E::Render(_) => ApiError::internal(e),
        }
    }
}

impl From<crate::session::RulesError> for ApiError {
    fn from(e: crate::session::RulesError) -> Self {
        use crate::session::RulesError as E;
        match e {
            E::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-rules",
                "promtool refused the rules",
                e.to_string(),
            )
            .with_field("rules"),
            E::VmalertInvalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-rules",
                "vmalert refused the rules",
                e.to_string(),
            )
            .with_field("rules"),
            E::NotEvaluated(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rules-not-evaluated",
                "The session's store cannot evaluate rules",
                e.to_string(),
            )
            .with_field("rules"),
            E::Reload(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "reload-failed",
                "Prometheus (or vmalert) did not reload its rules",
                e.to_string(),
            )
            .with_field("rules"),
            E::Session(inner) => inner.into(),
            E::Promtool(_) => ApiError::internal(e),
        }
    }
}

impl From<PushFailure> for ApiError {
    fn from(e: PushFailure) -> Self {
        match e {
            PushFailure::Session(inner) => inner.into(),
            PushFailure::Invalid(inner) => {
                ApiError::validation(inner.origin.clone(), inner.to_string())
            }
            PushFailure::Refused(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "push-refused",
                "Prometheus refused a pushed sample",
                format!("{e}; nothing from this request was stored"),
            )
            .with_field("body"),
            PushFailure::Prometheus(inner) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "prometheus-unreachable",
                "The session's Prometheus did not take the push",
                inner.to_string(),
            ),
        }
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        match e {
            EventError::Session(inner) => inner.into(),
            EventError::Invalid { field, reason } => ApiError::validation(field, reason),
            EventError::Full => ApiError::conflict(e.to_string()),
            // The window rules of a phase event: a name taken, or no such open window, is a
            // conflict with the session's windows (not a missing resource: the event is the
            // resource); an end not after the start is the event's timestamp's fault.
            EventError::Window(WindowError::Session(s)) => s.into(),
            EventError::Window(
                w @ (WindowError::Exists(_) | WindowError::Closed(_) | WindowError::Unknown(_)),
            ) => ApiError::conflict(w.to_string()).with_field("name"),
            EventError::Window(w) => ApiError::validation("timestamp", w.to_string()),
        }
    }
}
