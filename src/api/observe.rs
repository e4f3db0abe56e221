//! What the HTTP edge records about each request: the request-duration histogram (by method,
//! route template and status) and a tracing span with one log line per response.
//!
//! Both label requests by the matched route template (`/api/v1/sessions/{id}`), never by the
//! raw URI: the ids in a path are chosen by clients, so a label or span field holding them
//! would grow one metric series (or one distinct log value) per session, client and window,
//! without bound. The template keeps that to the few dozen routes there are. Requests no
//! route matched are `unmatched`.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{
    DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, MakeSpan, TraceLayer,
};
use tower_http::LatencyUnit;
use tracing::{Level, Span};

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

/// A span per request with the method and the matched route template (not the raw URI, see
/// the module doc); requests no route matched have no `route` field.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteSpan;

impl<B> MakeSpan<B> for RouteSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        let route = route_of(req).map(tracing::field::display);
        tracing::info_span!("http", method = %req.method(), route)
    }
}

/// Request tracing: the request at DEBUG, one INFO line per response with its status and
/// latency in milliseconds. A 5xx is logged at DEBUG as a failure, not again at ERROR: the
/// response line has its status, and an internal error already logged its cause.
pub type HttpTrace = TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RouteSpan>;

pub fn trace_layer() -> HttpTrace {
    TraceLayer::new_for_http()
        .make_span_with(RouteSpan)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(LatencyUnit::Millis),
        )
        .on_failure(
            DefaultOnFailure::new()
                .level(Level::DEBUG)
                .latency_unit(LatencyUnit::Millis),
        )
}
