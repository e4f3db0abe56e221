//! RFC 9457 problem details: the one error shape every 4xx/5xx of the API has.
//!
//! Domain errors stay typed until here; this module (with [`mappings`], where the domain
//! errors are converted) is the only place that picks status codes. A 5xx is logged once with
//! its full cause and answered with a generic detail.

pub mod mappings;

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

    /// 401: no bearer token, or one the server does not know.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
        .with_field("Authorization")
    }

    /// 403: a known token whose role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Insufficient role",
            detail,
        )
        .with_field("Authorization")
    }

    /// 415: a body that is declared as something other than JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be JSON",
            detail,
        )
        .with_field("Content-Type")
    }

    /// 503 from `/ready`: the launcher (for SLURM: `squeue`) does not answer.
    pub fn launcher_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "launcher-unavailable",
            "The launcher is not usable",
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
