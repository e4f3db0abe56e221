//! The example scripts, run as users would run them, against a spawned server on the dev
//! cluster.

use crate::binary::*;
use crate::support::{free_port, spawn_app, unique_id};
use benchmon::launcher::LauncherKind;

#[tokio::test]
async fn the_seed_curl_flow_runs_against_a_spawned_server() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("seed-curl");
    let mut cmd = command(repo_file("examples/seed-flow.sh"), &app.url(""));
    cmd.env("RUN_ID", &id)
        .env("PROM_PORT", free_port().to_string())
        .env("NODE", "127.0.0.1")
        .env("VLLM_ENDPOINT", app.url("/metrics"))
        .env("OUT_DIR", "seed-metrics")
        .env("SETTLE", "3");
    let run = output(cmd).await.success();
    for step in [
        "== 1.",
        "== 2.",
        "== 3. Register a client",
        "== 4.",
        "== 5.",
    ] {
        assert!(run.stdout.contains(step), "{step}:\n{run}");
    }
    assert!(run.stdout.contains(r#""state":"stopped""#), "{run}");
    assert!(run.stdout.contains(r#""artifacts":"#), "{run}");
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state.as_str(), "stopped");
    app.shutdown().await;
}

#[tokio::test]
async fn the_seed_python_client_runs_against_a_spawned_server() {
    let has_requests = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_requests {
        let pip = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "requests"])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install requests failed");
    }
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("seed-py");
    let mut cmd = command("python3", &app.url(""));
    cmd.arg(repo_file("examples/seed_client.py"))
        .env("RUN_ID", &id)
        .env("PROM_PORT", free_port().to_string())
        .env("VLLM_ENDPOINT", app.url("/metrics"))
        .env("OUT_DIR", "seed-py");
    let run = output(cmd).await.success();
    assert!(
        run.stdout.contains("Prometheus at http://localhost:"),
        "{run}"
    );
    assert!(run.stdout.contains("Metrics saved to: ["), "{run}");
    // The last hour of a session seconds old cannot be ok: it prints why.
    assert!(
        run.stdout.contains("Quality: partial\n  - ")
            || run.stdout.contains("Quality: empty\n  - "),
        "{run}"
    );
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state.as_str(), "stopped");
    app.shutdown().await;
}

#[tokio::test]
async fn the_harness_runs_a_benchmark_window_and_prints_the_report() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("harness");
    let mut cmd = command(repo_file("examples/harness.sh"), &app.url(""));
    cmd.env("BENCHMON_BIN", BIN)
        .env("RUN_ID", &id)
        .env("LOAD_SECONDS", "5");
    let run = output(cmd).await.success();
    let report = run
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line:\n{run}"));
    assert!(std::path::Path::new(report).is_file(), "{report}:\n{run}");
    let windows = app.client.windows(&id.parse().unwrap()).await.unwrap();
    assert_eq!(windows.len(), 1);
    assert!(!windows[0].open);
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state.as_str(), "stopped");
    app.shutdown().await;
}

#[tokio::test]
async fn the_push_load_example_pushes_a_real_load_and_its_kpis_equal_the_pushed_data() {
    let app = spawn_app(LauncherKind::Slurm).await;
    let id = unique_id("push-load");
    let mut cmd = command("python3", &app.url(""));
    cmd.arg(repo_file("examples/push-load.py"))
        .env("RUN_ID", &id)
        .env("LOAD_SECONDS", "3");
    let run = output(cmd).await.success();
    eprintln!("{}", run.stdout);
    assert!(
        run.stdout
            .contains("the bundle's KPIs equal the pushed data"),
        "{run}"
    );
    // A real load: hundreds of requests at least, all answered.
    let requests: u64 = run
        .stdout
        .split("load: ")
        .nth(1)
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no load line:\n{run}"));
    assert!(requests > 100, "{run}");
    let report = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line:\n{run}"));
    let html = std::fs::read_to_string(report).unwrap();
    // Both phase events marked on every chart.
    let charts: Vec<&str> = html
        .split("<div class=\"chart\">\n<h3>")
        .skip(1)
        .filter_map(|c| c.split("</h3>").next())
        .collect();
    assert!(!charts.is_empty(), "no chart");
    assert_eq!(
        html.matches(r#"class="event-marker""#).count(),
        2 * charts.len(),
        "{charts:?}"
    );
    // The phase events made the window: exactly LOAD_SECONDS long, closed.
    let windows = app.client.windows(&id.parse().unwrap()).await.unwrap();
    assert_eq!(windows.len(), 1);
    let w = &windows[0];
    assert_eq!(w.end.unwrap().unix_millis() - w.start.unix_millis(), 3_000);
    let s = app.client.session(&id).await.unwrap();
    assert_eq!(s.state.as_str(), "stopped");
    app.shutdown().await;
}

#[test]
fn the_scripts_parse() {
    for script in [
        "slurm/benchmon-wrap.sh",
        "slurm/dev-cluster.sh",
        "examples/benchmark-job.sh",
        "examples/seed-flow.sh",
        "examples/harness.sh",
    ] {
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(repo_file(script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(repo_file("examples/seed_client.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(repo_file("examples/push-load.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
