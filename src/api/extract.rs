//! Extractors that turn bad input into problem+json naming the field, instead of axum's plain
//! text rejections.

use super::problem::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body. An empty body reads as `{}` (so `POST …/start` without a body works), a
/// missing content type is fine (scripts forget it) but a non-JSON one is a 415, and a bad
/// field is reported by its path.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // A content type other than JSON is refused: browsers send cross-site "simple"
        // requests only as text/plain or form data, so this also stops a web page from
        // driving a server that runs without tokens. No content type at all is fine (scripts).
        let content_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase());
        if let Some(ct) = content_type {
            let essence = ct.split(';').next().unwrap_or("").trim().to_owned();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::unsupported_media_type(format!(
                    "Content-Type {essence:?} is not accepted; send application/json"
                )));
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError::validation("body", format!("cannot read the request body: {e}"))
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(text).map(AppJson)
    }
}

/// Deserializes JSON, reporting the failing field's path (`labels.bad-name`, `prometheus_port`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = match path.as_str() {
            _ if inner.is_syntax() || inner.is_eof() => "body".to_owned(),
            "." | "" | "?" => {
                missing_field(&inner.to_string()).unwrap_or_else(|| "body".to_owned())
            }
            _ => path,
        };
        let detail = if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON: {inner}")
        } else {
            strip_position(&inner.to_string())
        };
        ApiError::validation(field, detail)
    })
}

/// serde reports a missing field at the parent's path; the field name is in the message.
fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// Drops serde_json's " at line 1 column 42" suffix, which means nothing to an API user.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Query parameters, with problem+json on failure.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(AppQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                ApiError::validation(field, err.into_inner().to_string())
            })
    }
}

/// A path segment that must parse as a domain id (`RunId`, `ClientId`, …).
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(AppPath(v)),
            Err(e) => Err(ApiError::validation("path", e.body_text())),
        }
    }
}
