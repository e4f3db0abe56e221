//! Launchers run a session's rendered job script: as a SLURM batch job, or as a local child
//! process. Both run the *same* script, so port picking and Prometheus flags never diverge.

mod command;
mod local;
mod resources;
mod script;
mod sizing;
mod slurm;

pub use command::{run_command, CommandOutput};
pub use local::LocalLauncher;
pub use resources::JobResources;
pub use script::{render_job_script, ScriptInputs, ServerFlavor, VmalertInputs};
pub use sizing::{
    apply_sizing, default_scrapers, expected_series_per_target, scraper_sizing, size_job,
    size_job_with, ExpectedTargets, JobCosts, JobSizing,
};
pub use slurm::SlurmLauncher;

use crate::paths::JobFiles;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Which launcher runs Prometheus.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LauncherKind {
    /// Submit Prometheus as a SLURM batch job (`sbatch`).
    Slurm,
    /// Run Prometheus as a child process of benchmon (no scheduler).
    Local,
}

/// What the scheduler says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Queued (or suspended, requeued): not running yet.
    Pending {
        state: String,
        reason: Option<String>,
    },
    /// Running on `node`.
    Running { state: String, node: String },
    /// Finished but still cleaning up (SLURM's COMPLETING).
    Ending { state: String },
    /// Gone: finished, cancelled, failed, or unknown to the scheduler (`state` is `None` then).
    Gone {
        state: Option<String>,
        reason: Option<String>,
    },
}

/// A queued or running job of some session, known by the session directory it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveJob {
    pub job_id: String,
    pub session_dir: PathBuf,
}

impl LiveJob {
    /// Whether this job runs in `dir` (compared as given and resolved: the scheduler may
    /// report the path the way it was submitted or with symlinks resolved).
    pub fn runs_in(&self, dir: &Path) -> bool {
        self.session_dir == dir
            || matches!(
                (self.session_dir.canonicalize(), dir.canonicalize()),
                (Ok(a), Ok(b)) if a == b
            )
    }
}

/// Errors of a launcher, with the command and its own words.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("could not run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` did not finish within {secs} s")]
    Timeout { cmd: String, secs: u64 },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    CommandFailed {
        cmd: String,
        status: String,
        stderr: String,
    },
    /// The scheduler refused the job because of a request field (bad partition, time limit …).
    #[error("the scheduler refused the job: {message}")]
    Refused {
        field: &'static str,
        message: String,
    },
    #[error("unexpected output from `{cmd}`: {output:?}")]
    Unexpected { cmd: String, output: String },
    #[error("{0}")]
    Other(String),
}

/// Runs and follows Prometheus jobs. A trait object, so the server does not care which.
#[async_trait]
pub trait Launcher: Send + Sync {
    fn kind(&self) -> LauncherKind;

    /// Submits a job script of a session; returns the job id.
    /// The resources are already on the script's `#SBATCH` lines.
    async fn submit(&self, job: &JobFiles) -> Result<String, LaunchError>;

    async fn status(&self, job_id: &str) -> Result<JobStatus, LaunchError>;

    /// Asks the job to end (SIGTERM, so Prometheus flushes its TSDB).
    async fn cancel(&self, job_id: &str) -> Result<(), LaunchError>;

    /// Whether the launcher can be used at all (for `/ready`).
    async fn check(&self) -> Result<(), LaunchError>;

    /// Every live job of a benchmon session script, wherever its record is: how a job
    /// submitted just before benchmon crashed (its id never saved) is found again.
    async fn live_jobs(&self) -> Result<Vec<LiveJob>, LaunchError>;
}
