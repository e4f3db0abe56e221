//! `POST /api/v1/sessions/{id}/metrics`: a harness pushes its own samples into a session.
//! The one route that takes `text/plain` (the Prometheus exposition format client libraries
//! write) besides JSON.

use super::extract::{content_type, parse_json, read_body, IdPathQuery};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::domain::{ClientId, RunId};
use crate::push::json::PushMetrics;
use crate::session::{PushBody, PushReceipt};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

/// Who pushed: becomes the `client_id` label of every pushed series.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PushQuery {
    pub client_id: Option<ClientId>,
}

/// Pushes samples, stored whole or not at all. Every series gets `session`, `run_id`, the
/// session's labels, `source="push"` and `client_id` if given. Values must be finite;
/// timestamps (ms, optional) must lie between the session's start and now, ±5 s of skew.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/metrics", tag = "sessions",
    request_body(content(
        (PushMetrics = "application/json"),
        (String = "text/plain", example = "client_requests_total{status=\"200\"} 1027 1762250400000")
    )),
    params(("id" = String, Path, description = "Session id"), PushQuery),
    responses(
        (status = 200, body = PushReceipt),
        (status = 404, body = Problem),
        (status = 409, description = "The session is neither running nor degraded", body = Problem),
        (status = 415, description = "The body is neither text/plain nor application/json", body = Problem),
        (status = 422, description = "A line or element is invalid (`field` names it: `line 7`, `metrics[6].value`); nothing was stored", body = Problem),
        (status = 502, description = "The session's store did not answer", body = Problem),
    ))]
pub async fn push_metrics(
    State(app): State<AppState>,
    IdPathQuery(id, query): IdPathQuery<RunId, PushQuery>,
    req: Request,
) -> Result<Json<PushReceipt>, ApiError> {
    let kind = content_type(req.headers());
    let bytes = read_body(req, &()).await?;
    let body = match kind.as_deref() {
        Some("text/plain") => PushBody::Text(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::validation("body", "the body is not UTF-8 text"))?,
        ),
        Some("application/json") | None => PushBody::Json(parse_json(&bytes)?),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be text/plain or JSON",
                format!("Content-Type {other:?} is not accepted; send text/plain (exposition format) or application/json"),
            )
            .with_field("Content-Type"))
        }
    };
    let receipt = app
        .sessions
        .push_metrics(&id, query.client_id.as_ref(), body)
        .await?;
    Ok(Json(receipt))
}
