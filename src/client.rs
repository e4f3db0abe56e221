//! A typed client for benchmon's own API, used by the CLI and by the tests (so the CLI's client
//! code is tested by every API test).
//!
//! Connection errors and 5xx answers are retried with exponential backoff and jitter; 4xx never
//! is (the request itself is wrong, and sending it again cannot help). A request that may have
//! reached the server (a timeout or a connection dropped mid-answer) is retried only when its
//! method is idempotent, and a `POST` answered with a 5xx only on 503 (not processed), so a
//! `POST` is never applied twice because of a slow or failed answer.
//!
//! Endpoints are grouped like the API: sessions here, [`targets`] (registration, targets view)
//! and [`windows`] (named windows, collections) in submodules.

mod events;
mod progress;
mod retry;
mod targets;
mod windows;

pub use retry::RetryPolicy;
pub use windows::{CollectRequest, CollectResult};

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
    #[error("cannot reach benchmon at {url}: {}{}", error_chain(.source), transport_hint(.source))]
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

/// What to do about a connection nobody accepted: usually, no server is running there.
fn transport_hint(e: &reqwest::Error) -> &'static str {
    match e.is_connect() {
        true => {
            "\nhint: is the server running? Start it with `benchmon serve`, or point --server \
             (BENCHMON_URL) at the one that is"
        }
        false => "",
    }
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

/// An error's causes, which say what happened ("tcp connect error: Connection refused");
/// reqwest's own message only repeats the URL.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// Client for one benchmon server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
}

/// A raw answer: status and JSON body (for callers that want to look at errors themselves).
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub content_type: String,
    pub body: serde_json::Value,
}

/// A request body: JSON, or the text exposition `push` sends.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    Json(&'a serde_json::Value),
    Text(&'a str),
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
            timeout: None,
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Gives up on one attempt of an ordinary request after `timeout` (none by default).
    /// Long polls get their wait on top; collections are not limited (they may take long).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
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
        self.send_within(method, path, body.map(Payload::Json), self.timeout)
            .await
    }

    /// [`Self::send_raw`] with an explicit per-attempt timeout.
    async fn send_within(
        &self,
        method: Method,
        path: &str,
        body: Option<Payload<'_>>,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, ClientError> {
        let resp = self
            .send_response(method, path, body, timeout, None)
            .await?;
        read_answer(format!("{}{path}", self.base), resp).await
    }

    /// Sends a request with the retries, and hands back the response before its body is read
    /// (streamed answers read it line by line). `accept` sets the Accept header.
    async fn send_response(
        &self,
        method: Method,
        path: &str,
        body: Option<Payload<'_>>,
        timeout: Option<Duration>,
        accept: Option<&'static str>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 1;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(a) = accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            match body {
                Some(Payload::Json(b)) => req = req.json(b),
                Some(Payload::Text(t)) => {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                        .body(t.to_owned())
                }
                None => {}
            }
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            let outcome = req.send().await;
            if attempt < self.retry.attempts && retry::retryable(&method, &outcome) {
                let delay = self.retry.delay(attempt);
                let why = match &outcome {
                    Ok(r) => format!("answered {}", r.status()),
                    Err(e) => format!("failed: {}", error_chain(e)),
                };
                tracing::warn!(
                    "{method} {url} {why}; retry {attempt}/{} in {:.1}s",
                    self.retry.attempts - 1,
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            return outcome.map_err(|source| ClientError::Transport { url, source });
        }
    }

    /// Sends a request and decodes a success body as `T`, or the problem as an error.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        self.call_within(method, path, body, self.timeout).await
    }

    /// [`Self::call`] with an explicit per-attempt timeout.
    async fn call_within<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        self.call_payload(method, path, body.map(Payload::Json), timeout)
            .await
    }

    /// Pushes Prometheus text exposition into a session (`benchmon push`); stored whole or
    /// not at all.
    pub async fn push_text(
        &self,
        id: &crate::domain::RunId,
        client_id: Option<&crate::domain::ClientId>,
        text: &str,
    ) -> Result<crate::session::PushReceipt, ClientError> {
        let query = client_id.map_or(String::new(), |c| format!("?client_id={c}"));
        let path = format!("/api/v1/sessions/{id}/metrics{query}");
        self.call_payload(Method::POST, &path, Some(Payload::Text(text)), self.timeout)
            .await
    }

    /// Sends a body and decodes a success as `T`, or the problem as an error.
    async fn call_payload<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Payload<'_>>,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        let raw = self.send_within(method, path, body, timeout).await?;
        decode(format!("{}{path}", self.base), raw)
    }

    /// A request body; a remote store's credentials in it are sent as they are (they are
    /// redacted in every other serialization).
    fn json<T: Serialize>(v: &T) -> Option<serde_json::Value> {
        crate::domain::with_secrets_exposed(|| serde_json::to_value(v).ok())
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
        let limit = self.timeout.map(|t| t + timeout);
        self.call_within(Method::GET, &path, None, limit).await
    }

    /// Cancels the job; the server answers once the scheduler reports it gone, which may
    /// take longer than an ordinary request (so 5 minutes more than the per-request timeout).
    pub async fn stop_session(&self, id: &str) -> Result<Session, ClientError> {
        let path = format!("/api/v1/sessions/{id}/stop");
        let limit = self.timeout.map(|t| t + Duration::from_secs(300));
        self.call_within(Method::POST, &path, None, limit).await
    }

    /// `PUT /api/v1/sessions/{id}/rules` with a rule file's YAML text.
    pub async fn set_rules(
        &self,
        id: &crate::domain::RunId,
        yaml: &str,
    ) -> Result<crate::session::RulesView, ClientError> {
        let body = serde_json::json!({"rules": yaml});
        let path = format!("/api/v1/sessions/{id}/rules");
        self.call(Method::PUT, &path, Some(&body)).await
    }

    /// `POST /api/v1/compare`: `body` is `{baseline, candidate, tolerances?}`; the answer is
    /// `compare.json`'s content.
    pub async fn compare(
        &self,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.call(Method::POST, "/api/v1/compare", Some(body)).await
    }

    pub async fn delete_session(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/sessions/{id}");
        self.call::<serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }
}

/// A whole answer read: its status, content type and JSON body.
async fn read_answer(url: String, resp: reqwest::Response) -> Result<RawResponse, ClientError> {
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
    Ok(RawResponse {
        status,
        content_type,
        body,
    })
}

/// A success body decoded as `T`, or the problem of a failure as an error.
fn decode<T: DeserializeOwned>(url: String, raw: RawResponse) -> Result<T, ClientError> {
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
