//! Collection through a real session: real SLURM job, real node exporter, real bundle.

use crate::support::*;
use benchmon::client::{CollectRequest, CollectResult};
use benchmon::launcher::LauncherKind;
use benchmon::session::StartSession;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A running session scraping `exporter`, and a window `steady` of `secs` seconds once the
/// exporter's samples are arriving.
async fn steady_window_of_a_scraped_exporter(
    app: &TestApp,
    id: &str,
    exporter: &NodeExporter,
    secs: u64,
) {
    app.create_session(id).await;
    let client = json!({"client_id": "client-001", "node": "localhost", "exporters": {"node": exporter.address()}});
    app.register_client(id, &from_json(client))
        .await
        .success(201);
    let prom = app.start_and_wait(id).await;
    query_until_present(
        &prom,
        &format!(r#"node_load1{{session="{id}"}}"#),
        Duration::from_secs(40),
    )
    .await;
    app.add_window(id, &from_json(json!({"name": "steady"})))
        .await
        .success(201);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    app.close_window(id, "steady").await.success(200);
}

#[tokio::test]
async fn a_named_window_of_a_real_session_becomes_a_complete_bundle() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("collect");
    steady_window_of_a_scraped_exporter(&app, &id, &exporter, 8).await;

    // The seed's body shape, with a named window instead of timestamps.
    let body = json!({"window": "steady", "out_dir": "/app/logs/metrics", "run_id": "run-001"});
    let (status, _, out) = app
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{id}/collect"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let bundle = std::path::PathBuf::from(out["bundle_dir"].as_str().unwrap());
    assert_eq!(
        bundle,
        std::fs::canonicalize(&app.dirs.artifacts)
            .unwrap()
            .join("app/logs/metrics/run-001")
    );
    let artifacts: Vec<&str> = out["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        !artifacts.iter().any(|a| a.ends_with("/samples.json")),
        "samples.json only when the formats list json: {artifacts:?}"
    );
    for name in [
        "samples.csv",
        "series.csv",
        "summary.csv",
        "summary.json",
        "raw.parquet",
        "report.html",
        "MANIFEST.json",
    ] {
        assert!(
            artifacts.iter().any(|a| a.ends_with(&format!("/{name}"))),
            "{name} missing from {artifacts:?}"
        );
    }
    assert!(out["report"].as_str().unwrap().ends_with("report.html"));

    // Every file's size and sha256 in the manifest match the file.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], true);
    let files = manifest["files"].as_array().unwrap();
    assert!(files.len() >= 7);
    for f in files {
        let bytes = std::fs::read(bundle.join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(f["bytes"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            format!("{:x}", Sha256::digest(&bytes))
        );
    }
    assert_eq!(
        manifest["context"]["session"]["slurm_job_id"],
        out["manifest"]["context"]["session"]["slurm_job_id"]
    );
    assert!(manifest["context"]["session"]["slurm_job_id"].is_string());

    // The budget sized the raw samples from the scrapes' own statistics, without counting
    // every series: the estimate is what the raw export then wrote (stale markers of series
    // that vanished in the window are the only samples no scrape statistic counts).
    let budget = &manifest["budget"];
    assert_eq!(budget["raw_sizing"], "scrape_statistics", "{budget}");
    let (estimated, written) = (
        budget["estimated_raw_samples"].as_u64().unwrap(),
        out["raw_samples"].as_u64().unwrap(),
    );
    assert!(written > 1000, "{out}");
    assert!(
        estimated.abs_diff(written) * 100 <= written,
        "estimate {estimated} vs {written} raw samples written"
    );
    // Series: the most one scrape of each target had (a series that replaced another within
    // the window is not in it).
    let series = out["raw_series"].as_u64().unwrap();
    assert!(
        budget["estimated_raw_series"]
            .as_u64()
            .unwrap()
            .abs_diff(series)
            * 100
            <= series,
        "{budget} {out}"
    );

    // Node exporter profile queries returned data; coverage of the exporter is near complete.
    let cpu = out["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"].as_str().unwrap().contains("cpu"))
        .unwrap();
    assert_eq!(cpu["status"], "ok", "{cpu}");
    let targets = out["coverage"]["targets"].as_array().unwrap();
    let node = targets
        .iter()
        .find(|t| t["labels"]["exporter"] == "node")
        .unwrap();
    assert!(node["coverage"].as_f64().unwrap() > 0.6, "{node}");
    assert!(node["up"].as_u64().unwrap() >= 5, "{node}");
    let csv = std::fs::read_to_string(bundle.join("samples.csv")).unwrap();
    assert!(csv.starts_with("timestamp_ms,query,series,value\n"));

    // Collecting again never overwrites: a new directory.
    let (status, _, again) = app
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{id}/collect"),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{again}");
    assert!(again["bundle_dir"].as_str().unwrap().ends_with("run-001-2"));
    let list = app.collections(&id).await.success(200);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["manifest"]["complete"], true);
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn collect_requests_that_escape_or_make_no_sense_are_refused_and_write_nothing() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.collect.reroot_absolute = false;
    let app = spawn_app_with(settings, dirs).await;
    let id = unique_id("escape");
    let path = format!("/api/v1/sessions/{id}/collect");
    app.create_session(&id).await;
    // Collect before start.
    app.collect(&id, &from_json(json!({"last": "1m"})))
        .await
        .problem(409);
    app.start_and_wait(&id).await;

    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(&app.dirs.artifacts).unwrap();
    std::os::unix::fs::symlink(outside.path(), app.dirs.artifacts.join("link-out")).unwrap();
    for (body, status, field) in [
        (json!({"last": "1m", "out_dir": "../x"}), 422, "out_dir"),
        (
            json!({"last": "1m", "out_dir": "a/../../x"}),
            422,
            "out_dir",
        ),
        (
            json!({"last": "1m", "out_dir": "/etc/benchmon-test"}),
            403,
            "out_dir",
        ),
        (
            json!({"last": "1m", "out_dir": "link-out/x"}),
            403,
            "out_dir",
        ),
        (json!({}), 422, "window"),
        (json!({"last": "1m", "window": "steady"}), 422, "window"),
        (json!({"window": "nope"}), 422, "window"),
        (
            json!({"window_start": "2025-11-04T11:00:00Z", "window_end": "2025-11-04T10:00:00Z"}),
            422,
            "window_end",
        ),
        (
            json!({"window_start": "2025-11-04T10:00:00Z"}),
            422,
            "window_end",
        ),
        (json!({"last": "soon"}), 422, "last"),
        // The hardening pass's 419 MB bundle: a step far below the scrape interval.
        (
            json!({"last": "30s", "step": "1ms", "raw": false}),
            422,
            "step",
        ),
        (
            json!({"last": "1m", "queries": {"bad": "rate(up["}}),
            422,
            "queries.bad",
        ),
        (
            json!({"last": "1m", "queries": {"mem": {"promql": "up", "unit": "furlongs"}}}),
            422,
            "queries.mem.unit",
        ),
        (
            json!({"last": "1m", "queries": {"mem": {"unit": "bytes"}}}),
            422,
            // A field missing in a nested object is named itself.
            "queries.mem.promql",
        ),
        (
            json!({"last": "1m", "queries": {"bad": {"promql": "rate(up[", "unit": "bytes"}}}),
            422,
            "queries.bad",
        ),
        (json!({"last": "1m", "formats": ["xml"]}), 422, "formats[0]"),
        (
            json!({"last": "1m", "formats": ["csv", "csv", "json", "parquet"]}),
            422,
            "formats",
        ),
    ] {
        let (got, ctype, p) = app.send(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(
            (got, ctype.as_str()),
            (status, "application/problem+json"),
            "{body} → {p}"
        );
        assert_eq!(p["field"], field, "{body} → {p}");
    }
    assert!(!std::path::Path::new("/etc/benchmon-test").exists());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_window_collected_after_stop_is_the_same_as_while_running() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("afterstop");
    steady_window_of_a_scraped_exporter(&app, &id, &exporter, 6).await;
    let body =
        |run: &str| -> CollectRequest { from_json(json!({"window": "steady", "run_id": run})) };
    let live = app.collect(&id, &body("live")).await.success(201);
    assert_eq!(live.manifest["context"]["prometheus_source"], "job");

    let stopped = app.client.stop_session(&id).await.unwrap();
    assert_eq!(stopped.state, benchmon::session::SessionState::Stopped);
    // A bad request is refused before any Prometheus is started for it.
    let problem = app
        .collect(&id, &from_json(json!({"window": "nope"})))
        .await
        .problem(422);
    assert_eq!(problem.field.as_deref(), Some("window"));
    let offline_dir = app.dirs.state.join(format!("sessions/{id}/offline"));
    assert!(!offline_dir.exists());
    // Two at once: they take turns on the TSDB, both succeed.
    let (a, b) = (body("after-a"), body("after-b"));
    let (a, b) = tokio::join!(app.collect(&id, &a), app.collect(&id, &b));
    for after in [a, b] {
        let after = after.success(201);
        assert_eq!(after.manifest["context"]["prometheus_source"], "offline");
        assert!(after.samples > 0, "{after:?}");
        assert_eq!(after.samples, live.samples);
        assert_eq!(
            after.extra.get("raw_samples"),
            live.extra.get("raw_samples")
        );
        for file in ["samples.csv", "raw.parquet"] {
            let read = |out: &CollectResult| {
                std::fs::read(std::path::Path::new(&out.bundle_dir).join(file)).unwrap()
            };
            assert!(read(&after) == read(&live), "{file} differs after stop");
        }
    }
    // The offline Prometheus is gone once the collection answered: nothing holds the TSDB.
    let tsdb = app.dirs.state.join(format!("sessions/{id}/tsdb"));
    let holders = processes_mentioning(&tsdb.to_string_lossy());
    assert!(holders.is_empty(), "{holders:?}");
    app.client.delete_session(&id).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn an_ended_session_without_a_prometheus_binary_gets_a_clear_problem() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = unique_id("offline-errors");
    app.create_session(&id).await;
    let url = app.start_and_wait(&id).await;
    until_self_scraped(&url, &id).await;
    app.client.stop_session(&id).await.unwrap();
    let body: CollectRequest = from_json(json!({"last": "1m"}));

    // benchmon restarted with a Prometheus binary that does not exist on its host.
    let dirs = app.shutdown().await;
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.prometheus.binary = "/nonexistent/prometheus".into();
    let app = spawn_app_with(settings, dirs).await;
    let problem = app.collect(&id, &body).await.problem(500);
    assert_eq!(problem.kind, "/problems/offline-prometheus");
    assert!(
        problem
            .detail
            .contains("cannot start /nonexistent/prometheus"),
        "{problem:?}"
    );

    // And with the binary back, the data is all there.
    let dirs = app.shutdown().await;
    let app = spawn_app_with(test_settings(&dirs, LauncherKind::Local), dirs).await;
    let out = app.collect(&id, &body).await.success(201);
    assert!(out.extra["raw_samples"].as_u64().unwrap() > 0, "{out:?}");
    app.shutdown().await;
}

/// A job that takes its time to end (SLURM gives it KillWait seconds): its Prometheus may still
/// have the TSDB open, so a collection must not open it too. The "Prometheus" here ignores
/// SIGTERM and never listens, so the session fails at its startup timeout while the job lingers.
#[tokio::test]
async fn a_failed_session_whose_job_is_still_ending_is_asked_to_retry() {
    let dirs = Dirs::new();
    let slow = dirs.state.parent().unwrap().join("slow-to-end");
    std::fs::write(&slow, "#!/bin/bash\ntrap '' TERM\nsleep 20\n").unwrap();
    sh("chmod", &["+x", slow.to_str().unwrap()]);
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.prometheus.binary = slow.to_string_lossy().into_owned();
    settings.site.prometheus.startup_timeout = benchmon::domain::PromDuration::parse("2s").unwrap();
    let app = spawn_app_with(settings, dirs).await;
    let id = unique_id("ending");
    app.create_session(&id).await;
    app.start(&id, &StartSession::default()).await.success(202);
    let failed = app
        .client
        .wait_for(
            &id,
            benchmon::session::SessionState::Failed,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let problem = app
        .collect(&id, &from_json(json!({"last": "1m"})))
        .await
        .problem(503);
    assert_eq!(problem.kind, "/problems/job-ending");
    sh(
        "kill",
        &["-KILL", "--", &format!("-{}", failed.job_id.unwrap())],
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_collection_over_the_sites_budget_is_a_422_naming_estimate_limit_and_knob() {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, LauncherKind::Local);
    settings.site.collect.max_points = 1000;
    let app = spawn_app_with(settings, dirs).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("budget");
    steady_window_of_a_scraped_exporter(&app, &id, &exporter, 3).await;
    let problem = app
        .collect(
            &id,
            &from_json(json!({"window": "steady", "run_id": "big"})),
        )
        .await
        .problem(422);
    assert_eq!(problem.field.as_deref(), Some("window"));
    let detail = problem.detail.clone();
    assert!(detail.contains("collect.max_points = 1000"), "{detail}");
    assert!(detail.contains("points"), "{detail}");
    // Nothing was written for it: no bundle and no temp dir anywhere under the artifacts root.
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.push(e.path());
            if e.path().is_dir() {
                files(&e.path(), out);
            }
        }
    }
    let mut written = Vec::new();
    files(&app.dirs.artifacts, &mut written);
    assert!(
        written.iter().all(|p| p.is_dir()),
        "files written for a refused collection: {written:?}"
    );
    app.client.stop_session(&id).await.unwrap();
    app.shutdown().await;
}

/// A stand-in for a container runtime (`apptainer exec --bind DIR IMAGE prometheus …`): logs
/// its argv, drops its own words and runs the rest as a child, as a runtime that does not exec
/// would, passing a stop signal on.
const FAKE_RUNTIME: &str = r#"#!/bin/bash
echo "$*" >> "$(dirname "$0")/invocations.log"
[ "$1" = exec ] && [ "$2" = --bind ] || { echo "usage: exec --bind DIR IMAGE CMD..." >&2; exit 2; }
shift 4
"$@" &
child=$!
trap 'kill -TERM $child' TERM INT
wait $child; wait $child
"#;

#[tokio::test]
async fn every_prometheus_runs_through_the_site_command_template() {
    let dirs = Dirs::new();
    let runtime_dir = tempfile::tempdir().unwrap();
    let runtime = runtime_dir.path().join("fake-apptainer");
    std::fs::write(&runtime, FAKE_RUNTIME).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site.prometheus.command = [
        runtime.to_str().unwrap(),
        "exec",
        "--bind",
        dirs.state.to_str().unwrap(),
        "prom.sif",
        "prometheus",
    ]
    .map(str::to_owned)
    .to_vec();
    let app = spawn_app_with(settings, dirs).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("container");
    steady_window_of_a_scraped_exporter(&app, &id, &exporter, 3).await;
    let log = || std::fs::read_to_string(runtime_dir.path().join("invocations.log")).unwrap();
    let job = log();
    assert_eq!(job.lines().count(), 1, "{job}");
    assert!(
        job.starts_with(&format!(
            "exec --bind {} prom.sif prometheus --config.file=",
            app.dirs.state.display()
        )),
        "{job}"
    );
    app.client.stop_session(&id).await.unwrap();
    // After the job: the offline Prometheus for the collection goes through it too.
    let got = app
        .collect(&id, &from_json(json!({"window": "steady"})))
        .await
        .success(201);
    assert!(
        got.manifest["samples"].as_u64().unwrap() > 0,
        "{}",
        got.manifest
    );
    let both = log();
    assert_eq!(both.lines().count(), 2, "{both}");
    assert!(both
        .lines()
        .nth(1)
        .unwrap()
        .contains("--storage.tsdb.retention.time=100y"));
    app.shutdown().await;
}

#[tokio::test]
async fn the_tsdb_is_on_node_local_disk_while_running_and_copied_back_after_scancel() {
    let dirs = Dirs::new();
    let local = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dirs, LauncherKind::Slurm);
    settings.site.storage.local_dir = Some(local.path().to_str().unwrap().to_owned());
    // Polls 3 s apart: the collection below comes while the session still says `running`
    // though its job is gone, and must wait for the end to be recorded and read offline.
    settings.site.server.poll_interval = benchmon::domain::PromDuration::parse("3s").unwrap();
    let app = spawn_app_with(settings, dirs).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("nodelocal");
    steady_window_of_a_scraped_exporter(&app, &id, &exporter, 3).await;
    let s = app.client.session(&id).await.unwrap();
    let job = s.slurm_job_id.unwrap();
    // While the job runs, Prometheus writes its WAL on the node, not in the session directory.
    let on_node = local.path().join(format!("benchmon-{id}-{job}"));
    assert!(
        on_node.join("wal").is_dir(),
        "no WAL in {}",
        on_node.display()
    );
    let shared = app.dirs.state.join(format!("sessions/{id}/tsdb"));
    assert!(!shared.join("wal").exists());
    // scancel, not benchmon's stop: the job script still copies the TSDB back as it ends.
    sh("scancel", &[&job]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !sh("squeue", &["-h", "-j", &job]).trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "job {job} still queued"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(shared.join("wal").is_dir(), "the TSDB was not copied back");
    assert!(!on_node.exists(), "the node-local copy was left behind");
    // Right after the job is gone (the poller has likely not seen it yet), the collection
    // reads the copy (compared byte for byte with a live one in
    // `a_window_collected_after_stop_is_the_same_as_while_running`).
    let after = app
        .collect(
            &id,
            &from_json(json!({"window": "steady", "run_id": "after"})),
        )
        .await
        .success(201);
    assert_eq!(after.manifest["context"]["prometheus_source"], "offline");
    assert!(
        after.manifest["samples"].as_u64().unwrap() > 0,
        "{}",
        after.manifest
    );
    app.shutdown().await;
}
