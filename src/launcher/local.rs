//! The local launcher: the job script runs under `bash` as a child process in its own process
//! group — Prometheus on this machine, no scheduler, same states.
//!
//! The job id is the process id. Children are reaped by this process while it lives; after a
//! restart of benchmon a job is re-attached by checking `/proc/<pid>` (alive, not a zombie,
//! running Prometheus or the job script).

use super::{JobStatus, LaunchError, Launcher, LiveJob};
use crate::launcher::LauncherKind;
use crate::paths::JobFiles;
use async_trait::async_trait;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use tokio::process::{Child, Command};

#[derive(Default)]
pub struct LocalLauncher {
    children: Mutex<HashMap<u32, Child>>,
}

impl LocalLauncher {
    pub fn new() -> Self {
        Self::default()
    }
}

fn node_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or("localhost").to_owned())
        .unwrap_or_else(|| "localhost".into())
}

fn parse_pid(job_id: &str) -> Result<u32, LaunchError> {
    job_id
        .parse()
        .map_err(|_| LaunchError::Other(format!("{job_id:?} is not a local job id")))
}

/// Whether `/proc/<pid>` is a live job of ours (for jobs started before a restart): not a
/// zombie, leader of its own process group (as the launcher starts job scripts; the script's
/// subshells share its command line but not that), and running the job script or Prometheus.
fn proc_alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the parenthesised command name: state, ppid, pgrp, …; Z is a zombie.
    let mut fields = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace();
    let (state, pgrp) = (fields.next(), fields.nth(1));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    matches!(state, Some(s) if s != "Z" && s != "X")
        && pgrp == Some(pid.to_string().as_str())
        && cmdline.contains("prometheus")
}

/// Once the job script has exited, nothing of its job may outlive it — as under SLURM, which
/// kills what is left of a job when its batch script ends (a Prometheus whose script was
/// killed, say): SIGTERM to the job's process group, whose id is the script's pid.
fn end_leftovers(pid: u32) {
    if let Ok(pgid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
    }
}

#[async_trait]
impl Launcher for LocalLauncher {
    fn kind(&self) -> LauncherKind {
        LauncherKind::Local
    }

    async fn submit(&self, paths: &JobFiles) -> Result<String, LaunchError> {
        let out_path = paths.output.clone();
        let open_out = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out_path)
                .map_err(|source| LaunchError::Spawn {
                    cmd: format!("open {}", out_path.display()),
                    source,
                })
        };
        let child = Command::new("bash")
            .arg(&paths.script)
            .current_dir(&paths.dir)
            .stdin(Stdio::null())
            .stdout(open_out()?)
            .stderr(open_out()?)
            // Its own process group, so a stop signals the script and Prometheus together and a
            // Ctrl-C on benchmon's terminal does not reach it.
            .process_group(0)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                cmd: format!("bash {}", paths.script.display()),
                source,
            })?;
        let pid = child
            .id()
            .ok_or_else(|| LaunchError::Other("the job exited before it got a pid".into()))?;
        self.children
            .lock()
            .map_err(|_| LaunchError::Other("launcher state poisoned".into()))?
            .insert(pid, child);
        Ok(pid.to_string())
    }

    async fn status(&self, job_id: &str) -> Result<JobStatus, LaunchError> {
        let pid = parse_pid(job_id)?;
        let mut children = self
            .children
            .lock()
            .map_err(|_| LaunchError::Other("launcher state poisoned".into()))?;
        let running = JobStatus::Running {
            state: "RUNNING".into(),
            node: node_name(),
        };
        if let Some(child) = children.get_mut(&pid) {
            return match child.try_wait() {
                Ok(None) => Ok(running),
                Ok(Some(exit)) => {
                    children.remove(&pid);
                    end_leftovers(pid);
                    let state = match exit.code() {
                        Some(0) => "COMPLETED".to_owned(),
                        Some(c) => format!("FAILED (exit code {c})"),
                        None => "CANCELLED (signal)".to_owned(),
                    };
                    Ok(JobStatus::Gone {
                        state: Some(state),
                        reason: None,
                    })
                }
                Err(e) => Err(LaunchError::Other(format!("waiting for pid {pid}: {e}"))),
            };
        }
        if proc_alive(pid) {
            Ok(running)
        } else {
            end_leftovers(pid);
            Ok(JobStatus::Gone {
                state: None,
                reason: None,
            })
        }
    }

    async fn cancel(&self, job_id: &str) -> Result<(), LaunchError> {
        let pid = parse_pid(job_id)?;
        let pgid = i32::try_from(pid).map_err(|_| LaunchError::Other("pid out of range".into()))?;
        match killpg(Pid::from_raw(pgid), Signal::SIGTERM) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(LaunchError::Other(format!("kill -TERM -{pid}: {e}"))),
        }
    }

    async fn check(&self) -> Result<(), LaunchError> {
        Ok(())
    }

    async fn live_jobs(&self) -> Result<Vec<LiveJob>, LaunchError> {
        // Job scripts run as `bash <session dir>/prometheus-job.sh`.
        let procs = std::fs::read_dir("/proc")
            .map_err(|e| LaunchError::Other(format!("cannot list /proc: {e}")))?;
        Ok(procs
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let mut args = cmdline.split(|b| *b == 0);
                let (program, script) = (args.next()?, args.next()?);
                let script = std::path::Path::new(std::str::from_utf8(script).ok()?);
                let is_job = program.ends_with(b"bash")
                    && script.file_name()? == "prometheus-job.sh"
                    && proc_alive(pid);
                is_job.then(|| LiveJob {
                    job_id: pid.to_string(),
                    session_dir: script.parent().map(Into::into).unwrap_or_default(),
                })
            })
            .collect())
    }
}
