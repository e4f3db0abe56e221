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
