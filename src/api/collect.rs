//! `POST /api/v1/sessions/{id}/collect` and the list of past collections.

use super::extract::{AppJson, AppPath};
use super::problem::{ApiError, Problem};
use super::sessions::path_id;
use super::AppState;
use crate::artifacts::OutDirError;
use crate::collect::{
    self as collections, CollectRequest, CollectResponse, CollectionEntry, CollectionError,
};
use crate::domain::RunId;
use crate::export::CollectError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

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
            CollectionError::OutDir(io @ OutDirError::Io { .. }) => ApiError::internal(io),
            CollectionError::Collect(c) => collect_error(c),
        }
    }
}

fn collect_error(e: CollectError) -> ApiError {
    match e {
        CollectError::InvalidPlan { ref field, .. } => {
            let field = field.clone();
            ApiError::validation(field, e.to_string())
        }
        // Prometheus's own trouble (a query timeout, an internal error) is not the request's.
        CollectError::Query { ref error_type, .. } if error_type != "bad_data" => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "prometheus-error",
            "Prometheus could not answer a query",
            e.to_string(),
        ),
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
        CollectError::Http { .. } | CollectError::Status { .. } | CollectError::Response { .. } => {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "prometheus-error",
                "Prometheus did not answer as expected",
                e.to_string(),
            )
        }
        other => ApiError::internal(other),
    }
}

/// Queries Prometheus over the window and writes an artifact bundle; answers with the files.
///
/// While the session runs, its own Prometheus answers; once the job has ended, a Prometheus
/// benchmon starts over the TSDB the job left behind (manifest: `prometheus_source`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/collect", tag = "collect",
    request_body = CollectRequest,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = CollectResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 500, body = Problem),
        (status = 502, body = Problem), (status = 503, body = Problem)))]
pub async fn collect(
    State(app): State<AppState>,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<CollectRequest>,
) -> Result<(StatusCode, Json<CollectResponse>), ApiError> {
    let id: RunId = path_id("session_id", &id)?;
    // The engine records its own duration, bytes and samples metrics.
    let resp = collections::collect_session(&app.sessions, &id, req).await?;
    Ok((StatusCode::CREATED, Json(resp)))
}

/// Past collections of the session with their manifests.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/collections", tag = "collect",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Vec<CollectionEntry>), (status = 404, body = Problem)))]
pub async fn list_collections(
    State(app): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<CollectionEntry>>, ApiError> {
    let id: RunId = path_id("session_id", &id)?;
    Ok(Json(
        collections::list_collections(&app.sessions, &id).await?,
    ))
}
