//! `POST /api/v1/sessions/{id}/collect` and the list of past collections.
//!
//! A client that sends `Accept: application/x-ndjson` gets the collection's progress while it
//! runs: once the engine has started (every refusal before that is the usual status and
//! problem), the answer is `200` with one JSON object per line — `progress` lines (samples and
//! bytes so far) at most every 250 ms, then one `result` line (`status` 201 and the
//! collection) or one `problem` line (the status and problem the plain request would have
//! answered with).

use super::extract::{IdPath, IdPathJson};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::collect::progress::{CollectProgress, Tally};
use crate::collect::{self as collections, CollectRequest, CollectResponse, CollectionEntry};
use crate::domain::RunId;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The media type that asks for progress lines.
pub const PROGRESS_MEDIA_TYPE: &str = "application/x-ndjson";

/// How often a progress line is sent at most (only when something changed).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// One line of a streamed collection.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CollectLine {
    Progress(CollectProgress),
    Result {
        status: u16,
        result: Box<CollectResponse>,
    },
    Problem {
        status: u16,
        problem: Problem,
    },
}

/// Queries Prometheus over the window and writes an artifact bundle; answers with the files.
///
/// While the session runs, its own Prometheus answers; once the job has ended, a Prometheus
/// benchmon starts over the TSDB the job left behind (manifest: `prometheus_source`).
/// With `Accept: application/x-ndjson`, once the collection has started: `200` and a line per
/// JSON object: `progress` (samples and bytes so far) at most every 250 ms, then one `result`
/// (status 201) or `problem` line; refusals before the start are the plain status and problem.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/collect", tag = "collect",
    request_body = CollectRequest,
    params(("id" = String, Path, description = "Session id")),
    responses((status = 201, body = CollectResponse),
        (status = 200, content_type = "application/x-ndjson", body = CollectLine,
            description = "Asked for with `Accept: application/x-ndjson`: progress lines, then one result or problem line"),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 500, body = Problem),
        (status = 502, body = Problem), (status = 503, body = Problem),
        (status = 507, body = Problem, description = "The artifacts filesystem is full (ENOSPC, EDQUOT)")))]
pub async fn collect(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    IdPathJson(id, req): IdPathJson<RunId, CollectRequest>,
) -> Result<Response, ApiError> {
    // A permit for the whole collection; none left is a 503 the client retries.
    let Ok(permit) = app.collections.clone().try_acquire_owned() else {
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
    if !wants_progress(&headers) {
        let resp = collections::collect_session(&app.sessions, &id, req, None).await?;
        drop(permit);
        return Ok((StatusCode::CREATED, Json(resp)).into_response());
    }
    let (tx, mut events) = mpsc::unbounded_channel();
    let sessions = app.sessions.clone();
    let mut task = tokio::spawn(async move {
        let _permit = permit;
        collections::collect_session(&sessions, &id, req, Some(tx)).await
    });
    let mut tally = Tally::default();
    // Until the engine starts, the answer is the plain one.
    tokio::select! {
        done = &mut task => return plain(done),
        first = events.recv() => match first {
            Some(e) => tally.apply(&e),
            None => return plain(task.await),
        },
    }
    let (lines_tx, lines_rx) = mpsc::channel::<Result<String, std::convert::Infallible>>(16);
    tokio::spawn(stream_progress(
        task,
        events,
        tally,
        lines_tx,
        uri.path().to_owned(),
    ));
    let body = axum::body::Body::from_stream(futures_util::stream::unfold(
        lines_rx,
        |mut rx| async move { rx.recv().await.map(|line| (line, rx)) },
    ));
    Ok(([(header::CONTENT_TYPE, PROGRESS_MEDIA_TYPE)], body).into_response())
}

fn wants_progress(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().starts_with(PROGRESS_MEDIA_TYPE))
        })
}

type Outcome = Result<CollectResponse, collections::CollectionError>;

/// The non-streamed answer of a collection that ended before its engine started.
fn plain(done: Result<Outcome, tokio::task::JoinError>) -> Result<Response, ApiError> {
    let resp = done.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(resp)).into_response())
}

/// Sends progress lines while the collection runs, then its outcome. A client that goes away
/// ends the collection, as it does for a plain request.
async fn stream_progress(
    mut task: JoinHandle<Outcome>,
    mut events: mpsc::UnboundedReceiver<crate::export::Progress>,
    mut tally: Tally,
    lines: mpsc::Sender<Result<String, std::convert::Infallible>>,
    path: String,
) {
    let send = |line: CollectLine| {
        let lines = lines.clone();
        async move {
            let text = serde_json::to_string(&line).unwrap_or_default() + "\n";
            lines.send(Ok(text)).await.is_ok()
        }
    };
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut last = None;
    let done = loop {
        tokio::select! {
            done = &mut task => break done,
            Some(e) = events.recv() => tally.apply(&e),
            _ = tick.tick() => {
                let now = tally.measure();
                if last.as_ref() != Some(&now) {
                    last = Some(now.clone());
                    if !send(CollectLine::Progress(now)).await {
                        task.abort();
                        return;
                    }
                }
            }
        }
    };
    while let Ok(e) = events.try_recv() {
        tally.apply(&e);
    }
    let _ = send(CollectLine::Progress(tally.measure())).await;
    let line = match done
        .map_err(ApiError::internal)
        .and_then(|r| r.map_err(ApiError::from))
    {
        Ok(resp) => CollectLine::Result {
            status: StatusCode::CREATED.as_u16(),
            result: Box::new(resp),
        },
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(%path, "streamed collection failed: {}", e.detail);
            }
            CollectLine::Problem {
                status: e.status.as_u16(),
                problem: e.into_problem(Some(path)),
            }
        }
    };
    let _ = send(line).await;
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
