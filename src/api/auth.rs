//! Optional bearer-token auth. With no tokens configured every route is open. With tokens, a
//! `read` token may GET, a `write` token may do everything; `/health`, `/ready`, `/metrics`,
//! `/docs` and `/openapi.json` stay open (probes, scrapers, and Swagger UI's own page).
//!
//! Tokens are compared by SHA-256 digest in constant time, and are never logged.

use super::problem::ApiError;
use crate::config::{AuthSettings, Role};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The configured tokens, as digests.
pub struct Auth {
    tokens: Vec<([u8; 32], Role)>,
}

impl Auth {
    pub fn new(settings: &AuthSettings) -> Self {
        Auth {
            tokens: settings
                .tokens
                .iter()
                .map(|t| (Sha256::digest(t.token.as_bytes()).into(), t.role))
                .collect(),
        }
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
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json")
        || path == "/docs"
        || path.starts_with("/docs/")
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
    let Some(role) = presented.and_then(|t| auth.role_of(t)) else {
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
    let reading = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if role == Role::Read && !reading {
        return ApiError::forbidden(format!(
            "a read token may not {} this route; it needs a write token",
            req.method()
        ))
        .into_response();
    }
    next.run(req).await
}
