//! `spawn_app()`: a fresh server with its own state and artifact dirs, on port 0; and the
//! other helpers the test binaries share. Every binary mounts it as `support`
//! (`#[path = "../support/mod.rs"] mod support;`); a binary's own helpers have other names
//! (`tests/cli/binary.rs`, `tests/collect/fixtures.rs`).
// Each binary uses a part of this module.
#![allow(dead_code)]

/// Headless Chromium: one-shot runs and a WebDriver client.
pub mod browser;

use benchmon::api::problem::Problem;
use benchmon::client::{Client, ClientError, CollectRequest, CollectResult};
use benchmon::config::{Settings, SiteConfig};
use benchmon::domain::PromDuration;
use benchmon::launcher::LauncherKind;
use benchmon::session::{CloseWindow, CreateSession, NewWindow, Session, StartSession, Window};
use benchmon::targets::{ClientRegistration, ConfigView, ServiceRegistration, TargetList};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
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
    /// The jobs' node-local TSDB directory (`storage.local_dir`): inside the test's own temp
    /// dir, so what a hard-killed job leaves there goes with the test.
    pub node_local: PathBuf,
}

impl Dirs {
    pub fn new() -> Arc<Dirs> {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        let artifacts = root.path().join("artifacts");
        let node_local = root.path().join("node-local");
        Arc::new(Dirs {
            _root: root,
            state,
            artifacts,
            node_local,
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
            // A sharded session's scrapers too (a scancel of an ended job is harmless).
            if s.launcher == LauncherKind::Slurm && s.state.has_job() {
                for j in &s.scraper_jobs {
                    let _ = std::process::Command::new("scancel")
                        .arg(&j.job_id)
                        .status();
                }
            }
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
    site.storage.local_dir = Some(dirs.node_local.to_string_lossy().into_owned());
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

/// A server with a read and a write token configured; its typed client sends `write`.
pub async fn spawn_app_with_tokens(launcher: LauncherKind, read: &str, write: &str) -> TestApp {
    let dirs = Dirs::new();
    let mut settings = test_settings(&dirs, launcher);
    let toml = format!(
        "[[auth.tokens]]\nname = \"r\"\nrole = \"read\"\ntoken = \"{read}\"\n[[auth.tokens]]\nname = \"w\"\nrole = \"write\"\ntoken = \"{write}\"\n"
    );
    settings.site.auth = SiteConfig::from_toml(&toml).unwrap().auth;
    spawn_app_with(settings, dirs).await.with_token(write)
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

    /// The same server, its typed client sending `token` (a server with tokens).
    pub fn with_token(mut self, token: &str) -> TestApp {
        self.client =
            Client::new(&format!("http://{}", self.addr), Some(token.to_owned())).unwrap();
        self
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

    /// Sends a typed request the way `benchmon::client::Client` does (same path, same body)
    /// and decodes the answer as it does: `T` on success, the problem as a [`ClientError`].
    /// Unlike the client, it keeps the status and content type for the test to assert.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Answer<T> {
        // As benchmon's client sends a body: a remote store's credentials as they are.
        let body = body
            .map(|b| benchmon::domain::with_secrets_exposed(|| serde_json::to_value(b).unwrap()));
        let r = self
            .client
            .send_raw(method, path, body.as_ref())
            .await
            .unwrap();
        let result = if r.status.is_success() {
            serde_json::from_value(r.body.clone()).map_err(|e| ClientError::Decode {
                url: self.url(path),
                status: r.status.as_u16(),
                body: format!("{e}: {}", r.body),
            })
        } else {
            Err(match serde_json::from_value::<Problem>(r.body.clone()) {
                Ok(p) => ClientError::Problem(Box::new(p)),
                Err(_) => ClientError::Decode {
                    url: self.url(path),
                    status: r.status.as_u16(),
                    body: r.body.to_string(),
                },
            })
        };
        Answer {
            status: r.status.as_u16(),
            content_type: r.content_type,
            result,
        }
    }

    /// `POST /api/v1/sessions`.
    pub async fn create(&self, req: &CreateSession) -> Answer<Session> {
        self.call(Method::POST, "/api/v1/sessions", Some(req)).await
    }

    /// Creates session `id` with a 1 s scrape interval (so tests see samples quickly).
    pub async fn create_session(&self, id: &str) -> Session {
        let req = from_json(serde_json::json!({"run_id": id, "scrape_interval": "1s"}));
        self.create(&req).await.success(201)
    }

    /// `GET /api/v1/sessions/{id}`.
    pub async fn session(&self, id: &str) -> Answer<Session> {
        let path = format!("/api/v1/sessions/{id}");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `POST /api/v1/sessions/{id}/start`.
    pub async fn start(&self, id: &str, req: &StartSession) -> Answer<Session> {
        let path = format!("/api/v1/sessions/{id}/start");
        self.call(Method::POST, &path, Some(req)).await
    }

    /// Starts session `id` (20 min time limit) and waits until Prometheus runs; returns its URL.
    pub async fn start_and_wait(&self, id: &str) -> String {
        let req = from_json(serde_json::json!({"time_limit": "00:20:00"}));
        self.start(id, &req).await.success(202);
        let s = self
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

    /// `DELETE /api/v1/sessions/{id}`.
    pub async fn delete(&self, id: &str) -> Answer<()> {
        let path = format!("/api/v1/sessions/{id}");
        self.call(Method::DELETE, &path, None::<&()>).await
    }

    /// `POST /api/v1/sessions/{id}/clients`.
    pub async fn register_client(
        &self,
        id: &str,
        reg: &ClientRegistration,
    ) -> Answer<ClientRegistration> {
        let path = format!("/api/v1/sessions/{id}/clients");
        self.call(Method::POST, &path, Some(reg)).await
    }

    /// `POST /api/v1/sessions/{id}/services`.
    pub async fn register_service(
        &self,
        id: &str,
        reg: &ServiceRegistration,
    ) -> Answer<ServiceRegistration> {
        let path = format!("/api/v1/sessions/{id}/services");
        self.call(Method::POST, &path, Some(reg)).await
    }

    /// `DELETE /api/v1/sessions/{id}/clients/{client}`.
    pub async fn deregister_client(&self, id: &str, client: &str) -> Answer<()> {
        let path = format!("/api/v1/sessions/{id}/clients/{client}");
        self.call(Method::DELETE, &path, None::<&()>).await
    }

    /// `GET /api/v1/sessions/{id}/targets`.
    pub async fn targets(&self, id: &str) -> Answer<TargetList> {
        let path = format!("/api/v1/sessions/{id}/targets");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `GET /api/v1/sessions/{id}/config`.
    pub async fn config(&self, id: &str) -> Answer<ConfigView> {
        let path = format!("/api/v1/sessions/{id}/config");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `POST /api/v1/sessions/{id}/windows`.
    pub async fn add_window(&self, id: &str, req: &NewWindow) -> Answer<Window> {
        let path = format!("/api/v1/sessions/{id}/windows");
        self.call(Method::POST, &path, Some(req)).await
    }

    /// `POST /api/v1/sessions/{id}/windows/{name}/close`, now.
    pub async fn close_window(&self, id: &str, name: &str) -> Answer<Window> {
        let path = format!("/api/v1/sessions/{id}/windows/{name}/close");
        self.call(Method::POST, &path, Some(&CloseWindow { end: None }))
            .await
    }

    /// `GET /api/v1/sessions/{id}/windows`.
    pub async fn windows(&self, id: &str) -> Answer<Vec<Window>> {
        let path = format!("/api/v1/sessions/{id}/windows");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `DELETE /api/v1/sessions/{id}/windows/{name}`.
    pub async fn delete_window(&self, id: &str, name: &str) -> Answer<()> {
        let path = format!("/api/v1/sessions/{id}/windows/{name}");
        self.call(Method::DELETE, &path, None::<&()>).await
    }

    /// `POST /api/v1/sessions/{id}/collect`.
    pub async fn collect(&self, id: &str, req: &CollectRequest) -> Answer<CollectResult> {
        let path = format!("/api/v1/sessions/{id}/collect");
        self.call(Method::POST, &path, Some(req)).await
    }

    /// `GET /api/v1/sessions/{id}/collections`.
    pub async fn collections(&self, id: &str) -> Answer<Vec<Value>> {
        let path = format!("/api/v1/sessions/{id}/collections");
        self.call(Method::GET, &path, None::<&()>).await
    }
}

/// A typed answer with the status and content type it came with (the typed client keeps
/// neither; tests assert them).
#[derive(Debug)]
pub struct Answer<T> {
    pub status: u16,
    pub content_type: String,
    /// `T` on success; otherwise the problem, decoded as the client decodes it.
    pub result: Result<T, ClientError>,
}

impl<T: std::fmt::Debug> Answer<T> {
    /// The body, after asserting that the answer is a success with exactly `status`.
    pub fn success(self, status: u16) -> T {
        match self.result {
            Ok(body) if self.status == status => body,
            other => panic!("expected {status}, got {}: {other:?}", self.status),
        }
    }

    /// The problem, after asserting that the answer is one with exactly `status`.
    pub fn problem(self, status: u16) -> Problem {
        match self.result {
            Err(ClientError::Problem(p)) if self.status == status => *p,
            other => panic!(
                "expected a {status} problem, got {}: {other:?}",
                self.status
            ),
        }
    }
}

/// A typed request written as JSON (the type checks it, as the server would).
pub fn from_json<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} is not a valid request: {e}"))
}

/// Held by every test that runs jobs on partition `multi` (the namespaced nodes): shared by
/// the tests that only use them, exclusive for one that cuts a node off, so a cut never hits
/// another test's job. A file lock (flock), so it holds across test binaries and processes too.
pub struct MultiNodeLock(nix::fcntl::Flock<std::fs::File>);

/// Waits for the multi-node lock; `exclusive` for a test that takes a node down.
pub async fn multi_node_lock(exclusive: bool) -> MultiNodeLock {
    let path = std::env::temp_dir().join("benchmon-tests-multi-node.lock");
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let how = match exclusive {
            true => nix::fcntl::FlockArg::LockExclusive,
            false => nix::fcntl::FlockArg::LockShared,
        };
        let lock = nix::fcntl::Flock::lock(file, how)
            .unwrap_or_else(|(_, e)| panic!("lock {}: {e}", path.display()));
        MultiNodeLock(lock)
    })
    .await
    .unwrap()
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

/// A real `prometheus-node-exporter` on a free port of one address (loopback unless
/// [`NodeExporter::start_on`] names another), killed on drop.
pub struct NodeExporter {
    pub port: u16,
    pub ip: std::net::IpAddr,
    child: std::process::Child,
}

impl NodeExporter {
    pub async fn start() -> NodeExporter {
        NodeExporter::start_on(std::net::Ipv4Addr::LOCALHOST.into(), &[]).await
    }

    /// With extra flags, e.g. a textfile collector directory whose gauges a test drives.
    pub async fn start_with(extra: &[String]) -> NodeExporter {
        NodeExporter::start_on(std::net::Ipv4Addr::LOCALHOST.into(), extra).await
    }

    /// An exporter listening on `ip` only (an address of this host), with extra flags.
    pub async fn start_on(ip: std::net::IpAddr, extra: &[String]) -> NodeExporter {
        let port = free_port();
        let child = std::process::Command::new("prometheus-node-exporter")
            .arg(format!(
                "--web.listen-address={}",
                SocketAddr::new(ip, port)
            ))
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.loadavg",
                "--collector.netdev",
                "--collector.diskstats",
            ])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter (slurm/dev-cluster.sh up installs it)");
        // Owned by the guard from here on, so it is killed and reaped even if we panic below.
        let exporter = NodeExporter { port, ip, child };
        let url = format!("http://{}/metrics", exporter.address());
        for _ in 0..100 {
            if matches!(reqwest::get(&url).await, Ok(r) if r.status().is_success()) {
                return exporter;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("node exporter on {ip} port {port} did not come up");
    }

    pub fn address(&self) -> String {
        SocketAddr::new(self.ip, self.port).to_string()
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

/// An HTTP answer read off the socket as is.
#[derive(Debug)]
pub struct RawHttp {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawHttp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `METHOD path` exactly as written (HTTP clients normalize `..` and re-encode a path;
/// an attacker's client does not), with extra header lines, and reads the whole answer.
pub async fn raw_http(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> RawHttp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    RawHttp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
}

/// Serves `/metrics` in the text exposition format on `listener` until aborted: every request
/// gets `body()` as it is at that moment (the stand-in exporters of the sharded tests).
pub fn serve_exposition(
    listener: tokio::net::TcpListener,
    body: impl Fn() -> String + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let text = body();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    })
}
