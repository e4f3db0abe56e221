//! Target registration (`/api/v1/clients`, `/api/v1/services` and their per-session forms),
//! the targets list with live health, and the rendered config.

use super::extract::{AppJson, IdPath, IdPathJson};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::domain::{ClientId, RunId, ServiceName};
use crate::targets::{self, ClientRegistration, ConfigView, ServiceRegistration, TargetList};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// The session a registration is for: the path's, or the body's `session_id` on the
/// top-level routes. Both given and different is an error naming `session_id`.
fn session_of(path: Option<RunId>, body: Option<&RunId>) -> Result<RunId, ApiError> {
    match (path, body) {
        (Some(id), b) => {
            if b.is_some_and(|b| *b != id) {
                return Err(ApiError::validation(
                    "session_id",
                    "the body's session_id differs from the session in the path",
                ));
            }
            Ok(id)
        }
        (None, Some(b)) => Ok(b.clone()),
        (None, None) => Err(ApiError::validation(
            "session_id",
            "missing field `session_id`",
        )),
    }
}

/// Rejects `enable_<kind>` preferences for exporters the client does not have (typos).
fn check_preferences(reg: &ClientRegistration) -> Result<(), ApiError> {
    for key in reg.preferences.keys() {
        let field = format!("preferences.{key}");
        let kind = key.strip_prefix("enable_").ok_or_else(|| {
            ApiError::validation(&field, "preference keys are enable_<exporter kind>")
        })?;
        if !reg.exporters.keys().any(|k| k.as_str() == kind) {
            return Err(ApiError::validation(
                field,
                format!("no exporter {kind:?} in exporters"),
            ));
        }
    }
    if reg.exporters.is_empty() {
        return Err(ApiError::validation(
            "exporters",
            "a client needs at least one exporter",
        ));
    }
    Ok(())
}

async fn add_client(
    app: &AppState,
    path: Option<RunId>,
    reg: ClientRegistration,
) -> Result<(StatusCode, Json<ClientRegistration>), ApiError> {
    let id = session_of(path, reg.session_id.as_ref())?;
    check_preferences(&reg)?;
    let reg = targets::register_client(&app.sessions, &id, reg).await?;
    Ok((StatusCode::CREATED, Json(reg)))
}

async fn add_service(
    app: &AppState,
    path: Option<RunId>,
    reg: ServiceRegistration,
) -> Result<(StatusCode, Json<ServiceRegistration>), ApiError> {
    let id = session_of(path, reg.session_id.as_ref())?;
    let reg = targets::register_service(&app.sessions, &id, reg).await?;
    Ok((StatusCode::CREATED, Json(reg)))
}

/// Registers a client (a node with exporters); replaces one with the same `client_id`.
#[utoipa::path(post, path = "/api/v1/clients", tag = "targets", request_body = ClientRegistration,
    responses((status = 201, body = ClientRegistration), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_client(
    State(app): State<AppState>,
    AppJson(reg): AppJson<ClientRegistration>,
) -> Result<(StatusCode, Json<ClientRegistration>), ApiError> {
    add_client(&app, None, reg).await
}

/// Registers a service's `/metrics` URL; replaces one with the same `name`.
#[utoipa::path(post, path = "/api/v1/services", tag = "targets", request_body = ServiceRegistration,
    responses((status = 201, body = ServiceRegistration), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_service(
    State(app): State<AppState>,
    AppJson(reg): AppJson<ServiceRegistration>,
) -> Result<(StatusCode, Json<ServiceRegistration>), ApiError> {
    add_service(&app, None, reg).await
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/clients", tag = "targets", request_body = ClientRegistration,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = ClientRegistration), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_session_client(
    State(app): State<AppState>,
    IdPathJson(id, reg): IdPathJson<RunId, ClientRegistration>,
) -> Result<(StatusCode, Json<ClientRegistration>), ApiError> {
    add_client(&app, Some(id), reg).await
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/services", tag = "targets", request_body = ServiceRegistration,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = ServiceRegistration), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_session_service(
    State(app): State<AppState>,
    IdPathJson(id, reg): IdPathJson<RunId, ServiceRegistration>,
) -> Result<(StatusCode, Json<ServiceRegistration>), ApiError> {
    add_service(&app, Some(id), reg).await
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}/clients/{client_id}", tag = "targets",
    params(("id" = String, Path, description = "Session id"), ("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn deregister_client(
    State(app): State<AppState>,
    IdPath((id, client)): IdPath<(RunId, ClientId)>,
) -> Result<StatusCode, ApiError> {
    targets::deregister_client(&app.sessions, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}/services/{name}", tag = "targets",
    params(("id" = String, Path, description = "Session id"), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn deregister_service(
    State(app): State<AppState>,
    IdPath((id, name)): IdPath<(RunId, ServiceName)>,
) -> Result<StatusCode, ApiError> {
    targets::deregister_service(&app.sessions, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every registered target with its labels and, while the session runs, Prometheus's view of
/// it (up/down, last scrape, last error, scrape duration).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/targets", tag = "targets",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = TargetList), (status = 404, body = Problem)))]
pub async fn list_targets(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Json<TargetList>, ApiError> {
    let cell = app.sessions.cell(&id).await?;
    Ok(Json(targets::list_targets(&app.sessions, &cell).await))
}

/// Exactly what Prometheus was told: prometheus.yml, the job script and the file_sd files.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/config", tag = "targets",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = ConfigView), (status = 404, body = Problem)))]
pub async fn session_config(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Json<ConfigView>, ApiError> {
    let cell = app.sessions.cell(&id).await?;
    Ok(Json(targets::config_view(&app.sessions, &cell).await?))
}
