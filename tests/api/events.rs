//! Events: kept with the session in time order, validated, and still there after a restart.
//! (Their `events.csv` in a bundle is checked in `push.rs`, next to a real collection.)

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};

async fn post_event(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let (status, _, out) = app
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{id}/events"),
            Some(body),
        )
        .await;
    (status, out)
}

#[tokio::test]
async fn events_are_kept_in_time_order_validated_and_survive_a_restart() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("events");
    app.create_session(&id).await;

    let (status, warmup) = post_event(&app, &id, json!({"kind": "phase", "name": "warmup"})).await;
    assert_eq!(status, 201, "{warmup}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let alert = json!({"kind": "alert", "name": "latency", "severity": "warning", "message": "p99 over 2 s"});
    let (status, alert) = post_event(&app, &id, alert).await;
    assert_eq!(status, 201, "{alert}");
    // Back-dated to the warmup's instant: listed before the alert.
    let progress = json!({"kind": "progress", "name": "steady", "progress": 40, "timestamp": warmup["timestamp"]});
    let (status, progress) = post_event(&app, &id, progress).await;
    assert_eq!(status, 201, "{progress}");
    assert_eq!(
        alert,
        json!({"timestamp": alert["timestamp"], "kind": "alert", "name": "latency", "message": "p99 over 2 s", "severity": "warning", "progress": null})
    );

    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let refused = [
        (
            json!({"kind": "progress", "name": "x", "progress": 140}),
            "progress",
        ),
        (
            json!({"kind": "note", "name": "x", "timestamp": in_an_hour}),
            "timestamp",
        ),
        (
            json!({"kind": "note", "name": "x", "timestamp": "2001-01-01T00:00:00Z"}),
            "timestamp",
        ),
        (json!({"kind": "bogus", "name": "x"}), "kind"),
        (
            json!({"kind": "note", "name": "x", "message": "m".repeat(1025)}),
            "message",
        ),
    ];
    for (body, field) in refused {
        let (status, problem) = post_event(&app, &id, body).await;
        assert_eq!(
            (status, &problem["field"]),
            (422, &json!(field)),
            "{problem}"
        );
    }
    let (status, _) = post_event(
        &app,
        "no-such-session",
        json!({"kind": "note", "name": "x"}),
    )
    .await;
    assert_eq!(status, 404);

    let path = format!("/api/v1/sessions/{id}/events");
    let (status, _, listed) = app.send(Method::GET, &path, None).await;
    assert_eq!(
        (status, listed.clone()),
        (200, json!([warmup, progress, alert]))
    );

    let dirs = app.shutdown().await;
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Slurm), dirs.clone()).await;
    let (status, _, again) = app.send(Method::GET, &path, None).await;
    assert_eq!((status, again), (200, listed));
    app.delete(&id).await.success(204);
    app.shutdown().await;
}
