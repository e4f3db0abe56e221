//! `/api/v1/sessions/{id}/windows`: named benchmark phases to collect by name.

use super::extract::{IdPath, IdPathJson};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::domain::{RunId, WindowName};
use crate::session::{CloseWindow, NewWindow, Window};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// Adds a window: `{name}` opens it now, `{name, start}` opens it at `start`, `{name, start,
/// end}` records a finished phase.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/windows", tag = "windows", request_body = NewWindow,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = Window), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_window(
    State(app): State<AppState>,
    IdPathJson(id, req): IdPathJson<RunId, NewWindow>,
) -> Result<(StatusCode, Json<Window>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.sessions.add_window(&id, req).await?),
    ))
}

/// Closes an open window at `end` (now if omitted).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/windows/{name}/close", tag = "windows",
    request_body(content = Option<CloseWindow>),
    params(("id" = String, Path, description = "Session id"), ("name" = String, Path, description = "Window name")),
    responses((status = 200, body = Window), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn close_window(
    State(app): State<AppState>,
    IdPathJson((id, name), req): IdPathJson<(RunId, WindowName), CloseWindow>,
) -> Result<Json<Window>, ApiError> {
    Ok(Json(app.sessions.close_window(&id, &name, req).await?))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/windows", tag = "windows",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Vec<Window>), (status = 404, body = Problem)))]
pub async fn list_windows(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Json<Vec<Window>>, ApiError> {
    Ok(Json(app.sessions.windows(&id).await?))
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}/windows/{name}", tag = "windows",
    params(("id" = String, Path, description = "Session id"), ("name" = String, Path, description = "Window name")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_window(
    State(app): State<AppState>,
    IdPath((id, name)): IdPath<(RunId, WindowName)>,
) -> Result<StatusCode, ApiError> {
    app.sessions.delete_window(&id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
