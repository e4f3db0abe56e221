//! `/api/v1/sessions/{id}/events`: phases, progress, notes and alerts a harness reports.

use super::extract::{IdPath, IdPathJson};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::domain::RunId;
use crate::session::{Event, NewEvent};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// Records an event; it is kept with the session and written to `events.csv` in every bundle
/// whose window holds it. A `phase` event with `window: start|end` opens or closes the window
/// named like it at its timestamp, together with the event or not at all.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/events", tag = "windows", request_body = NewEvent,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = Event), (status = 404, body = Problem), (status = 409, description = "The session keeps 10,000 events already, or a phase's window exists already (`start`) or is not open (`end`)", body = Problem), (status = 422, body = Problem)))]
pub async fn add_event(
    State(app): State<AppState>,
    IdPathJson(id, req): IdPathJson<RunId, NewEvent>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.sessions.add_event(&id, req).await?),
    ))
}

/// The session's events in time order.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", tag = "windows",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Vec<Event>), (status = 404, body = Problem)))]
pub async fn list_events(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(app.sessions.events(&id).await?))
}
