//! A throwaway Prometheus over a session's TSDB after its job has ended.
//!
//! The samples outlive the job: Prometheus wrote them to the session directory. So that a
//! window can still be collected after `stop` (or after a job that failed or hit its time
//! limit), benchmon starts a Prometheus of its own on this host over that TSDB — no scrape
//! config, loopback only, retention long enough that nothing is deleted — queries it like the
//! live one, and stops it again.

use super::PromClient;
use crate::fsutil;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Ports tried before giving up, for when another process wins the race for a picked port.
const PORT_ATTEMPTS: usize = 5;
/// How long Prometheus may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Bytes of its log quoted when it fails.
const LOG_TAIL_BYTES: u64 = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("no free local port for an offline Prometheus")]
    NoPort,
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the offline Prometheus over {} {what}; its log ends with: {log}", tsdb.display())]
    Failed {
        tsdb: PathBuf,
        what: String,
        log: String,
    },
}

impl OfflineError {
    /// Whether another Prometheus holds the TSDB's lock (a conflict, not a fault), for builds
    /// that lock their data directory.
    pub fn tsdb_in_use(&self) -> bool {
        matches!(self, OfflineError::Failed { log, .. } if log.contains("lock DB directory"))
    }
}

/// A running offline Prometheus; [`OfflinePrometheus::stop`] ends it (dropping kills it).
pub struct OfflinePrometheus {
    child: Child,
    url: String,
}

/// Where an offline Prometheus for `tsdb` keeps its config and log.
pub struct OfflinePaths {
    pub tsdb: PathBuf,
    /// A directory of its own (config and log), next to the TSDB.
    pub work_dir: PathBuf,
    /// The data is VictoriaMetrics's (a `victoriametrics` session's store), not Prometheus's:
    /// `command` is then VictoriaMetrics, with its own flags.
    pub victoriametrics: bool,
}

/// The flags of the offline server on `port` over `paths.tsdb`.
fn offline_flags(paths: &OfflinePaths, config: &Path, port: u16) -> Vec<String> {
    if paths.victoriametrics {
        return vec![
            format!("-storageDataPath={}", paths.tsdb.display()),
            // Nothing older than the job may be deleted on open.
            "-retentionPeriod=100y".to_owned(),
            "-search.latencyOffset=0s".to_owned(),
            format!("-httpListenAddr=127.0.0.1:{port}"),
        ];
    }
    vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", paths.tsdb.display()),
        // Blocks older than the default 15 days must not be deleted on open.
        "--storage.tsdb.retention.time=100y".to_owned(),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ]
}

impl OfflinePrometheus {
    /// Starts `command` (argv words: a binary, or a container runtime's command) over
    /// `paths.tsdb` and waits until it is ready (at most `timeout`).
    pub async fn start(
        command: &[String],
        paths: &OfflinePaths,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Self, OfflineError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| OfflineError::Io { path, source }
        };
        tokio::fs::create_dir_all(&paths.work_dir)
            .await
            .map_err(io(&paths.work_dir))?;
        let config = paths.work_dir.join("prometheus.yml");
        // No scrape configs: it only answers queries over what the job stored.
        fsutil::write_atomic(&config, b"global: {}\n").map_err(io(&config))?;
        let log = paths.work_dir.join("prometheus.log");
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = crate::net::free_local_port().ok_or(OfflineError::NoPort)?;
            let log_file = std::fs::File::create(&log).map_err(io(&log))?;
            let binary = command.first().map_or("prometheus", String::as_str);
            let child = Command::new(binary)
                .args(command.iter().skip(1))
                .args(offline_flags(paths, &config, port))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .kill_on_drop(true)
                .spawn()
                .map_err(|source| OfflineError::Spawn {
                    binary: binary.to_owned(),
                    source,
                })?;
            let mut prom = OfflinePrometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            match prom.await_ready(http, deadline).await {
                Ok(()) => return Ok(prom),
                Err(what) => {
                    prom.stop().await;
                    let log_tail = fsutil::tail(&log, LOG_TAIL_BYTES).unwrap_or_default();
                    let lost_port = log_tail.contains("address already in use");
                    last_error = Some(OfflineError::Failed {
                        tsdb: paths.tsdb.clone(),
                        what,
                        log: log_tail.trim().to_owned(),
                    });
                    if !lost_port {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or(OfflineError::NoPort))
    }

    /// Base URL, e.g. `http://127.0.0.1:23456`.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn await_ready(
        &mut self,
        http: &reqwest::Client,
        deadline: Instant,
    ) -> Result<(), String> {
        let client = PromClient::new(http.clone(), &self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}) before it was ready"));
            }
            if client.ready().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("was not ready in time".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, so the TSDB is closed cleanly; SIGKILL if it takes too long.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}
