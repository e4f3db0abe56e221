//! The web view: `/` (the sessions) and `/sessions/{id}` (one session) are static shells
//! rendered from `templates/web/page.html`, plus their script and style sheet. They hold no
//! data and need no token: the script reads the JSON API (with the token the user gives it,
//! when the server has tokens) and refreshes every 5 s.

use super::extract::IdPath;
use super::problem::ApiError;
use super::AppState;
use crate::domain::RunId;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The page may run only its own script and talk only to its own origin.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

#[derive(Template)]
#[template(path = "web/page.html")]
struct Page<'a> {
    /// The page asks for a token before its first request.
    auth_required: bool,
    /// One session's page, or the list.
    session: Option<&'a RunId>,
    version: &'static str,
}

fn page(app: &AppState, session: Option<&RunId>) -> Result<Response, ApiError> {
    let html = Page {
        auth_required: app.auth.enabled(),
        session,
        version: env!("CARGO_PKG_VERSION"),
    }
    .render()
    .map_err(ApiError::internal)?;
    Ok(with_headers(html, "text/html; charset=utf-8"))
}

fn with_headers(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /`: the sessions, with their jobs, targets, windows and collections.
pub async fn index(State(app): State<AppState>) -> Result<Response, ApiError> {
    page(&app, None)
}

/// `GET /sessions/{id}`: one session and its bundles' files. An unknown id still gets the
/// page, which says so (the shell cannot know without a token).
pub async fn session(
    State(app): State<AppState>,
    IdPath(id): IdPath<RunId>,
) -> Result<Response, ApiError> {
    page(&app, Some(&id))
}

/// `GET /web/app.js`.
pub async fn script() -> Response {
    with_headers(
        include_str!("../../templates/web/app.js"),
        "text/javascript; charset=utf-8",
    )
}

/// `GET /web/style.css`.
pub async fn style() -> Response {
    with_headers(
        include_str!("../../templates/web/style.css"),
        "text/css; charset=utf-8",
    )
}

/// `GET /favicon.ico`: nothing, said politely. Browsers ask for it on every page, bundle files
/// included; a 401 or 404 there is an error in their console.
pub async fn favicon() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
