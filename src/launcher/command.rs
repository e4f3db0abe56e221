//! Running external commands (sbatch, squeue, …): argv only, never a shell string, with a timeout.

use super::LaunchError;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Output of a finished command.
#[derive(Debug)]
pub struct CommandOutput {
    pub success: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…` and captures its output; a spawn error or timeout is an `Err`,
/// a non-zero exit is not (callers decide what a failure means).
pub async fn run_command(program: &str, args: &[String]) -> Result<CommandOutput, LaunchError> {
    let cmd_line = || format!("{program} {}", args.join(" "));
    let started = std::time::Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let failed = |e: LaunchError| {
        crate::telemetry::record_command(program, started.elapsed(), false);
        e
    };
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child)
        .await
        .map_err(|_| {
            failed(LaunchError::Timeout {
                cmd: cmd_line(),
                secs: COMMAND_TIMEOUT.as_secs(),
            })
        })?
        .map_err(|source| {
            failed(LaunchError::Spawn {
                cmd: cmd_line(),
                source,
            })
        })?;
    crate::telemetry::record_command(program, started.elapsed(), out.status.success());
    Ok(CommandOutput {
        success: out.status.success(),
        status: out.status.to_string(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}
