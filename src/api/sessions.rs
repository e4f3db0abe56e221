//! `/api/v1/sessions…`: create, list, inspect, start, stop, delete, and wait for a state.

use super::extract::{AppJson, AppQuery, IdPath, IdPathJson, IdPathQuery};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::domain::{PromDuration, RunId};
use crate::session::{CreateSession, Session, SessionState, StartSession};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sessions in this state.
    #[param(value_type = Option<crate::session::SessionState>)]
    pub state: Option<String>,
}

/// Long-poll parameters: `?wait=running&timeout=60s` answers once the session is running (or
/// 409 as soon as it can no longer get there, 408 after the timeout).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// State to wait for.
    #[param(value_type = Option<crate::session::SessionState>)]
    pub wait: Option<String>,
    /// How long to wait (Prometheus duration or seconds; default 60s, at most `server.max_wait`,
    /// 1h unless configured).
    pub timeout: Option<String>,
}

fn parse_state(field: &str, raw: &str) -> Result<SessionState, ApiError> {
    raw.parse()
        .map_err(|e: String| ApiError::validation(field, e))
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    request_body = CreateSession,
    responses((status = 201, body = Session), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 500, body = Problem)))]
pub async fn create_session(
    State(app): State<AppState>,
    AppJson(req): AppJson<CreateSession>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let s = app.sessions.create_with_rules(req).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = Vec<Session>), (status = 422, body = Problem)))]
pub async fn list_sessions(
    State(app): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<Vec<Session>>, ApiError> {
    let state = q
        .state
        .as_deref()
        .map(|s| parse_state("state", s))
        .transpose()?;
    Ok(Json(app.sessions.list(state).await))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "Session id (= run_id)"), WaitQuery),
    responses((status = 200, body = Session), (status = 404, body = Problem),
        (status = 408, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn get_session(
    State(app): State<AppState>,
    IdPathQuery(id, q): IdPathQuery<RunId, WaitQuery>,
) -> Result<Json<Session>, ApiError> {
    let Some(wait) = q.wait.as_deref() else {
        if q.timeout.is_some() {
            return Err(ApiError::validation("timeout", "timeout needs wait=STATE"));
        }
        let s = app.sessions.get(&id).await?;
        return Ok(Json(with_sizing_now(&app, s).await));
    };
    let wanted = parse_state("wait", wait)?;
    let max = &app.settings.site.server.max_wait;
    let timeout = match q.timeout.as_deref() {
        None => std::time::Duration::from_secs(60).min(max.as_duration()),
        Some(t) => {
            let d = PromDuration::parse(t).map_err(|e| ApiError::validation("timeout", e.0))?;
            if d.as_millis() > max.as_millis() {
                return Err(ApiError::validation(
                    "timeout",
                    format!("may be at most {max} (server.max_wait)"),
                ));
            }
            d.as_duration()
        }
    };
    let cell = app.sessions.cell(&id).await?;
    let s = app.sessions.wait_for(&cell, wanted, timeout).await?;
    Ok(Json(with_sizing_now(&app, s).await))
}

/// A live session's view says whether its targets now expect more series than its job was
/// sized for.
async fn with_sizing_now(app: &AppState, mut s: Session) -> Session {
    let live = matches!(
        s.state,
        SessionState::Pending
            | SessionState::Starting
            | SessionState::Running
            | SessionState::Degraded
    );
    if let (true, Some(sizing)) = (live, s.sizing.as_mut()) {
        if let Ok(cell) = app.sessions.cell(&s.session_id).await {
            sizing.compare_with(&crate::targets::expected_targets(&cell).await);
        }
    }
    s
}

/// The same view as `GET /sessions/{id}` (the seed's status route).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/status", tag = "sessions",
    params(("id" = String, Path, description = "Session id"), WaitQuery),
    responses((status = 200, body = Session), (status = 404, body = Problem),
        (status = 408, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn session_status(
    state: State<AppState>,
    path_and_query: IdPathQuery<RunId, WaitQuery>,
) -> Result<Json<Session>, ApiError> {
    get_session(state, path_and_query).await
}

/// Submits Prometheus as a job; 202 with the session (`pending`). Follow it with
/// `GET /sessions/{id}?wait=running`.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/start", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    request_body(content = Option<StartSession>, description = "Omitted fields take the site defaults"),
    responses((status = 202, body = Session), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "Invalid field, or sbatch refused it"),
        (status = 502, body = Problem, description = "The scheduler command failed")))]
pub async fn start_session(
    State(app): State<AppState>,
    IdPathJson(id, req): IdPathJson<RunId, StartSession>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let cell = app.sessions.cell(&id).await?;
    let targets = crate::targets::expected_targets(&cell).await;
    let s = app.sessions.start(&id, req, &targets).await?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}

/// Cancels the job and answers once the scheduler has it gone.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/stop", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Session), (status = 404, body = Problem),
        (status = 408, body = Problem), (status = 409, body = Problem), (status = 502, body = Problem)))]
pub async fn stop_session(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(app.sessions.stop(&id).await?))
}

/// Stops the session if needed and removes its state; collected artifacts stay.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = Problem), (status = 408, body = Problem),
        (status = 502, body = Problem)))]
pub async fn delete_session(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<StatusCode, ApiError> {
    app.sessions.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the session's alert and recording rules (checked with promtool first, and with
/// `vmalert -dryRun` for a `victoriametrics` session); a running Prometheus, or the store
/// job's vmalert, reloads them without a restart.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/rules", tag = "sessions",
    request_body = crate::session::SetRules,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = crate::session::RulesView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 500, body = Problem),
        (status = 502, body = Problem)))]
pub async fn set_rules(
    State(app): State<AppState>,
    IdPathJson(id, req): IdPathJson<RunId, crate::session::SetRules>,
) -> Result<Json<crate::session::RulesView>, ApiError> {
    Ok(Json(app.sessions.set_rules(&id, req).await?))
}
