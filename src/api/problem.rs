//! RFC 9457 problem details: the one error shape every 4xx/5xx of the API has.
//!
//! Domain errors stay typed until here; this is the only place that picks status codes.
//! A 5xx is logged once with its full cause and answered with a generic detail.

use crate::session::{SessionError, StoreError};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An RFC 9457 problem+json body, with the offending request field when there is one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request path that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request field at fault (a JSON path like `labels.model` or a query parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An API error on its way to becoming a [`Problem`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: detail.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 422: a request value failed validation.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request field",
            detail,
        )
        .with_field(field)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflict with the session's state",
            detail,
        )
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "benchmon hit an internal error; the server log has the details",
        )
    }

    pub fn into_problem(self, instance: Option<String>) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            instance,
            field: self.field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let problem = self.into_problem(None);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        // The `instance` is filled in by the problem middleware, which knows the request path.
        resp.extensions_mut().insert(ProblemMarker);
        resp
    }
}

/// Marks responses that carry a [`Problem`], so middleware can add `instance`.
#[derive(Clone, Copy)]
pub struct ProblemMarker;

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
