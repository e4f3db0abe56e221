//! Every request bounded: label sets, endpoint URLs, body size and content type, each refused
//! with a problem naming the field (README, "Limits").

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Map, Value};

/// `n` labels `l0…` with values of `len` bytes.
fn labels(n: usize, len: usize) -> Value {
    let m: Map<String, Value> = (0..n)
        .map(|i| (format!("l{i}"), Value::from("v".repeat(len))))
        .collect();
    Value::Object(m)
}

async fn refused(app: &TestApp, path: &str, body: Value, field: &str) {
    let (status, ctype, p) = app.send(Method::POST, path, Some(body)).await;
    assert_eq!(status, 422, "{path}: {p}");
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(p["field"], field, "{path}: {p}");
}

#[tokio::test]
async fn labels_over_their_limits_get_422_naming_the_field_on_sessions_and_targets() {
    let app = spawn_app(LauncherKind::Local).await;
    let long_name = "a".repeat(1025);
    let cases = [
        (
            json!({"model": "x".repeat(1_000_000)}),
            "labels.model".to_owned(),
        ),
        (
            json!({"model": "x".repeat(2049)}),
            "labels.model".to_owned(),
        ),
        (json!({&long_name: "x"}), format!("labels.{long_name}")),
        (labels(9, 1), "labels".to_owned()),
        (labels(3, 1500), "labels".to_owned()),
    ];
    for (bad, field) in &cases {
        refused(
            &app,
            "/api/v1/sessions",
            json!({"run_id": "big", "labels": bad}),
            field,
        )
        .await;
    }
    assert!(app.client.list_sessions(None).await.unwrap().is_empty());

    // At the limits exactly: accepted.
    let ok = json!({"run_id": "big", "labels": labels(8, 500)});
    app.create(&from_json(ok)).await.success(201);
    app.create(&from_json(
        json!({"run_id": "lab", "labels": {"m": "x".repeat(2048)}}),
    ))
    .await
    .success(201);

    for (bad, field) in &cases {
        let client = json!({"client_id": "c1", "node": "n1",
            "exporters": {"node": "n1:9100"}, "labels": bad});
        refused(&app, "/api/v1/sessions/big/clients", client, field).await;
        let service = json!({"name": "s1", "endpoint": "http://n1:8000/metrics", "labels": bad});
        refused(&app, "/api/v1/sessions/big/services", service, field).await;
    }
    let targets = app.targets("big").await.success(200);
    assert!(targets.clients.is_empty() && targets.services.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn endpoints_are_refused_without_a_host_with_control_characters_or_user_info_and_stored_as_sent(
) {
    let app = spawn_app(LauncherKind::Local).await;
    app.create_session("urls").await;
    let path = "/api/v1/sessions/urls/services";
    for bad in [
        "http:///metrics",
        "http://:8000/metrics",
        "http://127.0.0.1:18499/m\netrics",
        "http://127.0.0.1:18499/m\tetrics",
        "http://127.0.0.1:18499/m\retrics",
        "http://user@127.0.0.1:18499/metrics",
        "http://user:pw@127.0.0.1:18499/metrics",
        "http://@127.0.0.1:18499/metrics",
        "http://127.0.0.1:18499\\metrics",
        "http://127.0.0.1:18499/me trics",
    ] {
        refused(
            &app,
            path,
            json!({"name": "s", "endpoint": bad}),
            "endpoint",
        )
        .await;
    }
    assert!(app.targets("urls").await.success(200).services.is_empty());

    // What is stored (and scraped) is exactly the URL sent.
    let sent = "http://127.0.0.1:18499/metrics?format=prometheus";
    let (status, _, body) = app
        .send(
            Method::POST,
            path,
            Some(json!({"name": "s", "endpoint": sent})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["endpoint"], sent);
    let listed = app.targets("urls").await.success(200);
    assert_eq!(listed.services[0].endpoint.to_string(), sent);
    assert_eq!(listed.targets[0].address, "127.0.0.1:18499");
    assert_eq!(listed.targets[0].labels["__param_format"], "prometheus");
    app.shutdown().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_naming_the_limit() {
    let app = spawn_app(LauncherKind::Local).await;
    let limit = benchmon::config::DEFAULT_MAX_BODY_BYTES;
    for size in [limit + 1, 3 * limit] {
        let body = format!(
            r#"{{"run_id":"huge","labels":{{"m":"{}"}}}}"#,
            "x".repeat(size)
        );
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/sessions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{size} bytes");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["field"], "body", "{p}");
        assert!(
            p["detail"].as_str().unwrap().contains(&limit.to_string()),
            "{p}"
        );
        assert!(p["detail"]
            .as_str()
            .unwrap()
            .contains("server.max_body_bytes"));
    }
    assert!(app.client.session("huge").await.is_err());
    app.shutdown().await;
}

#[tokio::test]
async fn only_application_json_bodies_are_accepted_parameters_allowed() {
    let app = spawn_app(LauncherKind::Local).await;
    let post = |ctype: &'static str, id: &'static str| {
        reqwest::Client::new()
            .post(app.url("/api/v1/sessions"))
            .header("content-type", ctype)
            .body(format!(r#"{{"run_id":"{id}"}}"#))
            .send()
    };
    for ctype in [
        "application/problem+json",
        "application/merge-patch+json",
        "application/jsonx",
        "text/json",
    ] {
        let r = post(ctype, "refused").await.unwrap();
        assert_eq!(r.status(), 415, "{ctype}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["field"], "Content-Type", "{ctype}");
    }
    assert!(app.client.session("refused").await.is_err());
    // A body is an object: serde would fill a struct from an array (found by schemathesis).
    app.create_session("arr").await;
    for body in ["[null, null]", "[]", "null", "5", "\"x\""] {
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/sessions/arr/start"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["field"], "body", "{body}");
    }
    assert_eq!(
        app.session("arr").await.success(200).state.as_str(),
        "created"
    );
    for (ctype, id) in [
        ("application/json; charset=utf-8", "charset"),
        ("Application/JSON", "upper"),
    ] {
        let r = post(ctype, id).await.unwrap();
        assert_eq!(r.status(), 201, "{ctype}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_collection_over_collect_max_concurrent_is_a_503_naming_the_knob() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.collect.max_concurrent = 1;
    let app = spawn_app_with(settings, dirs).await;
    let create = json!({"run_id": "busy", "scrape_interval": "10s"});
    app.create(&from_json(create)).await.success(201);
    app.start_and_wait("busy").await;
    // A window that ends now waits for the next scrape (up to 10 s) holding the only
    // permit; the second collection, sent meanwhile, is turned away at once.
    let body = from_json(json!({"last": "5s", "raw": false}));
    let (a, b) = tokio::join!(app.collect("busy", &body), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.collect("busy", &body).await
    });
    assert_ne!(a.status, 503, "{:?}", a.result.as_ref().err());
    let p = b.problem(503);
    assert_eq!(p.kind, "/problems/collections-busy");
    assert!(p.detail.contains("collect.max_concurrent"), "{p:?}");
    app.client.stop_session("busy").await.unwrap();
    app.shutdown().await;
}
