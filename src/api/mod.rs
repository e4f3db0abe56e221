//! The HTTP edge: routes, the OpenAPI document, and the layers around every route (auth,
//! problem+json rendering, request metrics, request tracing).
//! Handlers parse and delegate; the work happens in `session`, `targets` and `collect`.

pub mod auth;
pub mod collect;
pub mod compare;
pub mod events;
pub mod extract;
pub mod files;
pub mod grant;
pub mod observe;
pub mod openapi;
pub mod problem;
pub mod push;
pub mod sessions;
pub mod system;
pub mod targets;
pub mod web;
pub mod windows;

use crate::config::Settings;
use crate::session::Sessions;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use openapi::{BearerAuth, ProblemResponses};
use problem::ApiError;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<Sessions>,
    pub settings: Arc<Settings>,
    pub auth: Arc<auth::Auth>,
    /// Permits for collections running at once (`collect.max_concurrent`).
    pub collections: Arc<tokio::sync::Semaphore>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "benchmon",
        description = "Monitoring sessions for HPC benchmarks: Prometheus as a SLURM job, target registration, windowed collection into artifact bundles. Every error is an RFC 9457 problem+json body naming the field at fault."
    ),
    paths(
        sessions::create_session,
        sessions::list_sessions,
        sessions::get_session,
        sessions::session_status,
        sessions::start_session,
        sessions::stop_session,
        sessions::delete_session,
        sessions::set_rules,
        targets::register_client,
        targets::register_service,
        targets::register_session_client,
        targets::register_session_service,
        targets::deregister_client,
        targets::deregister_service,
        targets::list_targets,
        targets::session_config,
        push::push_metrics,
        events::add_event,
        events::list_events,
        windows::add_window,
        windows::close_window,
        windows::list_windows,
        windows::delete_window,
        collect::collect,
        collect::list_collections,
        files::list_files,
        files::get_file,
        compare::compare,
        system::health,
        system::ready,
        system::metrics,
    ),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "sessions", description = "Monitoring sessions and their Prometheus jobs"),
        (name = "targets", description = "Clients, services and what Prometheus scrapes"),
        (name = "windows", description = "Named benchmark phases"),
        (name = "collect", description = "Windowed collection into artifact bundles"),
        (name = "system", description = "Health, readiness and self-metrics"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as served at `/openapi.json` and committed as `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The whole application; tests drive it in-process or on a real socket.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.site.server.max_body_bytes;
    let api = Router::new()
        .route(
            "/sessions",
            post(sessions::create_session).get(sessions::list_sessions),
        )
        .route(
            "/sessions/{id}",
            get(sessions::get_session).delete(sessions::delete_session),
        )
        .route("/sessions/{id}/status", get(sessions::session_status))
        .route("/sessions/{id}/start", post(sessions::start_session))
        .route("/sessions/{id}/stop", post(sessions::stop_session))
        .route(
            "/sessions/{id}/rules",
            axum::routing::put(sessions::set_rules),
        )
        .route("/clients", post(targets::register_client))
        .route("/services", post(targets::register_service))
        .route(
            "/sessions/{id}/clients",
            post(targets::register_session_client),
        )
        .route(
            "/sessions/{id}/services",
            post(targets::register_session_service),
        )
        .route(
            "/sessions/{id}/clients/{client_id}",
            axum::routing::delete(targets::deregister_client),
        )
        .route(
            "/sessions/{id}/services/{name}",
            axum::routing::delete(targets::deregister_service),
        )
        .route("/sessions/{id}/targets", get(targets::list_targets))
        .route("/sessions/{id}/config", get(targets::session_config))
        .route(
            "/sessions/{id}/windows",
            post(windows::add_window).get(windows::list_windows),
        )
        .route(
            "/sessions/{id}/windows/{name}",
            axum::routing::delete(windows::delete_window),
        )
        .route(
            "/sessions/{id}/windows/{name}/close",
            post(windows::close_window),
        )
        .route("/sessions/{id}/metrics", post(push::push_metrics))
        .route(
            "/sessions/{id}/events",
            post(events::add_event).get(events::list_events),
        )
        .route("/sessions/{id}/collect", post(collect::collect))
        .route("/sessions/{id}/collections", get(collect::list_collections))
        .route(
            "/sessions/{id}/collections/{collection}/files",
            get(files::list_files),
        )
        .route(
            "/sessions/{id}/collections/{collection}/files/{name}",
            get(files::get_file),
        )
        .route("/compare", post(compare::compare));
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(web::index))
        .route("/sessions/{id}", get(web::session))
        .route("/web/app.js", get(web::script))
        .route("/web/style.css", get(web::style))
        .route("/favicon.ico", get(web::favicon))
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/metrics", get(system::metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::Extension(extract::BodyLimit(max_body)))
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_token,
        ))
        // Outermost last: the trace span and the metrics see the final response, problem
        // bodies included; every layer sees the `MatchedPath` of the route it wraps.
        .layer(middleware::from_fn(problem::render_problems))
        .layer(middleware::from_fn(observe::record_metrics))
        .layer(observe::trace_layer())
        .with_state(state)
}
