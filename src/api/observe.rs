//! What the HTTP edge records about each request: the request-duration histogram (by method,
//! route template and status).
//!
//! It labels requests by the matched route template (`/api/v1/sessions/{id}`), never by the
//! raw URI: the ids in a path are chosen by clients, so a label holding them would grow one
//! metric series per session, client and window, without bound. The template keeps that to
//! the few dozen routes there are. Requests no route matched are `unmatched`.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The route template axum matched, if any.
fn route_of<B>(req: &axum::http::Request<B>) -> Option<&str> {
    req.extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
}

/// Middleware: observes every request in `benchmon_http_request_duration_seconds`.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let route = route_of(&req).unwrap_or("unmatched").to_owned();
    let resp = next.run(req).await;
    crate::telemetry::record_http(&method, &route, resp.status().as_u16(), started.elapsed());
    resp
}
