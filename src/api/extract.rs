//! Extractors that turn bad input into problem+json naming the field, instead of axum's plain
//! text rejections: JSON bodies, query strings, and the ids in a route's path.

use super::problem::ApiError;
use crate::domain::{ClientId, FileName, Invalid, RunId, ServiceName, WindowName};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The most bytes a request body may have (`server.max_body_bytes`), put in every request's
/// extensions next to axum's `DefaultBodyLimit`, so a refusal can say the limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

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
        if let Some(essence) = content_type(req.headers()) {
            // Exactly `application/json` (parameters such as `charset=utf-8` aside): a request
            // body is not a problem report, nor any other `+json` type.
            if essence != "application/json" {
                return Err(ApiError::unsupported_media_type(format!(
                    "Content-Type {essence:?} is not accepted; send application/json"
                )));
            }
        }
        let bytes = read_body(req, state).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // Every body is an object; serde would also fill a struct from an array
        // (`[null, null]` as the start options), which no client means.
        if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::validation(
                "body",
                "the body must be a JSON object",
            ));
        }
        parse_json(text).map(AppJson)
    }
}

/// The essence of a request's `Content-Type` (`text/plain` of `text/plain; version=0.0.4`),
/// lowercased; `None` when there is none.
pub fn content_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let ct = headers.get(axum::http::header::CONTENT_TYPE)?;
    let ct = ct.to_str().unwrap_or("?").to_ascii_lowercase();
    Some(ct.split(';').next().unwrap_or("").trim().to_owned())
}

/// The whole body, a 413 naming `server.max_body_bytes` when it is over the limit.
pub async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    let limit = req.extensions().get::<BodyLimit>().copied();
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|e| match limit {
            Some(BodyLimit(max)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large(max)
            }
            _ => ApiError::validation("body", format!("cannot read the request body: {e}")),
        })
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
            // A field missing in a nested object (`store.remote_write_url`).
            _ => match missing_field(&inner.to_string()) {
                Some(name) => format!("{path}.{name}"),
                None => path,
            },
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

/// A domain id that a route's path carries, and the request field it is reported as.
pub trait PathId: std::str::FromStr<Err = Invalid> {
    const FIELD: &'static str;
}

impl PathId for RunId {
    const FIELD: &'static str = "session_id";
}
impl PathId for ClientId {
    const FIELD: &'static str = "client_id";
}
impl PathId for ServiceName {
    const FIELD: &'static str = "name";
}
impl PathId for WindowName {
    const FIELD: &'static str = "name";
}
/// A file of a bundle (`…/files/{name}`).
impl PathId for FileName {
    const FIELD: &'static str = "name";
}

/// A bundle directory's name in a path (`…/collections/{collection}/…`): a [`FileName`]
/// reported as the field `collection`.
#[derive(Debug, Clone)]
pub struct CollectionName(pub FileName);

impl std::str::FromStr for CollectionName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        FileName::parse(s).map(CollectionName)
    }
}
impl PathId for CollectionName {
    const FIELD: &'static str = "collection";
}

/// What a route's path parameters parse into: one id, or a pair in path order.
pub trait PathIds: Sized {
    /// The raw segments, as axum's `Path` decodes them.
    type Segments: DeserializeOwned + Send;
    /// Parses the segments in path order; the first bad one is reported by its field.
    fn parse(segments: Self::Segments) -> Result<Self, ApiError>;
}

fn parse_id<T: PathId>(raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|e: Invalid| ApiError::validation(T::FIELD, e.0))
}

impl<T: PathId> PathIds for T {
    type Segments = String;
    fn parse(raw: String) -> Result<Self, ApiError> {
        parse_id(&raw)
    }
}

impl<A: PathId, B: PathId> PathIds for (A, B) {
    type Segments = (String, String);
    fn parse((a, b): (String, String)) -> Result<Self, ApiError> {
        Ok((parse_id(&a)?, parse_id(&b)?))
    }
}

impl<A: PathId, B: PathId, C: PathId> PathIds for (A, B, C) {
    type Segments = (String, String, String);
    fn parse((a, b, c): (String, String, String)) -> Result<Self, ApiError> {
        Ok((parse_id(&a)?, parse_id(&b)?, parse_id(&c)?))
    }
}

/// The path's segments, decoded but not yet parsed; a segment that does not percent-decode to
/// UTF-8 is refused here, naming the field `path`.
async fn segments<P: PathIds, S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<P::Segments, ApiError> {
    match axum::extract::Path::<P::Segments>::from_request_parts(parts, state).await {
        Ok(axum::extract::Path(raw)) => Ok(raw),
        Err(e) => Err(ApiError::validation("path", e.body_text())),
    }
}

/// Typed path ids (`IdPath<RunId>`, `IdPath<(RunId, WindowName)>`): a bad id is a 422 naming
/// its field (`session_id`, `client_id`, `name`).
pub struct IdPath<P>(pub P);

impl<S, P> FromRequestParts<S> for IdPath<P>
where
    S: Send + Sync,
    P: PathIds,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = segments::<P, S>(parts, state).await?;
        P::parse(raw).map(IdPath)
    }
}

/// Path ids and a JSON body, checked in the order the API has always answered in: an
/// undecodable path first, then the body (415, bad JSON, bad fields), then the ids. So a
/// request wrong in both its path and its body gets the body's problem.
pub struct IdPathJson<P, B>(pub P, pub B);

impl<S, P, B> FromRequest<S> for IdPathJson<P, B>
where
    S: Send + Sync,
    P: PathIds,
    B: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let raw = segments::<P, S>(&mut parts, state).await?;
        let AppJson(body) = AppJson::from_request(Request::from_parts(parts, body), state).await?;
        Ok(IdPathJson(P::parse(raw)?, body))
    }
}

/// Path ids and query parameters, in the same order as [`IdPathJson`]: an undecodable path,
/// then the query, then the ids.
pub struct IdPathQuery<P, Q>(pub P, pub Q);

impl<S, P, Q> FromRequestParts<S> for IdPathQuery<P, Q>
where
    S: Send + Sync,
    P: PathIds,
    Q: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = segments::<P, S>(parts, state).await?;
        let AppQuery(query) = AppQuery::from_request_parts(parts, state).await?;
        Ok(IdPathQuery(P::parse(raw)?, query))
    }
}
