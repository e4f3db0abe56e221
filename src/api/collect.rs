//! `POST /api/v1/sessions/{id}/collect` and the list of past collections.

use super::extract::{IdPath, IdPathJson};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::collect::{self as collections, CollectRequest, CollectResponse, CollectionEntry};
use crate::domain::RunId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// Queries Prometheus over the window and writes an artifact bundle; answers with the files.
///
/// While the session runs, its own Prometheus answers; once the job has ended, a Prometheus
/// benchmon starts over the TSDB the job left behind (manifest: `prometheus_source`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/collect", tag = "collect",
    request_body = CollectRequest,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = CollectResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 500, body = Problem),
        (status = 502, body = Problem), (status = 503, body = Problem),
        (status = 507, body = Problem, description = "The artifacts filesystem is full (ENOSPC, EDQUOT)")))]
pub async fn collect(
    State(app): State<AppState>,
    IdPathJson(id, req): IdPathJson<RunId, CollectRequest>,
) -> Result<(StatusCode, Json<CollectResponse>), ApiError> {
    // A permit for the whole collection; none left is a 503 the client retries.
    let Ok(_permit) = app.collections.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "collections-busy",
            "Too many collections at once",
            format!(
                "{} collections are running, the most collect.max_concurrent allows; try again shortly",
                app.settings.site.collect.max_concurrent
            ),
        ));
    };
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
    IdPath(id): IdPath<RunId>,
) -> Result<Json<Vec<CollectionEntry>>, ApiError> {
    Ok(Json(
        collections::list_collections(&app.sessions, &id).await?,
    ))
}
