//! Named windows: open now, close now, add a finished one, and the errors around them.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::NewWindow;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn windows_open_close_and_add_with_clear_errors() {
    let app = spawn_app(LauncherKind::Local).await;
    app.create(&from_json(json!({"run_id": "w"})))
        .await
        .success(201);
    let base = "/api/v1/sessions/w/windows";

    let steady: NewWindow = from_json(json!({"name": "steady"}));
    let opened = app.add_window("w", &steady).await.success(201);
    assert_eq!((opened.open, opened.end.is_none()), (true, true));
    let p = app.add_window("w", &steady).await.problem(409);
    assert_eq!(p.field.as_deref(), Some("name"));

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // No body at all (an empty body reads as `{}`): the typed client always sends one.
    let (status, _, closed) = app
        .send(Method::POST, &format!("{base}/steady/close"), None)
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["open"], false);
    let time =
        |v: &serde_json::Value| benchmon::domain::Timestamp::parse(v.as_str().unwrap()).unwrap();
    assert!(time(&closed["end"]) > time(&closed["start"]));
    app.close_window("w", "steady").await.problem(409);

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

    let list = app.windows("w").await.success(200);
    let names: Vec<&str> = list.iter().map(|w| w.name.as_ref()).collect();
    assert_eq!(names, ["steady", "warmup"]);
    app.delete_window("w", "warmup").await.success(204);
    let p = app.delete_window("w", "warmup").await.problem(404);
    assert_eq!(p.field.as_deref(), Some("name"));
    app.shutdown().await;
}
