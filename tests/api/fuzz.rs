//! Schema fuzzing in CI: schemathesis (installed by `slurm/dev-cluster.sh up`) against the
//! running server's own `/openapi.json`, every check but one, bounded: a fixed seed, a few
//! examples per operation, one worker, and a hard time cap. The local launcher keeps it off
//! the cluster; every session it created is deleted at the end.
//!
//! Left out: `positive_data_acceptance`, which expects every schema-valid request to succeed.
//! The API has rules JSON Schema cannot state (exactly one window form, `end` after `start`,
//! the body's `session_id` equal to the path's, a preference naming an exporter the client
//! has), and a fuzzer's ids name sessions that do not exist; those answers are 404/409/422 by
//! design. The reverse check (`negative_data_rejection`: schema-violating requests must be
//! refused) stays on, so the schema is never looser than the server.

use crate::support::*;
use benchmon::launcher::LauncherKind;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The hard cap on the fuzz run; a bounded run takes well under a minute.
const TIME_CAP: Duration = Duration::from_secs(180);

#[tokio::test]
async fn schemathesis_finds_no_failures_and_no_server_errors_against_the_served_document() {
    // Long-polls bounded to 5 s, so no request of the fuzzer waits for an hour.
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.server.max_wait = benchmon::domain::PromDuration::from_secs(5);
    // A collection waits for a starting session's Prometheus up to this (180 s by default): a
    // fuzzed session that never gets ready must not hold a request past the read timeout.
    settings.site.prometheus.startup_timeout = benchmon::domain::PromDuration::from_secs(15);
    let app = spawn_app_with(settings, dirs).await;
    let started = Instant::now();
    let har = app
        .dirs
        .artifacts
        .parent()
        .unwrap()
        .join("schemathesis.har");
    let child = tokio::process::Command::new("st")
        // Its cache and reports go to the test's directory, not the repository.
        .current_dir(app.dirs.artifacts.parent().unwrap())
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--report", "har", "--report-har-path"])
        .arg(&har)
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "5", "--seed", "42", "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // A collection sent while a session starts waits for its Prometheus (by design, up to
        // the 15 s startup timeout set above), and the suite shares two cores: 60 s, not the
        // check's default 10 s, is what "too slow" means here.
        .args([
            "--max-response-time",
            "60",
            "--request-timeout",
            "90",
            "--no-color",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("schemathesis (`st`) is not installed: run slurm/dev-cluster.sh up");
    let out = tokio::time::timeout(TIME_CAP, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran past its {TIME_CAP:?} cap"))
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let tail: String = report
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("schemathesis took {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{}\n{tail}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No 5xx at all, whatever its checks think of them: every exchange it recorded. (Not the
    // server's request metrics: their registry is shared by every server in this process.)
    let exchanges: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let answers_5xx: Vec<String> = exchanges["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["response"]["status"].as_u64().is_some_and(|s| s >= 500))
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap_or("?");
            let body = e["response"]["content"]["text"].as_str().unwrap_or("");
            format!("{} {url} → {body}", e["request"]["method"])
        })
        .collect();
    assert!(
        answers_5xx.is_empty(),
        "5xx answers:\n{}",
        answers_5xx.join("\n")
    );
    let requests = exchanges["log"]["entries"].as_array().map_or(0, Vec::len);
    eprintln!("schemathesis: {requests} requests, no 5xx");

    // Clean up every session it created (a started one runs a local Prometheus).
    for s in app.client.list_sessions(None).await.unwrap() {
        let answer = app.delete(s.session_id.as_str()).await;
        assert_eq!(answer.status, 204, "{}", s.session_id);
    }
    assert!(app.client.list_sessions(None).await.unwrap().is_empty());
    app.shutdown().await;
}
