//! Retries: connection errors and 5xx are retried with backoff, a 4xx never is.

use crate::binary::*;
use crate::support::free_port;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use benchmon::launcher::LauncherKind;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_command_succeeds_when_the_server_comes_up_during_its_retries() {
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let mut cmd = command(BIN, &url);
    cmd.args(["session", "list", "--json", "--retries", "10"]);
    let started = Instant::now();
    let pending = tokio::spawn(output(cmd));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let server = Server::at(&addr, LauncherKind::Local).await;
    let run = pending.await.unwrap().success();
    assert_eq!(run.json(), serde_json::json!([]));
    assert!(
        run.stderr.contains("Connection refused") && run.stderr.contains("retry 1/10"),
        "{run}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_server_the_command_gives_up_after_its_retries_with_exit_code_1() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = cli(&url, &["session", "list", "--retries", "2"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("retry 2/2"), "{run}");
    assert!(
        run.stderr.contains("error: cannot reach benchmon at"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("hint: is the server running? Start it with `benchmon serve`"),
        "{run}"
    );
}

/// A problem+json answer with `status`.
fn problem_answer(status: StatusCode) -> impl IntoResponse {
    let problem = serde_json::json!({
        "type": "/problems/test", "title": "Test answer", "status": status.as_u16(),
        "detail": format!("always {status}"),
    });
    (
        status,
        [("content-type", "application/problem+json")],
        problem.to_string(),
    )
}

/// Serves `app` on a free port; returns its URL and the task to abort.
async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (
        url,
        tokio::spawn(async move { axum::serve(listener, app).await }),
    )
}

/// Counts requests per answer: `/api/v1/sessions/{status}` answers with that status.
async fn fixed_status(
    State(count): State<Arc<[AtomicU32; 2]>>,
    Path(id): Path<String>,
) -> impl IntoResponse {
    let status = if id == "bad" {
        count[0].fetch_add(1, Ordering::SeqCst);
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        count[1].fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE
    };
    problem_answer(status)
}

#[tokio::test]
async fn a_4xx_is_never_retried_and_a_5xx_is_retried_until_the_attempts_run_out() {
    let count: Arc<[AtomicU32; 2]> = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let app = axum::Router::new()
        .route("/api/v1/sessions/{id}", get(fixed_status))
        .with_state(count.clone());
    let (url, server) = serve(app).await;

    let run = cli(&url, &["session", "status", "bad", "--retries", "3"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("Test answer (422)"), "{run}");
    assert_eq!(
        count[0].load(Ordering::SeqCst),
        1,
        "a 422 was retried:\n{run}"
    );

    let run = cli(&url, &["session", "status", "busy", "--retries", "3"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("Test answer (503)"), "{run}");
    assert!(
        run.stderr
            .contains("answered 503 Service Unavailable; retry 3/3"),
        "{run}"
    );
    assert_eq!(
        count[1].load(Ordering::SeqCst),
        4,
        "1 attempt + 3 retries:\n{run}"
    );
    server.abort();
}

/// `POST /api/v1/sessions` answers with the status named by the run_id (`s500`, `s503`) and
/// counts the attempts per status.
async fn post_status(
    State(count): State<Arc<[AtomicU32; 2]>>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> impl IntoResponse {
    let (status, slot) = match body["run_id"].as_str() {
        Some("s500") => (StatusCode::INTERNAL_SERVER_ERROR, 0),
        _ => (StatusCode::SERVICE_UNAVAILABLE, 1),
    };
    count[slot].fetch_add(1, Ordering::SeqCst);
    problem_answer(status)
}

#[tokio::test]
async fn a_post_is_repeated_on_503_only_since_a_500_may_have_had_its_effect() {
    let count: Arc<[AtomicU32; 2]> = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let app = axum::Router::new()
        .route("/api/v1/sessions", axum::routing::post(post_status))
        .with_state(count.clone());
    let (url, server) = serve(app).await;

    let run = cli(&url, &["session", "create", "s500", "--retries", "3"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("Test answer (500)"), "{run}");
    assert_eq!(
        count[0].load(Ordering::SeqCst),
        1,
        "a POST 500 was retried:\n{run}"
    );

    let run = cli(&url, &["session", "create", "s503", "--retries", "3"]).await;
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        count[1].load(Ordering::SeqCst),
        4,
        "1 attempt + 3 retries:\n{run}"
    );
    server.abort();
}
