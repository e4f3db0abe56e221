//! `GET …/collections/{collection}/files[/{name}]`: a real bundle's files served read-only with
//! their media types; traversal in every spelling refused as problem+json with nothing served;
//! with tokens, the bundle cookie admits exactly its bundle; the web view's shell is open.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const READ: &str = "read-token-files-0123456789";
const WRITE: &str = "write-token-files-0123456789";
const SECRET: &str = "SECRET-outside-the-bundle-4711";

/// A running local session with one collection `run-001`; returns the bundle's directory.
async fn session_with_a_bundle(app: &TestApp, id: &str) -> PathBuf {
    app.create_session(id).await;
    let prom = app.start_and_wait(id).await;
    until_self_scraped(&prom, id).await;
    let body = json!({"last": "30s", "run_id": "run-001"});
    let out = app.collect(id, &from_json(body)).await.success(201);
    PathBuf::from(out.bundle_dir)
}

fn files_path(id: &str, collection: &str, name: &str) -> String {
    format!("/api/v1/sessions/{id}/collections/{collection}/files/{name}")
}

async fn problem_of(app: &TestApp, path: &str) -> (u16, Value) {
    let r = raw_http(app.addr, "GET", path, &[]).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{path}: {r:?}"
    );
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

#[tokio::test]
async fn a_bundles_files_are_listed_and_streamed_with_their_media_types() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("files");
    let bundle = session_with_a_bundle(&app, &id).await;
    assert_eq!(bundle.file_name().unwrap(), "run-001");

    let listing = format!("/api/v1/sessions/{id}/collections/run-001/files");
    let (status, ctype, list) = app.send(reqwest::Method::GET, &listing, None).await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "application/json"),
        "{list}"
    );
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for name in [
        "MANIFEST.json",
        "raw.parquet",
        "report.html",
        "samples.csv",
        "summary.json",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let on_disk = std::fs::read_dir(&bundle).unwrap().count();
    assert_eq!(names.len(), on_disk, "{names:?}");

    for (name, media) in [
        ("report.html", "text/html; charset=utf-8"),
        ("samples.csv", "text/csv; charset=utf-8"),
        ("MANIFEST.json", "application/json"),
        ("summary.json", "application/json"),
        ("raw.parquet", "application/vnd.apache.parquet"),
    ] {
        let r = raw_http(app.addr, "GET", &files_path(&id, "run-001", name), &[]).await;
        assert_eq!(r.status, 200, "{name}: {r:?}");
        assert_eq!(r.header("content-type"), Some(media), "{name}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'"));
        let expected = std::fs::read(bundle.join(name)).unwrap();
        assert_eq!(
            r.header("content-length"),
            Some(expected.len().to_string().as_str())
        );
        assert_eq!(r.body, expected, "{name}: the bytes on disk");
        let listed = &list.as_array().unwrap()[names.iter().position(|n| *n == name).unwrap()];
        assert_eq!(listed["content_type"], media);
        assert_eq!(listed["bytes"], expected.len() as u64);
    }
    // The parquet file is the real thing, and HEAD answers without a body.
    let head = raw_http(
        app.addr,
        "HEAD",
        &files_path(&id, "run-001", "raw.parquet"),
        &[],
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(std::fs::read(bundle.join("raw.parquet"))
        .unwrap()
        .starts_with(b"PAR1"));
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn traversal_in_any_spelling_is_refused_as_a_problem_and_serves_nothing() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("escape");
    let bundle = session_with_a_bundle(&app, &id).await;
    // A second bundle next to it, a secret outside, and symlinks pointing out of the bundle.
    let body = json!({"last": "30s", "run_id": "run-001"});
    let other = app.collect(&id, &from_json(body)).await.success(201);
    assert!(other.bundle_dir.ends_with("run-001-2"));
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    let link = |name: &str, to: &Path| std::os::unix::fs::symlink(to, bundle.join(name)).unwrap();
    link("secret.txt", &secret);
    link("passwd.txt", Path::new("/etc/passwd"));
    link(
        "sibling.json",
        &Path::new(&other.bundle_dir).join("MANIFEST.json"),
    );
    link("up", Path::new(".."));
    link("relative.txt", Path::new("../../../../../../etc/passwd"));

    let f = |name: &str| files_path(&id, "run-001", name);
    let c = |collection: &str| {
        format!("/api/v1/sessions/{id}/collections/{collection}/files/report.html")
    };
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        (f(".."), 422, Some("name")),
        (f("%2e%2e"), 422, Some("name")),
        (f("%2E%2E"), 422, Some("name")),
        (f("..%2F..%2Fetc%2Fpasswd"), 422, Some("name")),
        (f("%2Fetc%2Fpasswd"), 422, Some("name")),
        (f("report.html%2F..%2F..%2Fx"), 422, Some("name")),
        (f("..%5C..%5Cx"), 422, Some("name")),
        (f(".hidden"), 422, Some("name")),
        (f("a%00b"), 422, Some("name")),
        (f("a%0Ab"), 422, Some("name")),
        (f("%ff"), 422, Some("path")),
        (f("secret.txt"), 404, Some("name")),
        (f("passwd.txt"), 404, Some("name")),
        (f("sibling.json"), 404, Some("name")),
        (f("relative.txt"), 404, Some("name")),
        (f("up"), 404, Some("name")),
        (c(".."), 422, Some("collection")),
        (c("%2e%2e"), 422, Some("collection")),
        (c("run-001%2F..%2Frun-001-2"), 422, Some("collection")),
        // More segments than the route has: no route at all.
        (f("../../../../etc/passwd"), 404, None),
        (f("report.html/"), 404, None),
    ];
    for (path, status, field) in cases {
        let r = raw_http(app.addr, "GET", &path, &[]).await;
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, status, "{path}: {text}");
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        assert!(
            !text.contains(SECRET) && !text.contains("root:"),
            "{path} served {text}"
        );
        let problem: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(problem["status"], status);
        assert_eq!(problem["field"].as_str(), field, "{path}: {problem}");
    }
    // The links themselves are left out of the listing; the real files are there.
    let listing = format!("/api/v1/sessions/{id}/collections/run-001/files");
    let (_, _, list) = app.send(reqwest::Method::GET, &listing, None).await;
    let text = list.to_string();
    assert!(text.contains("report.html"));
    for hidden in ["secret.txt", "passwd.txt", "sibling.json", "\"up\""] {
        assert!(!text.contains(hidden), "{hidden} listed: {text}");
    }
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_session_collection_or_file_is_a_404_naming_its_field() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("missing");
    let bundle = session_with_a_bundle(&app, &id).await;
    let (status, p) = problem_of(
        &app,
        &files_path("no-such-session", "run-001", "report.html"),
    )
    .await;
    assert_eq!(
        (status, p["field"].as_str()),
        (404, Some("session_id")),
        "{p}"
    );
    let (status, p) = problem_of(&app, &files_path(&id, "run-999", "report.html")).await;
    assert_eq!(
        (status, p["field"].as_str()),
        (404, Some("collection")),
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("run-999"));
    let (status, p) = problem_of(&app, &files_path(&id, "run-001", "nothing.csv")).await;
    assert_eq!((status, p["field"].as_str()), (404, Some("name")), "{p}");
    let (status, p) = problem_of(
        &app,
        &format!("/api/v1/sessions/{id}/collections/run-999/files"),
    )
    .await;
    assert_eq!(
        (status, p["field"].as_str()),
        (404, Some("collection")),
        "{p}"
    );
    // A bundle removed from disk is gone, though the index remembers it.
    std::fs::remove_dir_all(&bundle).unwrap();
    let (status, p) = problem_of(&app, &files_path(&id, "run-001", "report.html")).await;
    assert_eq!(
        (status, p["field"].as_str()),
        (404, Some("collection")),
        "{p}"
    );
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

/// The `name=value` part of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

#[tokio::test]
async fn with_tokens_the_bundle_cookie_admits_its_own_bundles_files_and_nothing_else() {
    let app = spawn_app_with_tokens(LauncherKind::Local, READ, WRITE).await;
    let id = unique_id("grant");
    session_with_a_bundle(&app, &id).await;
    let body = json!({"last": "30s", "run_id": "run-001"});
    app.collect(&id, &from_json(body)).await.success(201);
    let bearer = format!("Authorization: Bearer {READ}");
    let listing = |c: &str| format!("/api/v1/sessions/{id}/collections/{c}/files");
    let report = files_path(&id, "run-001", "report.html");

    // No token: the listing and the file are 401; the shell of the web view is not.
    assert_eq!(
        raw_http(app.addr, "GET", &listing("run-001"), &[])
            .await
            .status,
        401
    );
    let r = raw_http(app.addr, "GET", &report, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    for page in [
        "/",
        &format!("/sessions/{id}"),
        "/web/app.js",
        "/web/style.css",
    ] {
        let r = raw_http(app.addr, "GET", page, &[]).await;
        assert_eq!(r.status, 200, "{page}");
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'"));
    }
    let shell = String::from_utf8(raw_http(app.addr, "GET", "/", &[]).await.body).unwrap();
    assert!(shell.contains(r#"data-auth="required""#), "{shell}");
    assert!(!shell.contains(&id), "the shell holds no data");

    // A read token lists the files and gets the cookie, scoped to this bundle.
    let r = raw_http(app.addr, "GET", &listing("run-001"), &[&bearer]).await;
    assert_eq!(r.status, 200);
    let set = r.header("set-cookie").expect("a bundle cookie").to_owned();
    let path = format!("Path=/api/v1/sessions/{id}/collections/run-001/files/");
    for part in [path.as_str(), "HttpOnly", "SameSite=Strict", "Max-Age=900"] {
        assert!(set.contains(part), "{part} not in {set}");
    }
    assert!(!set.contains(READ), "the token is not in the cookie");
    let cookie = format!("Cookie: {}", cookie_pair(&set));

    // The cookie alone opens this bundle's files…
    let r = raw_http(app.addr, "GET", &report, &[&cookie]).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains(r#"id="verdict""#));
    let csv = files_path(&id, "run-001", "samples.csv");
    assert_eq!(
        raw_http(app.addr, "GET", &csv, &[&cookie]).await.status,
        200
    );
    // …and nothing else: not the sibling bundle, not the listing, not a write, not the API.
    for path in [
        files_path(&id, "run-001-2", "report.html"),
        listing("run-001"),
        format!("/api/v1/sessions/{id}"),
        format!("/api/v1/sessions/{id}/collections"),
    ] {
        assert_eq!(
            raw_http(app.addr, "GET", &path, &[&cookie]).await.status,
            401,
            "{path}"
        );
    }
    let stop = format!("/api/v1/sessions/{id}/stop");
    assert_eq!(
        raw_http(app.addr, "POST", &stop, &[&cookie, "Content-Length: 0"])
            .await
            .status,
        401
    );
    // A tampered cookie is refused.
    let last = if cookie.ends_with('0') { "1" } else { "0" };
    let tampered = format!("{}{last}", &cookie[..cookie.len() - 1]);
    assert_eq!(
        raw_http(app.addr, "GET", &report, &[&tampered])
            .await
            .status,
        401
    );
    // Without tokens there is no cookie.
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
    let open = spawn_app(LauncherKind::Local).await;
    let r = raw_http(open.addr, "GET", "/", &[]).await;
    assert!(String::from_utf8_lossy(&r.body).contains(r#"data-auth="none""#));
    open.shutdown().await;
}
