//! The HTTP edge: routes, OpenAPI document, problem+json errors, request metrics.
//! Handlers parse and delegate; the work happens in `session`, `targets` and `collect`.

pub mod extract;
pub mod problem;
pub mod sessions;
pub mod system;

use crate::config::Settings;
use crate::session::Sessions;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use problem::{ApiError, ProblemMarker};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<Sessions>,
    pub settings: Arc<Settings>,
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
        system::health,
        system::ready,
        system::metrics,
    ),
    tags(
        (name = "sessions", description = "Monitoring sessions and their Prometheus jobs"),
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
        .route("/sessions/{id}/stop", post(sessions::stop_session));
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/metrics", get(system::metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(middleware::from_fn(problem_and_metrics))
        .with_state(state)
}

/// Adds `instance` to problem bodies, turns axum's own plain-text rejections (405, …) into
/// problems, and records request metrics by route template.
async fn problem_and_metrics(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let mut resp = next.run(req).await;
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        let problem = if resp.extensions().get::<ProblemMarker>().is_some() {
            let body = std::mem::take(resp.body_mut());
            match axum::body::to_bytes(body, 1 << 20).await {
                Ok(bytes) => serde_json::from_slice::<problem::Problem>(&bytes).ok(),
                Err(_) => None,
            }
        } else {
            let title = status.canonical_reason().unwrap_or("Error");
            Some(ApiError::new(status, "http", "HTTP error", title).into_problem(None))
        };
        if let Some(mut p) = problem {
            p.instance = Some(path);
            let body = serde_json::to_vec(&p).unwrap_or_default();
            *resp.body_mut() = axum::body::Body::from(body);
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/problem+json"),
            );
            resp.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
        }
    }
    record_http(&method, &route, status, started.elapsed());
    resp
}

fn record_http(method: &str, route: &str, status: StatusCode, took: std::time::Duration) {
    let labels = crate::telemetry::HttpLabels {
        method: method.to_owned(),
        route: route.to_owned(),
        status: status.as_u16().to_string(),
    };
    crate::telemetry::METRICS
        .http
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
}
