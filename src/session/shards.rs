//! Scraper jobs of a sharded session (`store: victoriametrics` or a remote store).
//! Filled in by the next step.

use super::error::SessionError;
use super::manager::Sessions;
use super::model::Session;

impl Sessions {
    /// Asks every scraper job of `session` that may still run to end.
    pub(super) async fn cancel_scrapers(&self, session: &Session) -> Result<(), SessionError> {
        for s in session.scraper_jobs.iter().filter(|s| s.lost.is_none()) {
            self.launcher.cancel(&s.job_id).await?;
        }
        Ok(())
    }
}
