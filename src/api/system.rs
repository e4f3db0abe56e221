//! Liveness, readiness and benchmon's own metrics.

use super::problem::{ApiError, Problem};
use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "system", security(()), responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub launcher: crate::launcher::LauncherKind,
    pub sessions: usize,
}

/// State is loaded and the launcher is usable (for SLURM: `squeue` answers).
#[utoipa::path(get, path = "/ready", tag = "system", security(()),
    responses((status = 200, body = Readiness), (status = 503, body = Problem)))]
pub async fn ready(State(app): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    app.sessions
        .launcher
        .check()
        .await
        .map_err(|e| ApiError::launcher_unavailable(e.to_string()))?;
    Ok(Json(Readiness {
        status: "ready",
        launcher: app.sessions.launcher.kind(),
        sessions: app.sessions.list(None).await.len(),
    }))
}

/// benchmon's own metrics in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let sessions = app.sessions.list(None).await;
    for st in crate::session::SessionState::ALL {
        let n = sessions.iter().filter(|s| s.state == st).count();
        crate::telemetry::METRICS
            .sessions
            .get_or_create(&crate::telemetry::StateLabels {
                state: st.as_str().to_owned(),
            })
            .set(n as i64);
    }
    crate::telemetry::METRICS.process.update();
    // Prometheus asks for OpenMetrics; everyone else gets the classic text format.
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            crate::telemetry::encode_openmetrics(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            crate::telemetry::encode_classic_text(),
        )
    }
}
