//! `slurm/benchmon-wrap.sh` in real `sbatch` jobs (via `examples/benchmark-job.sh`), and its
//! signal handling run directly.

use crate::binary::*;
use crate::support::{sh, spawn_app, squeue_state, unique_id, NodeExporter, TestApp};
use benchmon::domain::RunId;
use benchmon::launcher::LauncherKind;
use std::path::PathBuf;
use std::time::Duration;

/// A session to register with (it needs no Prometheus for that).
async fn session(app: &TestApp) -> RunId {
    let id = unique_id("wrap");
    cli(&app.url(""), &["session", "create", &id])
        .await
        .success();
    id.parse().unwrap()
}

/// Cancels the job when the test ends, passed or not (a no-op once the job is gone).
struct Cancel(String);

impl Drop for Cancel {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scancel").arg(&self.0).status();
    }
}

/// Submits `examples/benchmark-job.sh` with a time limit and returns its job id and output file.
async fn submit(
    app: &TestApp,
    session: &RunId,
    load_seconds: u32,
    time_limit: &str,
) -> (String, PathBuf) {
    submit_with(app, session, load_seconds, time_limit, None).await
}

/// [`submit`], registering the node exporter at `exporter_port` (default 9100).
async fn submit_with(
    app: &TestApp,
    session: &RunId,
    load_seconds: u32,
    time_limit: &str,
    exporter_port: Option<u16>,
) -> (String, PathBuf) {
    let out_dir = app.dirs.artifacts.parent().unwrap().to_path_buf();
    let mut cmd = command("sbatch", &app.url(""));
    cmd.args(["--parsable", &format!("--time={time_limit}")])
        .arg(format!("--output={}/job-%j.out", out_dir.display()))
        .arg(repo_file("examples/benchmark-job.sh"))
        .env("BENCHMON_SESSION", session.as_str())
        .env("BENCHMON_BIN", BIN)
        .env("BENCHMON_WRAP", repo_file("slurm/benchmon-wrap.sh"))
        .env("LOAD_SECONDS", load_seconds.to_string());
    if let Some(port) = exporter_port {
        cmd.env("NODE_EXPORTER_PORT", port.to_string());
    }
    let run = output(cmd).await.success();
    let job = run.stdout.trim().split(';').next().unwrap().to_owned();
    let out = out_dir.join(format!("job-{job}.out"));
    (job, out)
}

/// Command lines of the processes of SLURM job `job` (by `SLURM_JOB_ID` in their environment,
/// which every process of the job inherits, reparented or not).
fn processes_of_job(job: &str) -> Vec<String> {
    let needle = format!("SLURM_JOB_ID={job}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| {
            std::fs::read(p.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

/// Asserts that nothing of job `job` is left within a few seconds of SLURM having it gone.
async fn nothing_of_the_job_is_left(job: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_of_job(job);
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "processes of job {job} outlived it: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn job_output(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn client_ids(app: &TestApp, session: &RunId) -> Vec<String> {
    let list = app.client.targets(session).await.unwrap();
    list.clients
        .iter()
        .map(|c| c.client_id.to_string())
        .collect()
}

/// Waits until the job's client (`job-<id>-<node>`) is registered; returns its id.
async fn registered(app: &TestApp, session: &RunId, job: &str, out: &PathBuf) -> String {
    let prefix = format!("job-{job}-");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ids = client_ids(app, session).await;
        if let Some(id) = ids.iter().find(|c| c.starts_with(&prefix)) {
            let node = sh("squeue", &["-h", "-j", job, "-o", "%N"]);
            assert_eq!(id, &format!("{prefix}{}", node.trim()));
            return id.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job} did not register within 60s (squeue: {:?}); its output:\n{}",
            squeue_state(job),
            job_output(out)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_wrapped_job_is_registered_while_it_runs_and_deregistered_after() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = session(&app).await;
    let (job, out) = submit(&app, &id, 8, "00:10:00").await;
    let _cancel = Cancel(job.clone());

    let client = registered(&app, &id, &job, &out).await;
    assert_eq!(squeue_state(&job), "RUNNING");
    let list = app.client.targets(&id).await.unwrap();
    let c = &list.clients[0];
    assert_eq!(
        c.exporters.values().next().unwrap().as_str(),
        format!("{}:9100", c.node)
    );
    assert_eq!(
        c.labels.values().next().map(String::as_str),
        Some("cpu-load")
    );
    // The wrapper registers, then opens its window: under load the second step can still be
    // on its way when the registration is seen.
    eventually(
        "the job's window is open",
        Duration::from_secs(10),
        || async {
            let windows = app.client.windows(&id).await.unwrap();
            windows
                .iter()
                .any(|w| w.name.as_str() == format!("benchmark-{job}") && w.open)
                .then_some(())
        },
    )
    .await;

    eventually("the job ends", Duration::from_secs(60), || async {
        squeue_state(&job).is_empty().then_some(())
    })
    .await;
    eventually(
        "the client is deregistered",
        Duration::from_secs(10),
        || async { (!client_ids(&app, &id).await.contains(&client)).then_some(()) },
    )
    .await;
    let windows = app.client.windows(&id).await.unwrap();
    let w = windows
        .iter()
        .find(|w| w.name.as_str() == format!("benchmark-{job}"))
        .unwrap();
    assert!(!w.open && w.end.is_some(), "{w:?}");
    let log = job_output(&out);
    assert!(log.contains("command exited with status 0"), "{log}");
    app.shutdown().await;
}

/// The wrapper waits until Prometheus has scraped what it registered before it opens the
/// window, so the window's coverage starts with a scrape, not with a gap.
#[tokio::test]
async fn a_wrapped_jobs_window_opens_after_the_first_scrape_and_has_no_leading_gap() {
    let app = spawn_app(LauncherKind::Local).await;
    let exporter = NodeExporter::start().await;
    let id = unique_id("wrap-gap");
    app.create_session(&id).await; // scrapes every second
    app.start_and_wait(&id).await;
    let session: RunId = id.parse().unwrap();
    let (job, out) = submit_with(&app, &session, 6, "00:10:00", Some(exporter.port)).await;
    let _cancel = Cancel(job.clone());
    let client = registered(&app, &session, &job, &out).await;
    undone_when_the_job_ends(&app, &session, &job, &client, &out, 90).await;
    let log = job_output(&out);
    let window = format!("benchmark-{job}");
    let req = benchmon::client::CollectRequest {
        window: Some(window.parse().unwrap()),
        raw: Some(false),
        ..Default::default()
    };
    let result = app.client.collect(&session, &req).await.unwrap();
    let coverage: benchmon::export::CoverageReport =
        serde_json::from_value(result.extra["coverage"].clone()).unwrap();
    let target = coverage
        .targets
        .iter()
        .find(|t| t.labels.get("client_id") == Some(&client))
        .unwrap_or_else(|| panic!("no coverage of {client}: {coverage:?}"));
    let start: benchmon::domain::Timestamp =
        serde_json::from_value(result.extra["window_start"].clone()).unwrap();
    // A leading gap would start at the window's start (the window edge counts as a spacing).
    assert!(target.scrapes >= 4, "{target:?}");
    assert!(
        target
            .gaps
            .iter()
            .all(|g| g.start.unix_millis() != start.unix_millis()),
        "leading gap: {target:?}\n{log}"
    );
    assert!(
        log.contains(&format!(
            "the registered targets have been scraped once; opening window {window}"
        )),
        "{log}"
    );
    app.shutdown().await;
}

/// Waits (up to `secs`) until the job's client is deregistered, then checks its windows are
/// closed and waits for the job to leave the queue; returns the job's output.
async fn undone_when_the_job_ends(
    app: &TestApp,
    session: &RunId,
    job: &str,
    client: &str,
    out: &PathBuf,
    secs: u64,
) -> String {
    eventually(
        "the client is deregistered",
        Duration::from_secs(secs),
        || async { (!client_ids(app, session).await.iter().any(|c| c == client)).then_some(()) },
    )
    .await;
    let windows = app.client.windows(session).await.unwrap();
    assert!(windows.iter().all(|w| !w.open), "{windows:?}");
    eventually("the job is gone", Duration::from_secs(30), || async {
        squeue_state(job).is_empty().then_some(())
    })
    .await;
    job_output(out)
}

#[tokio::test]
async fn a_cancelled_job_closes_its_window_and_deregisters_its_client() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = session(&app).await;
    let (job, out) = submit(&app, &id, 600, "00:10:00").await;
    let _cancel = Cancel(job.clone());
    let client = registered(&app, &id, &job, &out).await;

    sh("scancel", &[&job]);
    let log = undone_when_the_job_ends(&app, &id, &job, &client, &out, 15).await;
    assert!(log.contains("caught SIGTERM"), "{log}");
    nothing_of_the_job_is_left(&job).await;
    app.shutdown().await;
}

/// The job script asks for `--signal=B:USR1@60`; with a one-minute limit SLURM sends it within
/// seconds of the start, to the wrapper (the batch shell, as the script `exec`s it).
#[tokio::test]
async fn slurms_usr1_ahead_of_the_time_limit_ends_the_benchmark_window_in_the_grace_period() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = session(&app).await;
    let (job, out) = submit(&app, &id, 600, "00:01:00").await;
    let _cancel = Cancel(job.clone());
    let client = registered(&app, &id, &job, &out).await;
    // The load ends on USR1.
    let log = undone_when_the_job_ends(&app, &id, &job, &client, &out, 90).await;
    assert!(log.contains("caught SIGUSR1"), "{log}");
    // It ended in its grace period, not killed at the limit.
    assert!(!log.contains("DUE TO TIME LIMIT"), "{log}");
    nothing_of_the_job_is_left(&job).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_wrapper_forwards_usr1_closes_the_window_and_exits_with_the_command_status() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = session(&app).await;
    let mut cmd = command(repo_file("slurm/benchmon-wrap.sh"), &app.url(""));
    cmd.env("BENCHMON_BIN", BIN)
        .args([
            "--session",
            id.as_str(),
            "--node",
            "n1",
            "--exporter",
            "node=9100",
        ])
        .args([
            "--service",
            &format!("self={}", app.url("/metrics")),
            "--window",
            "w1",
            "--",
        ])
        .args([
            "bash",
            "-c",
            "trap 'echo got-usr1; exit 7' USR1; echo started; sleep 60 & wait",
        ]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap().to_string();
    eventually("the command runs", Duration::from_secs(20), || async {
        let windows = app.client.windows(&id).await.unwrap();
        let services = app.client.targets(&id).await.unwrap().services;
        (!windows.is_empty() && !services.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sh("kill", &["-USR1", &pid]);
    let out = child.wait_with_output().await.unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 7, "{run}");
    // The command's stdout is its own; benchmon's messages go to stderr.
    assert_eq!(run.stdout, "started\ngot-usr1\n", "{run}");
    assert!(run.stderr.contains("caught SIGUSR1"), "{run}");
    let list = app.client.targets(&id).await.unwrap();
    assert!(list.clients.is_empty() && list.services.is_empty(), "{run}");
    assert!(!app.client.windows(&id).await.unwrap()[0].open, "{run}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_wrapper_runs_the_command_unmonitored_unless_strict_when_registration_fails() {
    let app = spawn_app(LauncherKind::Local).await;
    let wrap = repo_file("slurm/benchmon-wrap.sh");
    let args = [
        "--session",
        "nosuch",
        "--node",
        "n1",
        "--exporter",
        "node=9100",
    ];
    let mut cmd = command(&wrap, &app.url(""));
    cmd.env("BENCHMON_BIN", BIN)
        .args(args)
        .args(["--", "echo", "ran"]);
    let run = output(cmd).await.success();
    assert_eq!(run.stdout, "ran\n", "{run}");
    assert!(run.stderr.contains("registration failed"), "{run}");

    let mut cmd = command(&wrap, &app.url(""));
    cmd.env("BENCHMON_BIN", BIN)
        .args(args)
        .args(["--strict", "--", "echo", "ran"]);
    let run = output(cmd).await;
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{run}");

    let mut cmd = command(&wrap, &app.url(""));
    cmd.env("BENCHMON_BIN", BIN)
        .args(["--session", "s", "--bogus", "--", "true"]);
    assert_eq!(output(cmd).await.code, 2);
    app.shutdown().await;
}

/// Pids of the `sleep` processes running `sleeper` (the wrapper's and bash's command lines
/// hold the text too).
fn sleeps_of(sleeper: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| {
            std::fs::read(p.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == sleeper)
        })
        .map(|p| p.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Kills this test's sleeps when it ends, so a failing run leaves nothing behind either.
struct Reap(String);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in sleeps_of(&self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    }
}

/// Processes of the command that ignore TERM and USR1 (in its process group, where a
/// benchmark's helpers are) are ended anyway: TERM to the group, then KILL after `--grace`.
#[tokio::test]
async fn the_wrapper_ends_its_commands_whole_process_group_even_what_ignores_term() {
    let app = spawn_app(LauncherKind::Local).await;
    let id = session(&app).await;
    // A sleep length no other test uses, to find exactly this test's processes.
    let sleeper = format!("sleep 9{}.25", std::process::id());
    let sleeps = || sleeps_of(&sleeper);
    let _reap = Reap(sleeper.clone());
    for sig in ["TERM", "USR1"] {
        let mut cmd = command(repo_file("slurm/benchmon-wrap.sh"), &app.url(""));
        let script = format!("trap '' TERM USR1; {sleeper} & {sleeper} & echo started; wait");
        cmd.env("BENCHMON_BIN", BIN)
            .env("BENCHMON_WRAP_GRACE", "2")
            .args(["--session", id.as_str(), "--node", "n1"])
            .args(["--exporter", "node=9100", "--"])
            .args(["bash", "-c", &script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let pid = child.id().unwrap().to_string();
        eventually("the command runs", Duration::from_secs(20), || async {
            let running = sleeps().len() == 2;
            let registered = !client_ids(&app, &id).await.is_empty();
            (running && registered).then_some(())
        })
        .await;
        sh("kill", &[&format!("-{sig}"), &pid]);
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("SIG{sig}: the wrapper still waits for its command"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let left = sleeps();
        assert!(
            left.is_empty(),
            "SIG{sig}: {left:?} outlived the wrapper\n{stderr}"
        );
        assert!(stderr.contains("KILL"), "SIG{sig}: {stderr}");
        assert!(client_ids(&app, &id).await.is_empty(), "SIG{sig}: {stderr}");
    }
    app.shutdown().await;
}
