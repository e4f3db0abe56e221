//! Named windows: open now, close now, add a finished one, and the errors around them.

use crate::support::*;
use benchmon::config::LauncherKind;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn windows_open_close_and_add_with_clear_errors() {
    let app = spawn_app(LauncherKind::Local).await;
    app.send(
        Method::POST,
        "/api/v1/sessions",
        Some(json!({"run_id": "w"})),
    )
    .await;
    let base = "/api/v1/sessions/w/windows";

    let (status, _, opened) = app
        .send(Method::POST, base, Some(json!({"name": "steady"})))
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(
        (opened["open"].as_bool(), opened["end"].is_null()),
        (Some(true), true)
    );
    let (status, _, p) = app
        .send(Method::POST, base, Some(json!({"name": "steady"})))
        .await;
    assert_eq!((status, p["field"].as_str()), (409, Some("name")));

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, _, closed) = app
        .send(Method::POST, &format!("{base}/steady/close"), None)
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["open"], false);
    let time =
        |v: &serde_json::Value| benchmon::domain::Timestamp::parse(v.as_str().unwrap()).unwrap();
    assert!(time(&closed["end"]) > time(&closed["start"]));
    let (status, _, _) = app
        .send(Method::POST, &format!("{base}/steady/close"), None)
        .await;
    assert_eq!(status, 409);

    // A finished phase given as unix seconds and RFC 3339.
    let (status, _, warm) = app
        .send(
            Method::POST,
            base,
            Some(json!({"name": "warmup", "start": 1762250400, "end": "2025-11-04T10:05:00Z"})),
        )
        .await;
    assert_eq!(status, 201, "{warm}");
    assert_eq!(warm["start"], "2025-11-04T10:00:00Z");
    let (status, _, p) = app
        .send(
            Method::POST,
            base,
            Some(json!({"name": "backwards", "start": 1762250400, "end": 1762250000})),
        )
        .await;
    assert_eq!((status, p["field"].as_str()), (422, Some("end")));
    let (status, _, p) = app
        .send(Method::POST, base, Some(json!({"name": "bad name"})))
        .await;
    assert_eq!((status, p["field"].as_str()), (422, Some("name")));
    let (status, _, p) = app
        .send(
            Method::POST,
            base,
            Some(json!({"name": "t", "start": "yesterday"})),
        )
        .await;
    assert_eq!((status, p["field"].as_str()), (422, Some("start")));

    let (_, _, list) = app.send(Method::GET, base, None).await;
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["steady", "warmup"]);
    let (status, _, _) = app
        .send(Method::DELETE, &format!("{base}/warmup"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, p) = app
        .send(Method::DELETE, &format!("{base}/warmup"), None)
        .await;
    assert_eq!((status, p["field"].as_str()), (404, Some("name")));
    app.shutdown().await;
}
