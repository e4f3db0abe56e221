//! RFC 9457 problem details: the one error shape every 4xx/5xx of the API has, and the layer
//! that finishes it.
//!
//! Domain errors stay typed until here; this module (with [`mappings`], where the domain
//! errors are converted) is the only place that picks status codes. A 5xx is logged once with
//! its full cause and answered with a generic detail.
//!
//! An [`ApiError`] turns into a response that carries its [`Problem`] in the response
//! extensions; [`render_problems`], which knows the request, fills in `instance` and writes the
//! body. Error responses axum makes itself (405, a 404 from Swagger UI) become problems there
//! too.

pub mod mappings;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
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

    /// 413: a body over `server.max_body_bytes`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "The request body is too large",
            format!("the request body is over the limit of {limit} bytes (server.max_body_bytes)"),
        )
        .with_field("body")
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

    /// An error status axum answered by itself (405, a 404 outside the API), as a problem.
    pub fn http(status: StatusCode) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        Self::new(status, "http", "HTTP error", title)
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
    /// The problem without `instance`, rendered (so the response stands on its own) and kept
    /// in the extensions for [`render_problems`], which knows the request path.
    fn into_response(self) -> Response {
        let status = self.status;
        let problem = self.into_problem(None);
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            render(&problem),
        )
            .into_response();
        resp.extensions_mut().insert(problem);
        resp
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

fn render(problem: &Problem) -> Vec<u8> {
    serde_json::to_vec(problem).unwrap_or_default()
}

/// Middleware: gives every 4xx/5xx a problem body whose `instance` is the request path.
///
/// An [`ApiError`]'s problem comes from the response extensions, so nothing is re-parsed; any
/// other error response (axum's 405 with its `Allow` header, Swagger UI's 404) gets an `http`
/// problem in place of its body, keeping its headers.
pub async fn render_problems(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let mut problem = resp
        .extensions_mut()
        .remove::<Problem>()
        .unwrap_or_else(|| ApiError::http(status).into_problem(None));
    problem.instance = Some(path);
    *resp.body_mut() = axum::body::Body::from(render(&problem));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}
