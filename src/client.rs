//! A typed client for benchmon's own API, used by the CLI and by the tests (so the CLI's client
//! code is tested by every API test).
//!
//! Connection errors and 5xx answers are retried with exponential backoff; 4xx never is (the
//! request itself is wrong, and sending it again cannot help).

use crate::api::problem::Problem;
use crate::session::{CreateSession, Session, SessionState, StartSession};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem+json body.
    #[error("{} {}: {}{}", .0.status, .0.title, .0.detail, .0.field.as_deref().map(|f| format!(" (field: {f})")).unwrap_or_default())]
    Problem(Box<Problem>),
    #[error("cannot reach benchmon at {url}: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("unexpected answer from {url} ({status}): {body}")]
    Decode {
        url: String,
        status: u16,
        body: String,
    },
    #[error("invalid server URL {0:?}")]
    BadUrl(String),
}

impl ClientError {
    /// The HTTP status of a server-side problem, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem(p) => Some(p.status),
            ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Client for one benchmon server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    retry: RetryPolicy,
}

/// A raw answer: status and JSON body (for callers that want to look at errors themselves).
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub content_type: String,
    pub body: serde_json::Value,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        let parsed = url::Url::parse(base).map_err(|_| ClientError::BadUrl(base.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::BadUrl(base.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| ClientError::Transport {
                url: base.to_owned(),
                source,
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request, retrying connection errors and 5xx; returns status and JSON body.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = req.send().await;
            let retryable = match &outcome {
                Ok(r) => r.status().is_server_error(),
                Err(e) => e.is_connect() || e.is_timeout(),
            };
            if retryable && attempt < self.retry.attempts {
                tracing::debug!(%url, attempt, "retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(self.retry.max_delay);
                attempt += 1;
                continue;
            }
            let resp = outcome.map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
            let status = resp.status();
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let bytes = resp
                .bytes()
                .await
                .map_err(|source| ClientError::Transport {
                    url: url.clone(),
                    source,
                })?;
            let body = if bytes.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|_| ClientError::Decode {
                    url: url.clone(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
                })?
            };
            return Ok(RawResponse {
                status,
                content_type,
                body,
            });
        }
    }

    /// Sends a request and decodes a success body as `T`, or the problem as an error.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let raw = self.send_raw(method, path, body).await?;
        let url = format!("{}{path}", self.base);
        if !raw.status.is_success() {
            return Err(match serde_json::from_value::<Problem>(raw.body.clone()) {
                Ok(p) => ClientError::Problem(Box::new(p)),
                Err(_) => ClientError::Decode {
                    url,
                    status: raw.status.as_u16(),
                    body: raw.body.to_string(),
                },
            });
        }
        let body = if raw.body.is_null() {
            serde_json::json!({})
        } else {
            raw.body
        };
        serde_json::from_value(body.clone()).map_err(|e| ClientError::Decode {
            url,
            status: raw.status.as_u16(),
            body: format!("{e}: {body}"),
        })
    }

    fn json<T: Serialize>(v: &T) -> Option<serde_json::Value> {
        serde_json::to_value(v).ok()
    }

    pub async fn create_session(&self, req: &CreateSession) -> Result<Session, ClientError> {
        self.call(Method::POST, "/api/v1/sessions", Self::json(req).as_ref())
            .await
    }

    pub async fn list_sessions(
        &self,
        state: Option<SessionState>,
    ) -> Result<Vec<Session>, ClientError> {
        let path = match state {
            Some(s) => format!("/api/v1/sessions?state={}", s.as_str()),
            None => "/api/v1/sessions".to_owned(),
        };
        self.call(Method::GET, &path, None).await
    }

    pub async fn session(&self, id: &str) -> Result<Session, ClientError> {
        self.call(Method::GET, &format!("/api/v1/sessions/{id}"), None)
            .await
    }

    pub async fn start_session(
        &self,
        id: &str,
        req: &StartSession,
    ) -> Result<Session, ClientError> {
        let path = format!("/api/v1/sessions/{id}/start");
        self.call(Method::POST, &path, Self::json(req).as_ref())
            .await
    }

    /// Long-polls until the session is in `state` (408 after `timeout`, 409 once unreachable).
    pub async fn wait_for(
        &self,
        id: &str,
        state: SessionState,
        timeout: Duration,
    ) -> Result<Session, ClientError> {
        let path = format!(
            "/api/v1/sessions/{id}?wait={}&timeout={}",
            state.as_str(),
            timeout.as_secs().max(1)
        );
        self.call(Method::GET, &path, None).await
    }

    pub async fn stop_session(&self, id: &str) -> Result<Session, ClientError> {
        self.call(Method::POST, &format!("/api/v1/sessions/{id}/stop"), None)
            .await
    }

    pub async fn delete_session(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/sessions/{id}");
        self.call::<serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }
}
