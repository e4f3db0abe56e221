//! `/api/v1/sessions/{id}/windows`: named benchmark phases to collect by name.

use super::extract::{AppJson, AppPath};
use super::problem::{ApiError, Problem};
use super::sessions::path_id;
use super::AppState;
use crate::domain::{RunId, WindowName};
use crate::session::{CloseWindow, NewWindow, Window};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

fn ids(id: &str, name: &str) -> Result<(RunId, WindowName), ApiError> {
    Ok((path_id("session_id", id)?, path_id("name", name)?))
}

/// Adds a window: `{name}` opens it now, `{name, start}` opens it at `start`, `{name, start,
/// end}` records a finished phase.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/windows", tag = "windows", request_body = NewWindow,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = Window), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_window(
    State(app): State<AppState>,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<NewWindow>,
) -> Result<(StatusCode, Json<Window>), ApiError> {
    let id: RunId = path_id("session_id", &id)?;
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
    AppPath((id, name)): AppPath<(String, String)>,
    AppJson(req): AppJson<CloseWindow>,
) -> Result<Json<Window>, ApiError> {
    let (id, name) = ids(&id, &name)?;
    Ok(Json(app.sessions.close_window(&id, &name, req).await?))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/windows", tag = "windows",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Vec<Window>), (status = 404, body = Problem)))]
pub async fn list_windows(
    State(app): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<Window>>, ApiError> {
    let id: RunId = path_id("session_id", &id)?;
    Ok(Json(app.sessions.windows(&id).await?))
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}/windows/{name}", tag = "windows",
    params(("id" = String, Path, description = "Session id"), ("name" = String, Path, description = "Window name")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_window(
    State(app): State<AppState>,
    AppPath((id, name)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, name) = ids(&id, &name)?;
    app.sessions.delete_window(&id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
