//! `POST /api/v1/compare`: two bundles of the server's sessions, judged as `benchmon compare`
//! judges two directories.

use super::extract::AppJson;
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::compare::{self, Bundle, Comparison, Options, TolerancesSpec};
use crate::domain::CollectionRef;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use std::path::PathBuf;
use utoipa::ToSchema;

/// Two bundles and the rules to judge them by.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    /// The run to compare against, `SESSION/COLLECTION` (the bundle directory's name).
    pub baseline: CollectionRef,
    /// The new run, `SESSION/COLLECTION`.
    pub candidate: CollectionRef,
    /// Tolerance rules, as in the CLI's TOML file (`rules`, `noise`, `ignore_labels`).
    #[serde(default)]
    pub tolerances: TolerancesSpec,
}

/// The bundle `r` names, or a problem naming `field`.
async fn resolve(app: &AppState, r: &CollectionRef, field: &str) -> Result<PathBuf, ApiError> {
    let session = r
        .session()
        .map_err(|e| ApiError::validation(field, e.to_string()))?;
    crate::collect::find_collection(&app.sessions, &session, r.collection())
        .await
        .map_err(|e| ApiError::from(e).with_field(field))?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "session {session} has no collection named {:?}",
                r.collection()
            ))
            .with_field(field)
        })
}

/// Compares the candidate bundle's KPIs with the baseline's: deltas, directions, a verdict per
/// row (`better`, `same`, `worse`, `regression`, `changed`, `missing`, `new`) and
/// `regression: true` when any rule's `max_regression` is exceeded.
#[utoipa::path(post, path = "/api/v1/compare", tag = "collect",
    request_body = CompareRequest,
    responses((status = 200, body = Comparison), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 500, body = Problem)))]
pub async fn compare(
    State(app): State<AppState>,
    AppJson(req): AppJson<CompareRequest>,
) -> Result<Json<Comparison>, ApiError> {
    let opts = Options::from_spec(&req.tolerances, "tolerances.").map_err(ApiError::from)?;
    let base = resolve(&app, &req.baseline, "baseline").await?;
    let cand = resolve(&app, &req.candidate, "candidate").await?;
    let read = |dir: PathBuf, field: &'static str| async move {
        tokio::task::spawn_blocking(move || Bundle::read(&dir))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::from(e).with_field(field))
    };
    let (b, c) = (
        read(base, "baseline").await?,
        read(cand, "candidate").await?,
    );
    Ok(Json(compare::compare(&b, &c, &opts)))
}
