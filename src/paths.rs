//! Where a session's files are on the state filesystem. Low in the data flow on purpose: the
//! session store, the launchers, the config renderer and the collection use case all need the
//! same layout, and none of them should import another to learn it.

use crate::domain::RunId;
use std::path::{Path, PathBuf};

/// Where a session's files are. The directory name is the validated session id.
#[derive(Debug, Clone)]
pub struct SessionPaths {
    pub dir: PathBuf,
}

impl SessionPaths {
    pub fn new(root: &Path, id: &RunId) -> Self {
        SessionPaths {
            dir: root.join("sessions").join(id.as_str()),
        }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("session.json")
    }
    pub fn prometheus_yml(&self) -> PathBuf {
        self.dir.join("prometheus.yml")
    }
    /// The session's alert and recording rules (present only when it has some).
    pub fn rules(&self) -> PathBuf {
        self.dir.join("rules.yml")
    }
    pub fn job_script(&self) -> PathBuf {
        self.dir.join("prometheus-job.sh")
    }
    pub fn tsdb(&self) -> PathBuf {
        self.dir.join("tsdb")
    }
    /// Config and log of the offline Prometheus that serves collections after the job ended.
    pub fn offline(&self) -> PathBuf {
        self.dir.join("offline")
    }
    /// Files the running job writes back (chosen port, self-scrape target).
    pub fn runtime(&self) -> PathBuf {
        self.dir.join("runtime")
    }
    pub fn endpoint_file(&self) -> PathBuf {
        self.runtime().join("endpoint")
    }
    pub fn self_sd(&self) -> PathBuf {
        self.runtime().join("self.json")
    }
    /// Prometheus file_sd target files, one per client or service.
    pub fn file_sd(&self) -> PathBuf {
        self.dir.join("file_sd")
    }
    /// Registrations as the user sent them (the file_sd files are derived from them).
    pub fn registrations(&self) -> PathBuf {
        self.dir.join("registrations")
    }
    /// Named windows.
    pub fn windows(&self) -> PathBuf {
        self.dir.join("windows.json")
    }
    /// The session's events (phases, progress, notes, alerts), rewritten atomically.
    pub fn events(&self) -> PathBuf {
        self.dir.join("events.json")
    }
    /// A phase event and its window change, committed together before either file is
    /// rewritten (see `session::phase`); present only between the commit and the rewrite.
    pub fn phase_journal(&self) -> PathBuf {
        self.dir.join("phase-journal.json")
    }
    /// The job's output file (stdout and stderr).
    pub fn job_output(&self) -> PathBuf {
        self.dir.join("job.out")
    }

    /// The session's main job: its Prometheus, or the store of a `victoriametrics` session.
    pub fn main_job(&self) -> JobFiles {
        JobFiles {
            dir: self.dir.clone(),
            script: self.job_script(),
            output: self.job_output(),
            runtime: self.runtime(),
            config: self.prometheus_yml(),
            data: self.tsdb(),
        }
    }

    /// Scraper job `index` of a sharded session, in a directory of its own (so a scheduler's
    /// view of the job's directory tells it from the store's job).
    pub fn scraper_job(&self, index: u16) -> JobFiles {
        let dir = self.dir.join("scrapers").join(index.to_string());
        JobFiles {
            script: dir.join("scraper-job.sh"),
            output: dir.join("job.out"),
            runtime: dir.join("runtime"),
            config: dir.join("prometheus.yml"),
            data: dir.join("wal"),
            dir,
        }
    }
}

/// The files of one job: where it runs, its script and output, what it reports back, its
/// config and its data directory.
#[derive(Debug, Clone)]
pub struct JobFiles {
    pub dir: PathBuf,
    pub script: PathBuf,
    pub output: PathBuf,
    pub runtime: PathBuf,
    pub config: PathBuf,
    pub data: PathBuf,
}

impl JobFiles {
    pub fn endpoint_file(&self) -> PathBuf {
        self.runtime.join("endpoint")
    }
}
