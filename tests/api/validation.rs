//! Bad input: 422 problem+json naming the field, before anything runs.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use reqwest::Method;
use serde_json::{json, Value};

async fn expect_problem(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    field: &str,
) {
    let (got, ctype, problem) = app.send(method, path, body.clone()).await;
    assert_eq!(got, status, "{path} {body:?} → {problem}");
    assert_eq!(ctype, "application/problem+json", "{path} {body:?}");
    assert_eq!(problem["field"], field, "{path} {body:?} → {problem}");
    assert_eq!(problem["status"], status);
    assert!(problem["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(!problem["title"].as_str().unwrap().is_empty());
    assert!(!problem["detail"].as_str().unwrap().is_empty());
    assert_eq!(problem["instance"], path.split('?').next().unwrap());
}

/// A create body with a remote store carrying `extra` (credentials).
fn remote_with(extra: Value) -> Value {
    let mut store = json!({"remote_write_url": "http://vm:8428/api/v1/write",
        "query_url": "http://vm:8428"});
    for (k, v) in extra.as_object().unwrap() {
        store[k] = v.clone();
    }
    json!({"run_id": "ok", "store": store})
}

#[tokio::test]
async fn invalid_session_fields_get_422_naming_the_field() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let create = "/api/v1/sessions";
    for (body, field) in [
        (json!({"run_id": "../x"}), "run_id"),
        (json!({"run_id": "has space"}), "run_id"),
        (json!({"run_id": "x".repeat(65)}), "run_id"),
        (json!({"run_id": ""}), "run_id"),
        (json!({}), "run_id"),
        (json!({"run_id": 5}), "run_id"),
        (
            json!({"run_id": "ok", "prometheus_port": 70000}),
            "prometheus_port",
        ),
        (
            json!({"run_id": "ok", "prometheus_port": 0}),
            "prometheus_port",
        ),
        (
            json!({"run_id": "ok", "prometheus_port": -1}),
            "prometheus_port",
        ),
        (json!({"run_id": "ok", "prom_host": "a b"}), "prom_host"),
        (
            json!({"run_id": "ok", "scrape_interval": "fast"}),
            "scrape_interval",
        ),
        (
            json!({"run_id": "ok", "labels": {"bad-name": "x"}}),
            "labels.bad-name",
        ),
        (
            json!({"run_id": "ok", "labels": {"__name__": "x"}}),
            "labels.__name__",
        ),
        (
            json!({"run_id": "ok", "labels": {"session": "x"}}),
            "labels.session",
        ),
        (json!({"run_id": "ok", "surprise": 1}), "surprise"),
        (json!({"run_id": "ok", "store": "thanos"}), "store"),
        (
            json!({"run_id": "ok", "store": {"remote_write_url": "http://vm:8428/api/v1/write",
                "query_url": "ftp://vm"}}),
            "store.query_url",
        ),
        (
            json!({"run_id": "ok", "store": {"remote_write_url": "http://u:pw@vm/api/v1/write",
                "query_url": "http://vm:8428"}}),
            "store.remote_write_url",
        ),
        (
            json!({"run_id": "ok", "store": {"query_url": "http://vm:8428"}}),
            "store.remote_write_url",
        ),
        (
            json!({"run_id": "ok", "store": "victoriametrics", "scrapers": 0}),
            "scrapers",
        ),
        (
            json!({"run_id": "ok", "store": "victoriametrics", "scrapers": 65}),
            "scrapers",
        ),
        (json!({"run_id": "ok", "scrapers": 3}), "scrapers"),
        (
            remote_with(json!({"headers": {"Authorization": "Bearer x"}})),
            "store.headers",
        ),
        (
            remote_with(json!({"headers": {"X Tenant": "a"}})),
            "store.headers",
        ),
        (
            remote_with(json!({"headers": {"X-Scope-OrgID": "a\nb"}})),
            "store.headers.X-Scope-OrgID",
        ),
        (
            remote_with(json!({"basic_auth": {"username": "a:b", "password": "p"}})),
            "store.basic_auth.username",
        ),
        (
            remote_with(json!({"basic_auth": {"username": "a"}})),
            "store.basic_auth.password",
        ),
        (
            remote_with(json!({"basic_auth": {"username": "a", "password": "<redacted>"}})),
            "store.basic_auth.password",
        ),
        (
            remote_with(json!({"bearer_token_file": "token.txt"})),
            "store.bearer_token_file",
        ),
        (
            remote_with(json!({"bearer_token_file": "/nonexistent/benchmon-token"})),
            "store.bearer_token_file",
        ),
        (
            remote_with(json!({"bearer_token_file": "/etc/hostname",
                "basic_auth": {"username": "a", "password": "p"}})),
            "store.bearer_token_file",
        ),
    ] {
        expect_problem(&app, Method::POST, create, Some(body), 422, field).await;
    }
    // Nothing was created by any of them.
    assert!(app.client.list_sessions(None).await.unwrap().is_empty());

    app.create(&from_json(json!({"run_id": "ok"})))
        .await
        .success(201);
    let start = "/api/v1/sessions/ok/start";
    for (body, field) in [
        (json!({"time_limit": "abc"}), "time_limit"),
        (json!({"time_limit": "1:2:3:4"}), "time_limit"),
        (json!({"partition": "cpu gpu"}), "partition"),
        (json!({"partition": "cpu\n#SBATCH --uid=0"}), "partition"),
        (json!({"partition": "$(reboot)"}), "partition"),
        (json!({"partition": "cpu;ls"}), "partition"),
        (json!({"account": "a b"}), "account"),
        (json!({"qos": "normal\n"}), "qos"),
        (json!({"qos": "`id`"}), "qos"),
        (json!({"constraint": "a b"}), "constraint"),
        (json!({"nodelist": "n1;n2"}), "nodelist"),
    ] {
        expect_problem(&app, Method::POST, start, Some(body), 422, field).await;
    }
    let s = app.client.session("ok").await.unwrap();
    assert_eq!(s.state, benchmon::session::SessionState::Created);
    assert!(!app
        .dirs
        .state
        .join("sessions/ok/prometheus-job.sh")
        .exists());
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_and_unknown_things_are_problems_too() {
    let app = spawn_app(LauncherKind::Slurm).await;
    // Not JSON at all.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/sessions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["field"], "body");

    // A cross-site "simple" request (text/plain, form data) is refused before parsing.
    for ctype in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/sessions"))
            .header("content-type", ctype)
            .body(r#"{"run_id":"csrf"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{ctype}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["field"], "Content-Type");
    }
    assert!(app.client.session("csrf").await.is_err());

    expect_problem(
        &app,
        Method::GET,
        "/api/v1/sessions/nope",
        None,
        404,
        "session_id",
    )
    .await;
    expect_problem(
        &app,
        Method::GET,
        "/api/v1/sessions/bad%20id",
        None,
        422,
        "session_id",
    )
    .await;
    expect_problem(
        &app,
        Method::GET,
        "/api/v1/sessions?state=sleeping",
        None,
        422,
        "state",
    )
    .await;
    app.create(&from_json(json!({"run_id": "dup"})))
        .await
        .success(201);
    expect_problem(
        &app,
        Method::POST,
        "/api/v1/sessions",
        Some(json!({"run_id": "dup"})),
        409,
        "run_id",
    )
    .await;
    expect_problem(
        &app,
        Method::GET,
        "/api/v1/sessions/dup?wait=running&timeout=1s",
        None,
        408,
        "timeout",
    )
    .await;
    expect_problem(
        &app,
        Method::GET,
        "/api/v1/sessions/dup?wait=asleep",
        None,
        422,
        "wait",
    )
    .await;
    expect_problem(
        &app,
        Method::GET,
        "/api/v1/sessions/dup?wait=running&timeout=soon",
        None,
        422,
        "timeout",
    )
    .await;

    let (status, ctype, p) = app.send(Method::PUT, "/api/v1/sessions", None).await;
    assert_eq!(
        (status, ctype.as_str()),
        (405, "application/problem+json"),
        "{p}"
    );
    let (status, ctype, _) = app.send(Method::GET, "/no/such/route", None).await;
    assert_eq!((status, ctype.as_str()), (404, "application/problem+json"));
    app.shutdown().await;
}
