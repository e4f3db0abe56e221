//! Running the real `benchmon` binary (and the scripts around it) against a spawned server.

use crate::support::{test_settings, Dirs};
use benchmon::config::Settings;
use benchmon::launcher::LauncherKind;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_benchmon");

/// A file of this repository (scripts, examples).
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Variables the CLI or the wrapper read; cleared so the caller's environment cannot leak in.
const CLEARED: [&str; 12] = [
    "BENCHMON_URL",
    "BENCHMON_TOKEN",
    "BENCHMON_SESSION",
    "BENCHMON_CLIENT_ID",
    "BENCHMON_RETRIES",
    "BENCHMON_TIMEOUT",
    "BENCHMON_PARTITION",
    "BENCHMON_ACCOUNT",
    "SLURM_JOB_ID",
    "SLURMD_NODENAME",
    "RUST_LOG",
    "BENCHMON_WINDOW",
];

/// The outcome of one process.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON (panics with the whole run when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// Asserts exit code 0 and passes the run on.
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A command with the environment cleared of benchmon's variables and `BENCHMON_URL=server`.
pub fn command(program: impl AsRef<std::ffi::OsStr>, server: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    for var in CLEARED {
        cmd.env_remove(var);
    }
    cmd.env("BENCHMON_URL", server).kill_on_drop(true);
    cmd
}

/// Waits for a prepared command and collects its output.
pub async fn output(mut cmd: tokio::process::Command) -> Run {
    let out = cmd.output().await.expect("the process starts");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `benchmon ARGS` against `server`.
pub async fn cli(server: &str, args: &[&str]) -> Run {
    let mut cmd = command(BIN, server);
    cmd.args(args);
    output(cmd).await
}

/// A benchmon server on a given listener (the retry test picks the port before it exists).
pub struct Server {
    /// Kept for the server's lifetime (dropping it cancels leftover jobs).
    _dirs: Arc<Dirs>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(listener: TcpListener, settings: Settings, dirs: Arc<Dirs>) -> Server {
        let (tx, task) = crate::support::serve_in_background(listener, settings).await;
        Server {
            _dirs: dirs,
            stop: Some(tx),
            task,
        }
    }

    /// A fresh server on `addr` with its own directories.
    pub async fn at(addr: &str, launcher: LauncherKind) -> Server {
        let dirs = Dirs::new();
        let listener = TcpListener::bind(addr).await.unwrap();
        let settings = test_settings(&dirs, launcher);
        Server::start(listener, settings, dirs).await
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Polls `check` every 250 ms until it returns `Some`, or panics naming `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
