//! Which Prometheus answers a collection: the session's own job while it scrapes, or — once the
//! job has ended — a Prometheus (a VictoriaMetrics, for that store) benchmon starts over the
//! data the job left behind.

use super::CollectionError;
use crate::domain::StoreSpec;
use crate::launcher::JobStatus;
use crate::prometheus::offline::{OfflinePaths, OfflinePrometheus};
use crate::session::{Session, SessionCell, SessionError, Sessions};

/// Which Prometheus answers a collection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The session's job, still scraping.
    Job,
    /// benchmon's own Prometheus over the TSDB the ended job left behind.
    Offline,
    /// A site's store, after the session's scrapers ended.
    Store,
}

impl Source {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Source::Job => "job",
            Source::Offline => "offline",
            Source::Store => "store",
        }
    }
}

/// Starts an offline Prometheus over the ended `session`'s TSDB. The caller holds the cell's
/// `tsdb` lock until that Prometheus is stopped: no second one, no new job, no delete.
pub(super) async fn start_offline(
    sessions: &Sessions,
    cell: &SessionCell,
    session: &Session,
) -> Result<OfflinePrometheus, CollectionError> {
    let id = &session.session_id;
    // A session fails at once when its start timed out, while SLURM may still be ending
    // the job: two Prometheus on one TSDB would corrupt it, and nothing else stops that
    // (Prometheus 2.42 as Debian ships it takes no lock on its data directory).
    if let Some(job) = &session.job_id {
        let status = sessions
            .launcher
            .status(job)
            .await
            .map_err(SessionError::from)?;
        if !matches!(status, JobStatus::Gone { .. }) {
            return Err(CollectionError::JobEnding {
                id: id.clone(),
                job: job.clone(),
            });
        }
    }
    let tsdb = cell.paths.tsdb();
    let stored_anything = std::fs::read_dir(&tsdb).is_ok_and(|mut d| d.next().is_some());
    if !stored_anything {
        return Err(CollectionError::NoData {
            id: id.clone(),
            state: session.state.as_str(),
        });
    }
    let site = &sessions.settings.site;
    let prom_settings = &site.prometheus;
    let victoriametrics = session.store == StoreSpec::VictoriaMetrics;
    let command = match victoriametrics {
        true => site.topology.victoriametrics_command.clone(),
        false => prom_settings.argv(),
    };
    let prom = OfflinePrometheus::start(
        &command,
        &OfflinePaths {
            tsdb,
            work_dir: cell.paths.offline(),
            victoriametrics,
        },
        &sessions.http,
        prom_settings.startup_timeout.as_duration(),
    )
    .await?;
    Ok(prom)
}
