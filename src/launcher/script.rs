//! The job script that runs Prometheus, rendered from `templates/prometheus-job.sh`.
//!
//! Values on `#SBATCH` lines are validated newtypes (sbatch reads those lines itself, so no
//! quoting could protect them); everything in the script body is single-quoted for bash.

use super::JobResources;
use crate::domain::PromDuration;
use crate::paths::JobFiles;
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
    /// Seconds before the time limit SLURM sends TERM, for the TSDB's copy back.
    copy_grace_s: u32,
    cpus_per_task: u16,
    mem_mb: Option<u32>,
    /// What the job runs (the template's flags differ).
    is_vm: bool,
    is_agent: bool,
    /// `-scraper-<index>` for a scraper job, so squeue tells the jobs of a session apart.
    job_suffix: String,
    /// VictoriaMetrics's `-retentionPeriod`, in whole hours (it keeps at least a day).
    vm_retention: Option<String>,
    /// vmalert's `-evaluationInterval` (Go's duration syntax: whole milliseconds).
    vmalert_interval: String,
}

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFlavor {
    /// Prometheus scraping and storing (the `prometheus` topology).
    Prometheus,
    /// Prometheus in agent mode: a scraper of a sharded session, remote-writing its shard.
    Agent { index: u16 },
    /// VictoriaMetrics single-node: the store of a `victoriametrics` session.
    VictoriaMetrics,
}

mod filters {
    /// Single-quotes a value for bash.
    pub fn shell<T: std::fmt::Display>(s: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::domain::shell_quote(&s.to_string()))
    }
}

/// Seconds between the time limit's early TERM and the limit: Prometheus's shutdown and the
/// TSDB's copy back must fit.
const COPY_GRACE_S: u32 = 60;

/// Inputs of [`render_job_script`] that come from the session and the site config.
pub struct ScriptInputs<'a> {
    pub run_id: &'a str,
    pub flavor: ServerFlavor,
    pub resources: &'a JobResources,
    pub port: Option<u16>,
    /// The argv words that start the server (a binary, or a container runtime's command).
    pub prometheus_command: Vec<String>,
    pub retention: Option<&'a PromDuration>,
    pub extra_args: &'a [String],
    pub enable_lifecycle: bool,
    /// The TSDB on the node's disk while the job runs, copied back when it ends.
    pub node_local: bool,
    /// Where on the node (default `$TMPDIR`, else `/tmp`).
    pub local_dir: Option<&'a str>,
    /// vmalert beside a VictoriaMetrics store: it evaluates the session's rules there.
    pub vmalert: Option<VmalertInputs>,
}

/// How a store job runs vmalert against its VictoriaMetrics.
#[derive(Debug, Clone)]
pub struct VmalertInputs {
    /// The argv words that start vmalert.
    pub command: Vec<String>,
    /// Rule files (`-rule`): the site's packs and the session's `rules.yml`, which may not
    /// exist yet (vmalert takes a path that matches nothing; `PUT …/rules` creates it and
    /// reloads).
    pub rule_files: Vec<String>,
    /// `-evaluationInterval`: the session's scrape interval.
    pub evaluation_interval: crate::domain::PromDuration,
    /// `-external.label` values (`name=value`), added to every alert and recorded series.
    pub external_labels: Vec<String>,
}

impl VmalertInputs {
    /// vmalert reads `-rule` and `-external.label` as comma-separated lists of globs: a value
    /// with a comma, or a path with a glob character, would not mean what it says.
    pub fn check(&self) -> Result<(), String> {
        if let Some(f) = self
            .rule_files
            .iter()
            .find(|f| f.contains([',', '*', '?', '[', '\\']))
        {
            return Err(format!(
                "vmalert cannot be given the rule file {f:?}: its path holds a comma or a glob character"
            ));
        }
        if let Some(l) = self.external_labels.iter().find(|l| l.contains(',')) {
            return Err(format!(
                "vmalert cannot be given the label {l:?}: its value holds a comma"
            ));
        }
        Ok(())
    }
}

pub fn render_job_script(paths: &JobFiles, inputs: &ScriptInputs<'_>) -> askama::Result<String> {
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    JobScript {
        inputs,
        version: env!("CARGO_PKG_VERSION"),
        session_dir: path(&paths.dir),
        runtime_dir: path(&paths.runtime),
        job_output: path(&paths.output),
        config_file: path(&paths.config),
        tsdb_dir: path(&paths.data),
        job_suffix: match inputs.flavor {
            ServerFlavor::Agent { index } => format!("-scraper-{index}"),
            _ => String::new(),
        },
        is_vm: inputs.flavor == ServerFlavor::VictoriaMetrics,
        is_agent: matches!(inputs.flavor, ServerFlavor::Agent { .. }),
        vm_retention: inputs
            .retention
            .map(|r| format!("{}h", r.as_millis().div_ceil(3_600_000).max(24))),
        port: inputs.port.unwrap_or(0),
        copy_grace_s: COPY_GRACE_S,
        cpus_per_task: inputs.resources.cpus_per_task.map_or(1, |c| c.get()),
        mem_mb: inputs.resources.mem_mb.map(|m| m.get()),
        vmalert_interval: inputs.vmalert.as_ref().map_or_else(String::new, |v| {
            format!("{}ms", v.evaluation_interval.as_millis().max(1))
        }),
    }
    .render()
    .map(|mut text| {
        text.push('\n');
        text
    })
}
