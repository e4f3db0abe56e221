//! The SLURM launcher: `sbatch --parsable` to submit, `squeue` to follow, `scancel` to stop.
//!
//! Job tracking never uses `sacct` (absent without slurmdbd): `squeue -t all` still lists a job
//! for `MinJobAge` seconds after it ends, with its final state; after that the job is unknown
//! and reported as gone without a state.

use super::{run_command, JobStatus, LaunchError, Launcher, LiveJob};
use crate::config::SlurmDefaults;
use crate::launcher::LauncherKind;
use crate::paths::JobFiles;
use async_trait::async_trait;
use std::path::PathBuf;

pub struct SlurmLauncher {
    defaults: SlurmDefaults,
}

impl SlurmLauncher {
    pub fn new(defaults: SlurmDefaults) -> Self {
        SlurmLauncher { defaults }
    }
}

/// Maps an sbatch refusal to the request field it is about, from SLURM's own message.
fn refused_field(stderr: &str) -> Option<&'static str> {
    let s = stderr.to_ascii_lowercase();
    // SLURM's own phrases for refusals caused by a request field; anything else is a 502.
    [
        ("invalid partition name", "partition"),
        ("invalid partition specified", "partition"),
        ("invalid --time specification", "time_limit"),
        ("requested time limit is invalid", "time_limit"),
        ("invalid account", "account"),
        ("invalid qos specification", "qos"),
        ("invalid feature specification", "constraint"),
        ("invalid node name specified", "nodelist"),
    ]
    .into_iter()
    .find(|(needle, _)| s.contains(needle))
    .map(|(_, field)| field)
}

/// Parses one `squeue -o '%T|%N|%r'` line.
pub fn parse_squeue_line(line: &str) -> Option<JobStatus> {
    let mut parts = line.trim().splitn(3, '|');
    let state = parts.next()?.trim().to_owned();
    let node = parts.next().unwrap_or("").trim().to_owned();
    let reason = parts.next().map(|r| r.trim().to_owned());
    let reason = reason.filter(|r| !r.is_empty() && r != "None");
    Some(match state.as_str() {
        "" => return None,
        "RUNNING" => JobStatus::Running { state, node },
        "COMPLETING" | "STAGE_OUT" | "SIGNALING" => JobStatus::Ending { state },
        "PENDING" | "CONFIGURING" | "SUSPENDED" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESIZING" | "STOPPED" => JobStatus::Pending { state, reason },
        _ => JobStatus::Gone {
            state: Some(state),
            reason,
        },
    })
}

/// Parses `squeue -o %i|%Z|%j` lines into the jobs benchmon submitted (named `benchmon-…`).
pub fn parse_live_jobs(stdout: &str) -> Vec<LiveJob> {
    stdout
        .lines()
        .filter_map(|line| {
            // The directory is the middle field and the only one that may contain a '|'.
            let (id, rest) = line.trim().split_once('|')?;
            let (dir, name) = rest.rsplit_once('|')?;
            name.starts_with("benchmon-").then(|| LiveJob {
                job_id: id.to_owned(),
                session_dir: PathBuf::from(dir),
            })
        })
        .collect()
}

#[async_trait]
impl Launcher for SlurmLauncher {
    fn kind(&self) -> LauncherKind {
        LauncherKind::Slurm
    }

    async fn submit(&self, paths: &JobFiles) -> Result<String, LaunchError> {
        // Paths go as arguments because an
        // operator's state dir may contain characters an #SBATCH line cannot carry.
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--chdir={}", paths.dir.display()),
            format!("--output={}", paths.output.display()),
            "--open-mode=append".to_owned(),
        ];
        args.extend(self.defaults.sbatch_extra.iter().cloned());
        args.push(paths.script.to_string_lossy().into_owned());
        let out = match run_command("sbatch", &args).await {
            Err(LaunchError::Timeout { cmd, secs }) => {
                // slurmctld may have queued the job and only the answer got lost: adopt it,
                // rather than leave a job nobody follows (and a retry would queue another).
                let jobs = self.live_jobs().await.unwrap_or_default();
                return match jobs
                    .iter()
                    .filter(|j| j.runs_in(&paths.dir))
                    .collect::<Vec<_>>()[..]
                {
                    [one] => {
                        tracing::warn!(job = %one.job_id, "sbatch timed out, but the job was queued: adopting it");
                        Ok(one.job_id.clone())
                    }
                    _ => Err(LaunchError::Timeout { cmd, secs }),
                };
            }
            other => other?,
        };
        if !out.success {
            let message = out.stderr.replace("sbatch: error: ", "");
            return Err(match refused_field(&out.stderr) {
                Some(field) => LaunchError::Refused { field, message },
                None => LaunchError::CommandFailed {
                    cmd: "sbatch".into(),
                    status: out.status,
                    stderr: message,
                },
            });
        }
        // --parsable prints "jobid" or "jobid;cluster".
        let id = out.stdout.trim().split(';').next().unwrap_or("").to_owned();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(LaunchError::Unexpected {
                cmd: "sbatch --parsable".into(),
                output: out.stdout,
            });
        }
        Ok(id)
    }

    async fn status(&self, job_id: &str) -> Result<JobStatus, LaunchError> {
        let args = ["-h", "-t", "all", "-j", job_id, "-o", "%T|%N|%r"].map(String::from);
        let out = run_command("squeue", &args).await?;
        if !out.success {
            // An id slurmctld has already forgotten is an answer, not a failure.
            if out.stderr.contains("Invalid job id") {
                return Ok(JobStatus::Gone {
                    state: None,
                    reason: None,
                });
            }
            return Err(LaunchError::CommandFailed {
                cmd: format!("squeue -j {job_id}"),
                status: out.status,
                stderr: out.stderr,
            });
        }
        Ok(out
            .stdout
            .lines()
            .find_map(parse_squeue_line)
            .unwrap_or(JobStatus::Gone {
                state: None,
                reason: None,
            }))
    }

    async fn cancel(&self, job_id: &str) -> Result<(), LaunchError> {
        let out = run_command("scancel", &[job_id.to_owned()]).await?;
        if out.success
            || out.stderr.contains("Invalid job id")
            || out.stderr.contains("already completing or completed")
        {
            return Ok(());
        }
        Err(LaunchError::CommandFailed {
            cmd: format!("scancel {job_id}"),
            status: out.status,
            stderr: out.stderr,
        })
    }

    async fn check(&self) -> Result<(), LaunchError> {
        let out = run_command("squeue", &["-h".into(), "-o".into(), "%i".into()]).await?;
        if out.success {
            Ok(())
        } else {
            Err(LaunchError::CommandFailed {
                cmd: "squeue".into(),
                status: out.status,
                stderr: out.stderr,
            })
        }
    }

    async fn live_jobs(&self) -> Result<Vec<LiveJob>, LaunchError> {
        // Our own jobs only; %Z is the working directory, which sbatch set to the session's.
        let args = [
            "--me",
            "-h",
            "-t",
            "PENDING,RUNNING,CONFIGURING,SUSPENDED",
            "-o",
            "%i|%Z|%j",
        ]
        .map(String::from);
        let out = run_command("squeue", &args).await?;
        if !out.success {
            return Err(LaunchError::CommandFailed {
                cmd: "squeue --me".into(),
                status: out.status,
                stderr: out.stderr,
            });
        }
        Ok(parse_live_jobs(&out.stdout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_map_to_job_states() {
        assert_eq!(
            parse_squeue_line("PENDING||Resources"),
            Some(JobStatus::Pending {
                state: "PENDING".into(),
                reason: Some("Resources".into())
            })
        );
        assert_eq!(
            parse_squeue_line("RUNNING|vm|None"),
            Some(JobStatus::Running {
                state: "RUNNING".into(),
                node: "vm".into()
            })
        );
        assert_eq!(
            parse_squeue_line("CANCELLED|vm|None"),
            Some(JobStatus::Gone {
                state: Some("CANCELLED".into()),
                reason: None
            })
        );
        assert_eq!(parse_squeue_line(""), None);
    }

    #[test]
    fn live_jobs_are_benchmons_own_with_their_session_directory() {
        let out = "461|/var/lib/benchmon/sessions/bench-01|benchmon-bench-01\n\
                   462|/home/u/run|train-llm\n\
                   463|/srv/odd|dir|benchmon-odd\n";
        assert_eq!(
            parse_live_jobs(out),
            vec![
                LiveJob {
                    job_id: "461".into(),
                    session_dir: "/var/lib/benchmon/sessions/bench-01".into(),
                },
                LiveJob {
                    job_id: "463".into(),
                    session_dir: "/srv/odd|dir".into(),
                }
            ]
        );
    }

    #[test]
    fn sbatch_refusals_name_the_field() {
        let msg = "sbatch: error: Batch job submission failed: Invalid partition name specified";
        assert_eq!(refused_field(msg), Some("partition"));
        let msg = "sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)";
        assert_eq!(refused_field(msg), Some("time_limit"));
        assert_eq!(
            refused_field("sbatch: error: Slurm controller not responding"),
            None
        );
    }
}
