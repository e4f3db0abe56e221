//! `benchmon collections` and `benchmon config` against a real SLURM session, and a
//! collection's progress: the server's samples and bytes reach the client, the bar shows them
//! on a terminal, and script output (no terminal, `--quiet`) is unchanged.

use crate::binary::*;
use crate::support::{spawn_app, unique_id, NodeExporter};
use benchmon::collect::progress::CollectProgress;
use benchmon::domain::RunId;
use benchmon::launcher::LauncherKind;
use std::path::Path;
use std::time::Duration;

/// A running SLURM session scraping a node exporter every second, with a closed window
/// `steady` of a few seconds.
async fn session_with_a_window(url: &str, exporter: &NodeExporter) -> String {
    let id = unique_id("cli-inspect");
    cli(url, &["session", "create", &id, "--scrape-interval", "1s"])
        .await
        .success();
    let exporter_arg = format!("node={}", exporter.address());
    let args = [
        "register",
        "client",
        &id,
        "--client-id",
        "c1",
        "--node",
        "localhost",
    ];
    let mut args = args.to_vec();
    args.extend(["--exporter", &exporter_arg]);
    cli(url, &args).await.success();
    cli(url, &["session", "start", &id, "--wait"])
        .await
        .success();
    cli(url, &["targets", &id, "--wait-scraped"])
        .await
        .success();
    cli(url, &["window", "open", &id, "steady"]).await.success();
    tokio::time::sleep(Duration::from_secs(4)).await;
    cli(url, &["window", "close", &id, "steady"])
        .await
        .success();
    id
}

/// Bytes of the files in a bundle directory and its subdirectories.
fn bundle_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| match e.metadata().unwrap().is_dir() {
            true => bundle_bytes(&e.path()),
            false => e.metadata().unwrap().len(),
        })
        .sum()
}

#[tokio::test]
async fn collections_lists_each_bundle_with_window_verdict_and_path_and_config_prints_what_prometheus_was_told(
) {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let exporter = NodeExporter::start().await;
    let id = session_with_a_window(&url, &exporter).await;

    let none = cli(&url, &["collections", &id]).await.success();
    assert_eq!(
        none.stdout.trim(),
        format!("session {id} has no collections")
    );
    let args = [
        "collect", &id, "--window", "steady", "--run-id", "steady-1", "--json",
    ];
    let first = cli(&url, &args).await.success().json();
    let args = [
        "collect",
        &id,
        "--last",
        "30s",
        "--run-id",
        "last-1",
        "--allow-partial",
    ];
    let args = [args.as_slice(), &["--json"]].concat();
    let second = cli(&url, &args).await.success().json();

    let listed = cli(&url, &["collections", &id]).await.success();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "COLLECTION",
            "WINDOW",
            "QUALITY",
            "SAMPLES",
            "CREATED",
            "PATH"
        ]
    );
    for (line, bundle, window) in [(lines[1], &first, "steady"), (lines[2], &second, "")] {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let dir = bundle["bundle_dir"].as_str().unwrap();
        let name = Path::new(dir).file_name().unwrap().to_str().unwrap();
        assert_eq!(cells[0], name, "{listed}");
        match window {
            "" => assert_eq!(cells[2], "to", "an unnamed window shows its ends: {listed}"),
            w => assert_eq!(cells[1], w, "{listed}"),
        }
        assert!(
            line.contains(bundle["quality"].as_str().unwrap()),
            "{listed}"
        );
        assert!(line.contains(&bundle["samples"].to_string()), "{listed}");
        assert_eq!(*cells.last().unwrap(), dir, "{listed}");
    }
    // --json is the server's list as it is.
    let json = cli(&url, &["collections", "--session", &id, "--json"])
        .await
        .success()
        .json();
    let server = app.collections(&id).await.success(200);
    assert_eq!(json, serde_json::Value::Array(server));

    // config: prometheus.yml verbatim by default, the other parts on request.
    let view = app.config(&id).await.success(200);
    let yml = cli(&url, &["config", &id]).await.success();
    assert_eq!(Some(yml.stdout.as_str()), view.prometheus_yml.as_deref());
    assert!(yml.stdout.contains("scrape_configs"), "{yml}");
    let mut cmd = command(BIN, &url);
    cmd.args(["config", "--part", "job-script"])
        .env("BENCHMON_SESSION", &id);
    let script = output(cmd).await.success();
    assert_eq!(Some(script.stdout.as_str()), view.job_script.as_deref());
    assert!(script.stdout.contains("#SBATCH"), "{script}");
    let no_rules = cli(&url, &["config", &id, "--part", "rules"]).await;
    assert_eq!(no_rules.code, 2, "{no_rules}");
    let all = cli(&url, &["config", &id, "--json"]).await.success().json();
    assert_eq!(all["prometheus_yml"], view.prometheus_yml.unwrap().as_str());
    assert_eq!(all["scrapers"], serde_json::json!([]));
    let missing = cli(&url, &["config", "no-such-session"]).await;
    assert_eq!(missing.code, 1, "{missing}");

    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_collections_progress_reaches_the_client_and_the_bar_shows_only_on_a_terminal() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let url = app.url("");
    let exporter = NodeExporter::start().await;
    let id = session_with_a_window(&url, &exporter).await;
    let session = RunId::parse(&id).unwrap();

    // The client library: progress lines, then the result; the last line's counts are the
    // collection's own (samples written, bytes of the published bundle).
    let req = benchmon::client::CollectRequest {
        window: Some(benchmon::domain::WindowName::parse("steady").unwrap()),
        run_id: Some(RunId::parse("with-progress").unwrap()),
        ..Default::default()
    };
    let mut seen: Vec<CollectProgress> = Vec::new();
    let done = app
        .client
        .collect_with_progress(&session, &req, |p| seen.push(p.clone()))
        .await
        .unwrap();
    assert!(done.samples > 0, "{done:?}");
    let last = seen.last().expect("progress lines");
    assert_eq!(last.samples, done.samples, "{seen:?}");
    assert_eq!(
        last.bytes,
        bundle_bytes(Path::new(&done.bundle_dir)),
        "{seen:?}"
    );
    assert!(
        last.chunks > 0 && last.chunks_done == last.chunks,
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].samples <= w[1].samples),
        "{seen:?}"
    );
    // A refusal before the engine starts is the plain problem, not a stream.
    let ghost = RunId::parse("no-such-session").unwrap();
    let err = app
        .client
        .collect_with_progress(&ghost, &req, |_| panic!("no progress for a 404"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");

    // No terminal: the one line scripts always got on stderr, nothing drawn; --quiet: nothing.
    let args = ["collect", &id, "--window", "steady", "--run-id", "plain"];
    let plain = cli(&url, &args).await.success();
    assert_eq!(
        plain.stderr,
        format!("collecting window steady of session {id}\n"),
        "{plain}"
    );
    assert!(plain.stdout.contains("quality:"), "{plain}");
    let args = [
        "collect", &id, "--window", "steady", "--run-id", "quiet", "-q",
    ];
    let quiet = cli(&url, &args).await.success();
    assert_eq!(quiet.stderr, "", "{quiet}");

    // A terminal (script(1) gives the command a pty): the bar draws the server's counts.
    let line =
        format!("{BIN} collect {id} --window steady --run-id on-a-tty --server {url} --retries 0");
    let mut cmd = command("script", &url);
    cmd.args(["-qec", &line, "/dev/null"]);
    let tty = output(cmd).await.success();
    assert!(tty.stdout.contains(" samples, "), "{tty}");
    assert!(tty.stdout.contains("chunks"), "{tty}");
    let mut cmd = command("script", &url);
    cmd.args(["-qec", &format!("{line} -q"), "/dev/null"]);
    let tty_quiet = output(cmd).await.success();
    assert!(!tty_quiet.stdout.contains(" samples, "), "{tty_quiet}");

    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}
