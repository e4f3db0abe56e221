//! The job script that runs Prometheus, rendered from `templates/prometheus-job.sh`.
//!
//! Values on `#SBATCH` lines are validated newtypes (sbatch reads those lines itself, so no
//! quoting could protect them); everything in the script body is single-quoted for bash.

use super::JobResources;
use crate::domain::PromDuration;
use crate::paths::SessionPaths;
use askama::Template;

/// Template context of the job script: the inputs, plus the paths and version it is rendered
/// with.
#[derive(Template)]
#[template(path = "prometheus-job.sh")]
struct JobScript<'a> {
    inputs: &'a ScriptInputs<'a>,
    version: &'a str,
    session_dir: String,
    runtime_dir: String,
    /// Where the job's stdout and stderr go: the script reads Prometheus's last words there.
    job_output: String,
    config_file: String,
    tsdb_dir: String,
    /// Fixed port, or 0 for "pick one on the node".
    port: u16,
    cpus_per_task: u16,
    mem_mb: Option<u32>,
}

mod filters {
    /// Single-quotes a value for bash.
    pub fn shell<T: std::fmt::Display>(s: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::domain::shell_quote(&s.to_string()))
    }
}

/// Inputs of [`render_job_script`] that come from the session and the site config.
pub struct ScriptInputs<'a> {
    pub run_id: &'a str,
    pub resources: &'a JobResources,
    pub port: Option<u16>,
    /// The argv words that start Prometheus (a binary, or a container runtime's command).
    pub prometheus_command: &'a [String],
    pub retention: Option<&'a PromDuration>,
    pub extra_args: &'a [String],
    pub enable_lifecycle: bool,
}

pub fn render_job_script(
    paths: &SessionPaths,
    inputs: &ScriptInputs<'_>,
) -> askama::Result<String> {
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    JobScript {
        inputs,
        version: env!("CARGO_PKG_VERSION"),
        session_dir: path(paths.dir.clone()),
        runtime_dir: path(paths.runtime()),
        job_output: path(paths.job_output()),
        config_file: path(paths.prometheus_yml()),
        tsdb_dir: path(paths.tsdb()),
        port: inputs.port.unwrap_or(0),
        cpus_per_task: inputs.resources.cpus_per_task.map_or(1, |c| c.get()),
        mem_mb: inputs.resources.mem_mb.map(|m| m.get()),
    }
    .render()
    .map(|mut text| {
        text.push('\n');
        text
    })
}
