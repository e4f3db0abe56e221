//! A `phase` event that opens or closes a named window: the event (in `events.json`) and the
//! window change (in `windows.json`) happen together or not at all, across a crash too.
//!
//! Two files cannot be renamed at once, so the change is committed through a journal: the new
//! content of both files is written atomically to `phase-journal.json` (the commit point),
//! then each file is rewritten from it, then the journal is removed. A crash before the
//! journal's rename leaves both files as they were; a crash after it is finished by the next
//! edit of the session's events or windows, and at startup. Readers take the journal's
//! content while it exists, so no reader sees the event without its window or the reverse.

use super::events::Event;
use super::windows::Window;
use crate::paths::SessionPaths;
use serde::{Deserialize, Serialize};
use std::io;
use utoipa::ToSchema;

/// What a `phase` event does to the window named like it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PhaseWindow {
    /// Opens the window at the event's timestamp (409 if a window of that name exists).
    Start,
    /// Closes the open window at the event's timestamp (409 if no such window is open).
    End,
}

/// Both files' new content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) events: Vec<Event>,
    pub(super) windows: Vec<Window>,
}

/// The committed but not yet applied change, if a commit is in flight or was interrupted.
pub(super) async fn pending(paths: &SessionPaths) -> io::Result<Option<Journal>> {
    crate::fsutil::read_json_or_default(&paths.phase_journal()).await
}

/// Commits both files' new content, then applies it. Once the journal is written the change
/// is committed: a failure to apply it is logged and left to [`finish`].
pub(super) async fn commit(paths: &SessionPaths, journal: Journal) -> io::Result<()> {
    crate::fsutil::write_json_atomic_async(paths.phase_journal(), journal.clone()).await?;
    if let Err(e) = apply(paths, journal).await {
        tracing::warn!(
            "phase journal {} committed but not applied yet: {e}",
            paths.phase_journal().display()
        );
    }
    Ok(())
}

/// Applies an interrupted commit, if any: rewrites both files from the journal (idempotent:
/// the journal holds their whole content) and removes it. Called under the session's lock
/// before every edit of events or windows, and when the store opens.
pub(super) async fn finish(paths: &SessionPaths) -> io::Result<()> {
    match pending(paths).await? {
        Some(journal) => {
            tracing::info!(
                "finishing the interrupted phase commit in {}",
                paths.phase_journal().display()
            );
            apply(paths, journal).await
        }
        None => Ok(()),
    }
}

async fn apply(paths: &SessionPaths, journal: Journal) -> io::Result<()> {
    crate::fsutil::write_json_atomic_async(paths.events(), journal.events).await?;
    crate::fsutil::write_json_atomic_async(paths.windows(), journal.windows).await?;
    match tokio::fs::remove_file(paths.phase_journal()).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
