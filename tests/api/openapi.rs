//! The committed OpenAPI document is the served one; drift fails here.
//! Regenerate with `BENCHMON_UPDATE_OPENAPI=1 cargo test --test api openapi`.

use crate::support::*;
use benchmon::launcher::LauncherKind;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = benchmon::api::openapi().to_pretty_json().unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var_os("BENCHMON_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; run BENCHMON_UPDATE_OPENAPI=1 cargo test --test api openapi"
    );
}

#[tokio::test]
async fn the_server_serves_the_same_document_and_swagger_ui() {
    let app = spawn_app(LauncherKind::Local).await;
    let served: serde_json::Value = reqwest::get(app.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected: serde_json::Value = serde_json::to_value(benchmon::api::openapi()).unwrap();
    assert_eq!(served, expected);
    assert!(served["paths"]["/api/v1/sessions/{id}/start"]["post"].is_object());
    let ui = reqwest::get(app.url("/docs/")).await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
    app.shutdown().await;
}

/// Every operation's responses, as `(method, path, status, response)`.
fn responses(doc: &serde_json::Value) -> Vec<(String, String, String, serde_json::Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, resp) in op["responses"].as_object().unwrap() {
                out.push((method.clone(), path.clone(), status.clone(), resp.clone()));
            }
        }
    }
    out
}

#[test]
fn errors_are_documented_as_problem_json_and_the_token_as_optional() {
    let doc = serde_json::to_value(benchmon::api::openapi()).unwrap();
    for (method, path, status, resp) in responses(&doc) {
        if status.as_str() >= "400" {
            let types: Vec<&String> = resp["content"].as_object().unwrap().keys().collect();
            assert_eq!(
                types,
                ["application/problem+json"],
                "{method} {path} {status}"
            );
        }
    }
    // No token is a valid way to call a server without tokens.
    assert_eq!(
        doc["security"],
        serde_json::json!([{}, {"bearer": []}]),
        "security must be optional"
    );
    let exporters = &doc["components"]["schemas"]["ClientRegistration"]["properties"]["exporters"];
    assert_eq!(exporters["minProperties"], 1, "{exporters}");
    let labels = &doc["components"]["schemas"]["CreateSession"]["properties"]["labels"];
    assert_eq!(labels["maxProperties"], 8, "{labels}");
}

#[tokio::test]
async fn statuses_the_server_answers_at_the_edge_are_documented() {
    use reqwest::Method;
    let doc = serde_json::to_value(benchmon::api::openapi()).unwrap();
    let documented = |method: &str, path: &str, status: u16| {
        doc["paths"][path][method]["responses"][status.to_string()].is_object()
    };
    let app = spawn_app(LauncherKind::Local).await;
    app.create_session("gone").await;
    app.delete("gone").await.success(204);
    let json = Some(serde_json::json!({}));
    for (method, path, template, body, status) in [
        (
            Method::GET,
            "/api/v1/sessions/bad%20id/config",
            "/api/v1/sessions/{id}/config",
            None,
            422,
        ),
        (
            Method::GET,
            "/api/v1/sessions/bad%20id/targets",
            "/api/v1/sessions/{id}/targets",
            None,
            422,
        ),
        (
            Method::GET,
            "/api/v1/sessions/bad%20id/windows",
            "/api/v1/sessions/{id}/windows",
            None,
            422,
        ),
        (
            Method::GET,
            "/api/v1/sessions/bad%20id/collections",
            "/api/v1/sessions/{id}/collections",
            None,
            422,
        ),
        (
            Method::DELETE,
            "/api/v1/sessions/gone/windows/w",
            "/api/v1/sessions/{id}/windows/{name}",
            None,
            409,
        ),
        (
            Method::POST,
            "/api/v1/sessions/gone/windows",
            "/api/v1/sessions/{id}/windows",
            Some(serde_json::json!({"name": "w"})),
            409,
        ),
        (
            Method::POST,
            "/api/v1/sessions/x/start",
            "/api/v1/sessions/{id}/start",
            json.clone(),
            404,
        ),
    ] {
        let (got, ctype, p) = app.send(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {p}");
        assert_eq!(ctype, "application/problem+json");
        let m = method.as_str().to_lowercase();
        assert!(
            documented(&m, template, status),
            "{method} {template} {status} is not documented"
        );
    }
    app.shutdown().await;
}
