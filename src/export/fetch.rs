//! Streaming Prometheus queries: POSTs the form (PromQL can be long), then parses the body
//! with [`matrix::parse_matrix`](super::matrix::parse_matrix) on a blocking thread as the bytes
//! arrive, through `SyncIoBridge`. Memory is one read block, whatever the response size.

use super::matrix::{parse_matrix, MatrixError, MatrixMeta, MatrixSink};
use super::plan::unix_text;
use super::CollectError;
use futures_util::TryStreamExt;
use std::time::Duration;
use tokio_util::io::{StreamReader, SyncIoBridge};
use tokio_util::sync::CancellationToken;

/// Upper bound for one request, body included: Prometheus's own query timeout (2 min by
/// default) normally ends a slow query long before.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Bytes of an error body kept for the error message.
const ERROR_BODY_MAX: usize = 2000;

/// A matrix-returning query.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    /// `/api/v1/query_range`.
    Range {
        promql: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
    /// `/api/v1/query` of a range vector (raw samples).
    Instant { promql: String, time_ms: i64 },
}

impl Request {
    fn url_and_form(&self, base: &str) -> (String, Vec<(&'static str, String)>) {
        match self {
            Request::Range {
                promql,
                start_ms,
                end_ms,
                step_ms,
            } => (
                format!("{base}/api/v1/query_range"),
                vec![
                    ("query", promql.clone()),
                    ("start", unix_text(*start_ms)),
                    ("end", unix_text(*end_ms)),
                    ("step", unix_text(*step_ms)),
                ],
            ),
            Request::Instant { promql, time_ms } => (
                format!("{base}/api/v1/query"),
                vec![("query", promql.clone()), ("time", unix_text(*time_ms))],
            ),
        }
    }
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    status: String,
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(default)]
    error: String,
}

/// Runs `req` against the Prometheus at `base` and streams the matrix into the sink that
/// `make_sink` creates; `finish` turns the sink into the result. Both run on the blocking
/// thread that parses. `name` names the query in errors.
pub(crate) async fn fetch_matrix<S, T, M, F>(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    req: &Request,
    cancel: &CancellationToken,
    make_sink: M,
    finish: F,
) -> Result<T, CollectError>
where
    S: MatrixSink<Error = CollectError> + Send + 'static,
    T: Send + 'static,
    M: FnOnce() -> Result<S, CollectError> + Send + 'static,
    F: FnOnce(S, MatrixMeta) -> Result<T, CollectError> + Send + 'static,
{
    let (url, form) = req.url_and_form(base.trim_end_matches('/'));
    let http_err = |source| CollectError::Http {
        query: name.to_owned(),
        url: url.clone(),
        source,
    };
    let send = http.post(&url).form(&form).timeout(REQUEST_TIMEOUT).send();
    let resp = tokio::select! {
        r = send => r.map_err(http_err)?,
        _ = cancel.cancelled() => return Err(CollectError::Cancelled),
    };
    let status = resp.status();
    if !status.is_success() {
        let body = resp.bytes().await.map_err(http_err)?;
        return Err(match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(e) if e.status == "error" => CollectError::Query {
                query: name.to_owned(),
                error_type: e.error_type,
                message: e.error,
            },
            _ => CollectError::Status {
                query: name.to_owned(),
                url: url.clone(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_MAX)]).into_owned(),
            },
        });
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let query = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut sink = make_sink()?;
        match parse_matrix(reader, &mut sink) {
            Ok(meta) => finish(sink, meta),
            Err(MatrixError::Sink(e)) => Err(e),
            Err(MatrixError::Api { error_type, error }) => Err(CollectError::Query {
                query,
                error_type,
                message: error,
            }),
            Err(e) => Err(CollectError::Response {
                query,
                reason: e.to_string(),
            }),
        }
    })
    .await
    .map_err(|e| CollectError::Task(e.to_string()))?
}
