//! Optional bearer-token auth. With no tokens configured every route is open. With tokens, a
//! `read` token may GET, a `write` token may do everything; `/health`, `/ready`, `/metrics`,
//! `/docs` and `/openapi.json` stay open (probes, scrapers, and Swagger UI's own page), and so
//! does the web view's shell (`/`, `/sessions/{id}`, `/web/…`: static pages that hold no data
//! and ask for a token themselves). A bundle's files also admit a [`grant`](super::grant)
//! cookie, made for a request that had a token.
//!
//! Tokens are compared by SHA-256 digest in constant time, and are never logged.

use super::grant::GrantKey;
use super::problem::ApiError;
use crate::config::{AuthSettings, Role};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The configured tokens, as digests, and the key of bundle cookies.
pub struct Auth {
    tokens: Vec<([u8; 32], Role)>,
    pub grants: GrantKey,
}

impl Auth {
    pub fn new(settings: &AuthSettings) -> std::io::Result<Self> {
        Ok(Auth {
            tokens: settings
                .tokens
                .iter()
                .map(|t| (Sha256::digest(t.token.as_bytes()).into(), t.role))
                .collect(),
            grants: GrantKey::random()?,
        })
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The role of `presented`, checking every token without an early exit.
    fn role_of(&self, presented: &str) -> Option<Role> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (known, role) in &self.tokens {
            let diff = known
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(*role);
            }
        }
        found
    }
}

fn is_open_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/favicon.ico" | "/health" | "/ready" | "/metrics" | "/openapi.json"
    ) || path == "/docs"
        || path.starts_with("/docs/")
        || path.starts_with("/web/")
        || path.starts_with("/sessions/")
}

/// Middleware: checks the bearer token against the route's needed role.
pub async fn require_token(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    if !auth.enabled() || is_open_path(req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    let reading = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let role = presented.and_then(|t| auth.role_of(t));
    let fetching = matches!(*req.method(), Method::GET | Method::HEAD);
    if role.is_none() && fetching && auth.grants.admits(req.headers(), req.uri().path()) {
        return next.run(req).await;
    }
    let Some(role) = role else {
        let detail = if presented.is_some() {
            "the bearer token is not valid"
        } else {
            "this server requires a bearer token (Authorization: Bearer TOKEN)"
        };
        let mut resp = ApiError::unauthorized(detail).into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"benchmon\""),
        );
        return resp;
    };
    if role == Role::Read && !reading {
        return ApiError::forbidden(format!(
            "a read token may not {} this route; it needs a write token",
            req.method()
        ))
        .into_response();
    }
    next.run(req).await
}
