//! `spawn_app()`: a fresh server with its own state and artifact dirs, on port 0; and the
//! other helpers the test binaries share. Every binary mounts it as `support`
//! (`#[path = "../support/mod.rs"] mod support;`); a binary's own helpers have other names
//! (`tests/cli/binary.rs`, `tests/collect/fixtures.rs`).
// Each binary uses a part of this module.
#![allow(dead_code)]

use benchmon::client::Client;
use benchmon::config::{LauncherKind, Settings, SiteConfig};
use benchmon::domain::PromDuration;
use benchmon::session::Session;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Directories that outlive one server instance (for restart tests).
pub struct Dirs {
    _root: tempfile::TempDir,
    pub state: PathBuf,
    pub artifacts: PathBuf,
}

impl Dirs {
    pub fn new() -> Arc<Dirs> {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        let artifacts = root.path().join("artifacts");
        Arc::new(Dirs {
            _root: root,
            state,
            artifacts,
        })
    }
}

impl Drop for Dirs {
    /// Best effort: no SLURM job of a finished test outlives it, even when the test failed.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.state.join("sessions")) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(bytes) = std::fs::read(e.path().join("session.json")) else {
                continue;
            };
            let Ok(s) = serde_json::from_slice::<Session>(&bytes) else {
                continue;
            };
            if let (Some(job), true) = (s.slurm_job_id, s.state.has_job()) {
                let _ = std::process::Command::new("scancel").arg(job).status();
            } else if let (Some(pid), true) = (s.job_id, s.state.has_job()) {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", "--", &format!("-{pid}")])
                    .status();
            }
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub dirs: Arc<Dirs>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

pub fn test_settings(dirs: &Dirs, launcher: LauncherKind) -> Settings {
    let mut site = SiteConfig::default();
    site.server.poll_interval = PromDuration::parse("250ms").unwrap();
    site.prometheus.sd_refresh_interval = PromDuration::parse("1s").unwrap();
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise_url: None,
        state_dir: dirs.state.clone(),
        artifacts_dir: dirs.artifacts.clone(),
        launcher,
        site,
    }
}

pub async fn spawn_app(launcher: LauncherKind) -> TestApp {
    let dirs = Dirs::new();
    spawn_app_with(test_settings(&dirs, launcher), dirs).await
}

/// A server on existing dirs (a "restart"), with the given settings.
pub async fn spawn_app_with(settings: Settings, dirs: Arc<Dirs>) -> TestApp {
    let mut settings = settings;
    settings.state_dir = dirs.state.clone();
    settings.artifacts_dir = dirs.artifacts.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    settings.listen = addr;
    let (tx, task) = serve_in_background(listener, settings).await;
    let client = Client::new(&format!("http://{addr}"), None).unwrap();
    TestApp {
        addr,
        client,
        dirs,
        stop: Some(tx),
        task,
    }
}

impl TestApp {
    /// Stops the server (jobs keep running) and waits until it is down.
    pub async fn shutdown(mut self) -> Arc<Dirs> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // A server that failed or panicked fails the test here.
        (&mut self.task).await.expect("the server task failed");
        self.dirs.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends JSON and returns (status, content type, body).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let r = self
            .client
            .send_raw(method, path, body.as_ref())
            .await
            .unwrap();
        (r.status.as_u16(), r.content_type, r.body)
    }
}

/// A run id unique across concurrently running tests (SLURM job names, logs).
pub fn unique_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until session `id`'s Prometheus at `prom` has scraped itself (its `up` is present).
pub async fn until_self_scraped(prom: &str, id: &str) {
    let promql = format!(r#"up{{session="{id}"}}"#);
    query_until_present(prom, &promql, Duration::from_secs(30)).await;
}

/// Command lines of the processes whose arguments contain `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

/// Runs a command and returns stdout.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls an instant PromQL query at `prom` until it returns at least one series, or panics
/// after `timeout`. Returns the result vector.
pub async fn query_until_present(prom: &str, promql: &str, timeout: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    let http = reqwest::Client::new();
    loop {
        let resp = http
            .get(format!("{prom}/api/v1/query"))
            .query(&[("query", promql)])
            .send()
            .await;
        if let Ok(r) = resp {
            if let Ok(v) = r.json::<Value>().await {
                let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
                if !result.is_empty() {
                    return result;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{promql} returned nothing from {prom} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The squeue state of a job, or "" when squeue no longer lists it as active.
pub fn squeue_state(job: &str) -> String {
    sh("squeue", &["-h", "-j", job, "-o", "%T"])
        .trim()
        .to_owned()
}

/// A real `prometheus-node-exporter` on a free loopback port, killed on drop.
pub struct NodeExporter {
    pub port: u16,
    child: std::process::Child,
}

impl NodeExporter {
    pub async fn start() -> NodeExporter {
        let port = free_port();
        let child = std::process::Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.loadavg",
                "--collector.netdev",
                "--collector.diskstats",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter (slurm/dev-cluster.sh up installs it)");
        // Owned by the guard from here on, so it is killed and reaped even if we panic below.
        let exporter = NodeExporter { port, child };
        let url = format!("http://127.0.0.1:{port}/metrics");
        for _ in 0..100 {
            if matches!(reqwest::get(&url).await, Ok(r) if r.status().is_success()) {
                return exporter;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("node exporter on {port} did not come up");
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (below the ephemeral range; see `benchmon::net`).
pub fn free_port() -> u16 {
    benchmon::net::free_local_port().unwrap()
}

/// Prometheus's active targets (`/api/v1/targets`) at `prom`.
pub async fn active_targets(prom: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{prom}/api/v1/targets?state=active"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `promtool check config` on a file; returns (success, output).
pub fn promtool_check_config(path: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Creates a session with a 1 s scrape interval (so tests see samples quickly).
pub async fn create_session(app: &TestApp, id: &str) {
    let body = serde_json::json!({"run_id": id, "scrape_interval": "1s"});
    let (status, _, body) = app
        .send(reqwest::Method::POST, "/api/v1/sessions", Some(body))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Starts a session and waits until Prometheus runs; returns its URL.
pub async fn start_and_wait(app: &TestApp, id: &str) -> String {
    let body = serde_json::json!({"time_limit": "00:20:00"});
    let path = format!("/api/v1/sessions/{id}/start");
    let (status, _, body) = app.send(reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(status, 202, "{body}");
    let s = app
        .client
        .wait_for(
            id,
            benchmon::session::SessionState::Running,
            Duration::from_secs(90),
        )
        .await
        .unwrap();
    s.prometheus_url.unwrap()
}

/// Builds the app and serves it on `listener` in a task until the sender fires.
pub async fn serve_in_background(
    listener: tokio::net::TcpListener,
    settings: Settings,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let app = benchmon::startup::build(settings).await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = rx.await;
        };
        benchmon::startup::serve(app, listener, signal)
            .await
            .unwrap();
    });
    (tx, task)
}
