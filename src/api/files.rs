//! A bundle's files, read-only: `GET /api/v1/sessions/{id}/collections/{collection}/files`
//! lists them (and, with tokens, hands out the bundle's [`grant`](super::grant) cookie), and
//! `GET …/files/{name}` streams one, so `report.html` opens in a browser and its relative links
//! resolve to its siblings. Confinement to the bundle is [`crate::collect::files`]'s job.

use super::extract::{CollectionName, IdPath};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::collect::files::{self, BundleFile};
use crate::domain::{FileName, RunId};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// What a served bundle file may do in a browser: show its own styles and images, run no
/// script, load nothing from elsewhere. Bundle files come from metric labels and user
/// queries, and they share an origin with the page that holds the token.
const BUNDLE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
     frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

/// The files of one bundle, by name, with their sizes and media types.
///
/// With tokens configured, the answer also sets `benchmon_bundle`, an HttpOnly,
/// SameSite=Strict cookie scoped to this bundle's `…/files/` path and valid 15 minutes, so a
/// browser can then open the files (and follow the report's relative links) by plain
/// navigation, without the token in any URL.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/collections/{collection}/files", tag = "collect",
    params(("id" = String, Path, description = "Session id"),
        ("collection" = String, Path, description = "The bundle's directory name, as `GET …/collections` lists it (`bundle_dir`'s last component)")),
    responses((status = 200, body = Vec<BundleFile>,
            headers(("Set-Cookie" = String, description = "Only with tokens configured: `benchmon_bundle`, admitting this bundle's files for 15 minutes"))),
        (status = 404, body = Problem, description = "No such session (`session_id`) or collection (`collection`)")))]
pub async fn list_files(
    State(app): State<AppState>,
    IdPath(ids): IdPath<(RunId, CollectionName)>,
) -> Result<Response, ApiError> {
    let (id, CollectionName(collection)) = ids;
    let list = files::list_files(&app.sessions, &id, &collection).await?;
    let mut resp = Json(list).into_response();
    if app.auth.enabled() {
        if let Some(cookie) = app.auth.grants.cookie(id.as_str(), collection.as_str()) {
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    Ok(resp)
}

/// One file of a bundle, streamed with its media type (html, csv, json, parquet, png, svg,
/// text; anything else as `application/octet-stream`).
///
/// `name` is one file name: no `/`, no `..`, no leading dot, no control character; the file
/// must be inside the bundle once symlinks are resolved. With tokens configured, a
/// `benchmon_bundle` cookie from the listing admits it too.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/collections/{collection}/files/{name}", tag = "collect",
    params(("id" = String, Path, description = "Session id"),
        ("collection" = String, Path, description = "The bundle's directory name, as `GET …/collections` lists it"),
        ("name" = String, Path, description = "A file of the bundle, as `GET …/files` lists it")),
    responses((status = 200, description = "The file's bytes",
            content(("text/html"), ("text/csv"), ("application/json"), ("application/vnd.apache.parquet"),
                ("image/png"), ("image/svg+xml"), ("text/plain"), ("application/octet-stream"))),
        (status = 404, body = Problem, description = "No such session (`session_id`), collection (`collection`) or file (`name`)")))]
pub async fn get_file(
    State(app): State<AppState>,
    IdPath(ids): IdPath<(RunId, CollectionName, FileName)>,
) -> Result<Response, ApiError> {
    let (id, CollectionName(collection), name) = ids;
    let opened = files::open_file(&app.sessions, &id, &collection, &name).await?;
    // Streamed: a raw.parquet can be gigabytes.
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(opened.file));
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(opened.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(opened.bytes));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(BUNDLE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
