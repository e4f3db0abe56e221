//! The session record: what a user asked for, where its job is, and what state it is in.
//! The persisted form and the API view are the same struct, so what a user sees is what is on disk.

use crate::domain::{
    Host, Labels, Port, PromDuration, RunId, ScraperCount, ScraperNodes, SlurmNodeName, StoreSpec,
    Timestamp,
};
use crate::launcher::{JobResources, LauncherKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Lifecycle: `created → pending → starting → running → stopping → stopped`, or `failed`; a
/// sharded session whose scraper job died, or whose scraper the store has not heard from for a
/// while, is `degraded` (still running, a share of targets not scraped); a silent scraper heard
/// again turns it back to `running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Registered, no job yet.
    Created,
    /// Job submitted, waiting for the scheduler.
    Pending,
    /// Job running, waiting for Prometheus to become ready.
    Starting,
    /// Prometheus is ready and scraping.
    Running,
    /// Sharded sessions: the store runs, but a scraper job ended (`scraper_jobs[].lost`) or the
    /// store has not heard from a scraper for a while (an open `scraper_jobs[].silences` entry);
    /// their targets are named there. Collections still work and flag them.
    Degraded,
    /// Cancel requested, waiting for the job to be gone.
    Stopping,
    /// The job is gone after a stop.
    Stopped,
    /// The job failed, vanished or was cancelled behind benchmon's back; see `failure_reason`.
    Failed,
}

impl SessionState {
    /// States in which a job exists and the poller follows it.
    pub fn has_job(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Starting | Self::Running | Self::Degraded | Self::Stopping
        )
    }

    /// States from which `start` may submit a (new) job.
    pub fn can_start(self) -> bool {
        matches!(self, Self::Created | Self::Stopped | Self::Failed)
    }

    /// States no job will ever leave without a new `start`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Stopped | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Pending => "pending",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Degraded => "degraded",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    /// States whose store answers queries for a live collection.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Running | Self::Degraded)
    }

    pub const ALL: [SessionState; 8] = [
        Self::Created,
        Self::Pending,
        Self::Starting,
        Self::Running,
        Self::Degraded,
        Self::Stopping,
        Self::Stopped,
        Self::Failed,
    ];
}

impl std::str::FromStr for SessionState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}; one of created, pending, starting, running, degraded, stopping, stopped, failed"))
    }
}

/// A monitoring session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Equal to `run_id`.
    pub session_id: RunId,
    pub run_id: RunId,
    pub state: SessionState,
    /// Fixed Prometheus port, or null to let the job pick a free port on its node.
    pub prometheus_port: Option<Port>,
    /// Host name used to reach Prometheus, overriding the node SLURM picked.
    pub prom_host: Option<Host>,
    pub scrape_interval: PromDuration,
    /// TSDB retention; Prometheus's default (15d) when null.
    pub retention: Option<PromDuration>,
    /// Labels added to every series this session scrapes.
    pub labels: Labels,
    /// Whether Prometheus also scrapes benchmon's own `/metrics`.
    #[serde(default)]
    pub scrape_benchmon: bool,
    /// Where samples are stored; with `victoriametrics` the job fields below describe the store's
    /// job, and `scraper_jobs` the agents feeding it.
    #[serde(default)]
    pub store: StoreSpec,
    /// Scraper jobs asked for at create (null: sized from the targets at `start`).
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub scrapers: Option<ScraperCount>,
    /// Nodes the scrapers run on: scraper i on entry i mod len (null: the start request's
    /// `nodelist`, like the store job).
    #[serde(default)]
    pub scraper_nodes: Option<ScraperNodes>,
    /// The scraper jobs of the current or last start of a sharded session, one per shard.
    #[serde(default)]
    pub scraper_jobs: Vec<ScraperJob>,
    pub launcher: LauncherKind,
    /// Resources of the current or last job.
    pub resources: Option<JobResources>,
    /// What the current or last job was sized for: its registered targets, their expected
    /// series and the CPUs and memory that asks for (see the README's "Sizing").
    #[serde(default)]
    pub sizing: Option<crate::launcher::JobSizing>,
    /// The launcher's job id: a SLURM job id, or a process id for the local launcher.
    pub job_id: Option<String>,
    /// The SLURM job id (null with the local launcher).
    pub slurm_job_id: Option<String>,
    /// The scheduler's own state word and reason, e.g. `PENDING` / `Resources`.
    pub scheduler_state: Option<String>,
    pub scheduler_reason: Option<String>,
    /// Node the job runs on.
    pub node: Option<String>,
    /// Port Prometheus listens on (fixed, or picked by the job).
    pub port: Option<u16>,
    pub prometheus_url: Option<String>,
    /// Prometheus answered `/-/ready`.
    pub ready: bool,
    pub created_at: Timestamp,
    /// When `start` submitted the job.
    pub started_at: Option<Timestamp>,
    /// When the scheduler first reported the job running (the startup timeout counts from here).
    #[serde(default)]
    pub job_running_at: Option<Timestamp>,
    /// When Prometheus answered ready.
    pub running_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    pub failure_reason: Option<String>,
    /// Last lines of the job's output when the job or Prometheus failed.
    pub output_tail: Option<String>,
}

/// One scraper job of a sharded session: a Prometheus agent keeping shard `index` of the
/// targets (hashmod of their address) and remote-writing them to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScraperJob {
    /// Shard index, 0 … scrapers − 1; the `scraper` label of every series it sends.
    pub index: u16,
    /// The launcher's job id.
    pub job_id: String,
    pub scheduler_state: Option<String>,
    /// The node SLURM runs it on.
    pub node: Option<String>,
    /// The node the session's `scraper_nodes` placed it on (its `--nodelist`), if any.
    #[serde(default)]
    pub requested_node: Option<SlurmNodeName>,
    /// Port of the agent's own web server, once it listens.
    pub port: Option<u16>,
    /// The agent listens (its job published its endpoint).
    pub ready: bool,
    /// Set when the job ended while the session ran.
    pub lost: Option<LostShard>,
    /// When benchmon first saw its agent listen (a replacement's silence is counted from
    /// then, not from the last `up` of the job it replaced).
    #[serde(default)]
    pub listening_since: Option<Timestamp>,
    /// When the store first had an `up` sample of this scraper (null: none yet; a scraper
    /// hashmod gave no target never sends one).
    #[serde(default)]
    pub first_heard_at: Option<Timestamp>,
    /// Times the store heard nothing from this scraper for longer than the silence limit
    /// (README, "Silent scrapers"), oldest first, the last one open (`to` null) while it lasts;
    /// the newest 16 kept.
    #[serde(default)]
    pub silences: Vec<ScraperSilence>,
}

impl ScraperJob {
    /// Silences a scraper record keeps (the oldest closed ones go first).
    pub const MAX_SILENCES: usize = 16;

    /// The silence that lasts, if any.
    pub fn open_silence(&self) -> Option<&ScraperSilence> {
        self.silences.last().filter(|s| s.to.is_none())
    }

    /// Another job scrapes its shard now (it was lost and replaced).
    pub fn replaced(&self) -> bool {
        self.lost.as_ref().is_some_and(|l| l.replaced_by.is_some())
    }

    /// Lost with no replacement: its targets are not scraped.
    pub fn lost_unreplaced(&self) -> bool {
        self.lost.as_ref().is_some_and(|l| l.replaced_by.is_none())
    }
}

/// A stretch in which the store received no `up` sample from a scraper whose job still ran
/// (its node cut off or overloaded, the store unreachable from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScraperSilence {
    /// Time of the scraper's newest `up` sample in the store when benchmon noticed.
    pub from: Timestamp,
    /// When benchmon noticed (`from` + the silence limit, give or take a poll).
    pub noticed_at: Timestamp,
    /// When benchmon heard from it again: its newest `up` back within the silence limit of
    /// the present (null while it lasts).
    pub to: Option<Timestamp>,
    /// The node the scraper's job ran on.
    pub node: Option<String>,
    /// `instance` of every target of this scraper (from its `up` series in the store).
    pub targets: Vec<String>,
    pub reason: String,
}

/// A scraper job that ended while its session ran: its targets are not scraped until a
/// replacement job (the same shard, submitted again) scrapes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LostShard {
    pub at: Timestamp,
    pub reason: String,
    /// `instance` of every target the shard had scraped (from the store's `up` series).
    pub targets: Vec<String>,
    /// The job submitted in its place (listed after it in `scraper_jobs`, same `index`).
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// Why no replacement was submitted: the shard was replaced as often as a session
    /// replaces one, or the scheduler refused the job.
    #[serde(default)]
    pub not_replaced: Option<String>,
}

impl Session {
    /// What of this session its Prometheus config depends on.
    pub fn scrape_spec(&self) -> crate::prometheus::ScrapeSpec<'_> {
        crate::prometheus::ScrapeSpec {
            run_id: &self.run_id,
            scrape_interval: &self.scrape_interval,
            labels: &self.labels,
            scrape_benchmon: self.scrape_benchmon,
        }
    }

    /// Clears everything that belongs to a previous job, before a new submission.
    pub fn reset_job(&mut self) {
        self.job_id = None;
        self.slurm_job_id = None;
        self.scheduler_state = None;
        self.scheduler_reason = None;
        self.node = None;
        self.port = None;
        self.prometheus_url = None;
        self.ready = false;
        self.started_at = None;
        self.job_running_at = None;
        self.running_at = None;
        self.stopped_at = None;
        self.failure_reason = None;
        self.output_tail = None;
        self.scraper_jobs.clear();
    }

    pub fn fail(&mut self, reason: impl Into<String>, output_tail: Option<String>) {
        self.state = SessionState::Failed;
        self.ready = false;
        self.failure_reason = Some(reason.into());
        self.output_tail = output_tail;
        self.stopped_at = Some(Timestamp::now());
    }
}
