//! Bearer-token auth and benchmon's own metrics.

use crate::support::*;
use benchmon::client::Client;
use benchmon::config::{Role, SiteConfig};
use benchmon::launcher::LauncherKind;
use benchmon::session::StartSession;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const READ: &str = "read-token-0123456789";
const WRITE: &str = "write-token-0123456789";

async fn app_with_tokens() -> TestApp {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    let toml = format!(
        "[[auth.tokens]]\nname = \"r\"\nrole = \"read\"\ntoken = \"{READ}\"\n[[auth.tokens]]\nname = \"w\"\nrole = \"write\"\ntoken = \"{WRITE}\"\n"
    );
    let site = SiteConfig::from_toml(&toml).unwrap();
    assert_eq!(site.auth.tokens[0].role, Role::Read);
    settings.site.auth = site.auth;
    spawn_app_with(settings, dirs).await
}

async fn status_with(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
) -> (u16, serde_json::Value) {
    let client = Client::new(&format!("http://{}", app.addr), token.map(String::from)).unwrap();
    let body = (method == Method::POST).then(|| json!({"run_id": "auth-x"}));
    let r = client.send_raw(method, path, body.as_ref()).await.unwrap();
    (r.status.as_u16(), r.body)
}

#[tokio::test]
async fn tokens_gate_reads_and_writes_while_health_stays_open() {
    let app = app_with_tokens().await;
    let list = "/api/v1/sessions";
    // No token: 401 with a problem and a challenge.
    let (status, p) = status_with(&app, None, Method::GET, list).await;
    assert_eq!((status, p["field"].as_str()), (401, Some("Authorization")));
    let raw = reqwest::get(app.url(list)).await.unwrap();
    assert_eq!(
        raw.headers()["www-authenticate"],
        "Bearer realm=\"benchmon\""
    );
    assert_eq!(status_with(&app, None, Method::POST, list).await.0, 401);
    assert_eq!(
        status_with(&app, Some("wrong-token-0123456789"), Method::GET, list)
            .await
            .0,
        401
    );
    // Read token: GET yes, POST 403.
    assert_eq!(
        status_with(&app, Some(READ), Method::GET, list).await.0,
        200
    );
    let (status, p) = status_with(&app, Some(READ), Method::POST, list).await;
    assert_eq!(status, 403, "{p}");
    assert_eq!(p["type"], "/problems/forbidden");
    // The scheme is case-insensitive.
    for scheme in ["bearer", "BEARER"] {
        let r = reqwest::Client::new()
            .get(app.url(list))
            .header("authorization", format!("{scheme} {READ}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    // Write token: both.
    assert_eq!(
        status_with(&app, Some(WRITE), Method::POST, list).await.0,
        201
    );
    assert_eq!(
        status_with(&app, Some(WRITE), Method::GET, list).await.0,
        200
    );
    // Open routes.
    for path in ["/health", "/ready", "/metrics", "/openapi.json"] {
        assert_eq!(
            reqwest::get(app.url(path)).await.unwrap().status(),
            200,
            "{path}"
        );
    }
    assert_eq!(reqwest::get(app.url("/docs/")).await.unwrap().status(), 200);
    // The spec declares the scheme, so Swagger UI's Authorize works.
    let spec = benchmon::api::openapi();
    let spec = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn self_metrics_pass_promtool_and_count_requests_by_route_template() {
    let app = spawn_app(LauncherKind::Local).await;
    app.session("does-not-exist").await.problem(404);
    app.create(&from_json(json!({"run_id": "m1"})))
        .await
        .success(201);
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(r#"route="/api/v1/sessions/{id}",status="404""#),
        "{text}"
    );
    assert!(!text.contains("does-not-exist"));
    assert!(
        text.contains(r#"benchmon_sessions{state="created"} 1"#),
        "{text}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_can_opt_in_to_scrape_benchmon_itself() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("selfscrape");
    app.create(&from_json(
        json!({"run_id": id, "scrape_interval": "1s", "scrape_benchmon": true}),
    ))
    .await
    .success(201);
    app.start(&id, &StartSession::default()).await.success(202);
    let s = app
        .client
        .wait_for(
            &id,
            benchmon::session::SessionState::Running,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let series = query_until_present(
        s.prometheus_url.as_deref().unwrap(),
        &format!(r#"benchmon_sessions{{job="benchmon",session="{id}",state="running"}}"#),
        Duration::from_secs(30),
    )
    .await;
    assert!(
        series[0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            >= 1.0
    );
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
