//! The web view in a real browser (headless Chromium over WebDriver) against a server with
//! tokens and a real SLURM session scraping a real node exporter: without a token only the
//! login shows; a read token shows the running session with its SLURM job, node, targets,
//! window and collection; the collection's report opens from the session page with its charts,
//! and a sibling file by its relative URL; the console stays clean. Screenshots are kept in
//! `$TMPDIR/benchmon-tests/web-view/`.

use crate::support::browser::{keep_dir, Browser};
use crate::support::*;
use benchmon::launcher::LauncherKind;
use benchmon::session::SessionState;
use serde_json::{json, Value};
use std::time::Duration;

const READ: &str = "read-token-web-0123456789";
const WRITE: &str = "write-token-web-0123456789";
const PAGE_WITHIN: Duration = Duration::from_secs(20);

/// A SLURM session scraping `exporter` as client `client-001`, with a closed window `steady`
/// and its collection `run-001`; returns the collection's verdict.
async fn running_session_with_a_collection(
    app: &TestApp,
    id: &str,
    exporter: &NodeExporter,
) -> String {
    app.create_session(id).await;
    let client = json!({"client_id": "client-001", "node": "localhost", "exporters": {"node": exporter.address()}});
    app.register_client(id, &from_json(client))
        .await
        .success(201);
    let start = json!({"partition": "cpu", "time_limit": "00:20:00"});
    app.start(id, &from_json(start)).await.success(202);
    let s = app
        .client
        .wait_for(id, SessionState::Running, Duration::from_secs(90))
        .await
        .unwrap();
    let prom = s.prometheus_url.unwrap();
    query_until_present(
        &prom,
        &format!(r#"node_load1{{session="{id}"}}"#),
        Duration::from_secs(40),
    )
    .await;
    app.add_window(id, &from_json(json!({"name": "steady"})))
        .await
        .success(201);
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.close_window(id, "steady").await.success(200);
    let body = json!({"window": "steady", "run_id": "run-001"});
    let out = app.collect(id, &from_json(body)).await.success(201);
    out.quality.unwrap()
}

fn keep(name: &str, png: &[u8]) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
    let path = keep_dir("web-view").join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// Console entries at level SEVERE (errors, failed loads, CSP violations).
fn errors(entries: &[Value]) -> Vec<&Value> {
    entries.iter().filter(|e| e["level"] == "SEVERE").collect()
}

#[tokio::test]
async fn the_web_view_follows_a_slurm_session_and_opens_its_report_with_a_read_token() {
    let app = spawn_app_with_tokens(LauncherKind::Slurm, READ, WRITE).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("webview");
    let verdict = running_session_with_a_collection(&app, &id, &exporter).await;
    let session = app.client.session(&id).await.unwrap();
    let job = session.slurm_job_id.clone().unwrap();
    let node = session.node.clone().unwrap();
    let mut console = Vec::new();

    let browser = Browser::start(1400, 1000).await;
    browser.goto(&app.url("/")).await;
    // No token: the login form and no data.
    browser
        .wait_for(
            "the login form",
            "const f = document.getElementById('login'); return f && !f.hidden",
            PAGE_WITHIN,
        )
        .await;
    let shown = browser
        .eval(
            "return document.getElementById('content').innerText",
            vec![],
        )
        .await;
    assert_eq!(shown, "", "nothing shown before the token");
    keep("login.png", &browser.screenshot().await);

    // The read token: the list shows the running session, its job, node, targets, window
    // and collection with its verdict.
    browser.type_into("#token", READ).await;
    browser.click("#login button[type=submit]").await;
    let row = format!("tr[data-session='{id}']");
    browser
        .wait_for(
            "the session's row with its target up",
            &format!(
                "const r = document.querySelector(\"{row}\"); \
                 return r && r.querySelector(\"li[data-target='client-001/node'] .badge.up\") !== null"
            ),
            Duration::from_secs(40),
        )
        .await;
    let facts = browser
        .eval(
            &format!(
                "const r = document.querySelector(\"{row}\"); return {{ \
                 state: r.dataset.state, job: r.querySelector('.job').innerText, \
                 node: r.querySelector('.node').innerText, left: r.querySelector('.left').innerText, \
                 window: r.querySelector(\"li[data-window='steady']\") !== null, \
                 verdict: r.querySelector(\"li[data-collection='run-001'] .badge\").innerText }}"
            ),
            vec![],
        )
        .await;
    assert_eq!(facts["state"], "running", "{facts}");
    assert_eq!(facts["job"], job.as_str(), "{facts}");
    assert_eq!(facts["node"], node.as_str(), "{facts}");
    assert_eq!(facts["window"], true, "{facts}");
    assert_eq!(facts["verdict"], verdict.as_str(), "{facts}");
    // 20 minutes minus the time it has run: "19 min …" or "18 min …".
    let left = facts["left"].as_str().unwrap();
    assert!(
        left.starts_with("19 min") || left.starts_with("18 min"),
        "{facts}"
    );
    // The token is in session storage, never in a URL.
    assert!(!browser.url().await.contains(READ));
    let links = browser
        .eval(
            "return [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))",
            vec![],
        )
        .await;
    assert_eq!(links, json!(["/", "/docs/", "/metrics"]));
    keep("sessions.png", &browser.screenshot().await);
    console.extend(browser.console().await);

    // The session page, by its link: the bundle's files, as links.
    browser.click(&format!("{row} td a")).await;
    let report_link = "section[data-collection='run-001'] a[data-file='report.html']";
    browser
        .wait_for(
            "the bundle's files",
            &format!("return document.querySelector(\"{report_link}\") !== null"),
            PAGE_WITHIN,
        )
        .await;
    assert_eq!(browser.url().await, app.url(&format!("/sessions/{id}")));
    let files = browser
        .eval(
            "return [...document.querySelectorAll('section[data-collection] a[data-file]')].map(a => a.dataset.file)",
            vec![],
        )
        .await;
    for f in [
        "MANIFEST.json",
        "raw.parquet",
        "samples.csv",
        "summary.json",
    ] {
        assert!(
            files.as_array().unwrap().contains(&json!(f)),
            "{f} in {files}"
        );
    }
    keep("session.png", &browser.screenshot().await);
    console.extend(browser.console().await);

    // The report opens (a new tab, by the link's click) with its verdict and charts.
    let page = browser.window_handle().await;
    browser.click(report_link).await;
    let report_url = app.url(&format!(
        "/api/v1/sessions/{id}/collections/run-001/files/report.html"
    ));
    let deadline = tokio::time::Instant::now() + PAGE_WITHIN;
    loop {
        let handles = browser.window_handles().await;
        if let Some(tab) = handles.iter().find(|h| **h != page) {
            browser.switch_to(tab).await;
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no tab opened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .wait_for(
            "the report's verdict banner",
            "return document.readyState === 'complete' && document.getElementById('verdict') !== null",
            PAGE_WITHIN,
        )
        .await;
    assert_eq!(browser.url().await, report_url);
    let report = browser
        .eval(
            "return { quality: document.getElementById('verdict').dataset.quality, \
             charts: document.querySelectorAll('svg').length }",
            vec![],
        )
        .await;
    assert_eq!(report["quality"], verdict.as_str(), "{report}");
    assert!(report["charts"].as_u64().unwrap() >= 1, "{report}");
    keep("report.png", &browser.screenshot().await);
    console.extend(browser.console().await);

    // A sibling by the URL relative to the report resolves to the same bundle and opens too.
    let sibling = browser
        .eval("return new URL('summary.json', location.href).href", vec![])
        .await;
    browser.goto(sibling.as_str().unwrap()).await;
    let text = browser
        .wait_for(
            "summary.json",
            "const p = document.querySelector('pre'); return p && p.innerText",
            PAGE_WITHIN,
        )
        .await;
    let summary: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(summary["quality"], verdict.as_str(), "{summary}");
    console.extend(browser.console().await);
    browser.switch_to(&page).await;
    console.extend(browser.console().await);
    browser.quit().await;

    for e in &console {
        eprintln!("console: {e}");
    }
    assert!(errors(&console).is_empty(), "console errors: {console:?}");
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
