//! The session's index of past collections (`collections.json` in the session directory),
//! appended to after each bundle and listed with each bundle's manifest as it is on disk now.

use crate::domain::{RunId, Timestamp};
use crate::export::CollectionOutcome;
use crate::session::{SessionCell, SessionError, Sessions};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use utoipa::ToSchema;

/// One past collection, from the session's index and the bundle's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CollectionEntry {
    pub bundle_dir: String,
    pub created_at: Timestamp,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub samples: u64,
    /// The bundle's MANIFEST.json, or null if the bundle was removed since.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub manifest: Option<serde_json::Value>,
}

fn index_path(cell: &SessionCell) -> PathBuf {
    cell.paths.dir.join("collections.json")
}

/// Reads the session's collections index; missing is empty, unreadable is an error.
async fn read_index(cell: &SessionCell) -> Result<Vec<CollectionEntry>, SessionError> {
    let path = index_path(cell);
    crate::fsutil::read_json_or_default(&path)
        .await
        .map_err(|e| SessionError::io(&path, e))
}

/// Appends the bundle to the session's index (under the session lock, atomically). An
/// unreadable index is left alone rather than replaced by one entry.
pub(super) async fn record_in_index(cell: &SessionCell, outcome: &CollectionOutcome) {
    let _guard = cell.lock().await;
    let mut entries = match read_index(cell).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(session = %cell.id, "not recording the bundle in the index: {e}");
            return;
        }
    };
    entries.push(CollectionEntry {
        bundle_dir: outcome.bundle_dir.to_string_lossy().into_owned(),
        created_at: Timestamp::now(),
        window_start: outcome.start,
        window_end: outcome.end,
        samples: outcome.samples,
        manifest: None,
    });
    if let Err(e) = crate::fsutil::write_json_atomic_async(index_path(cell), entries).await {
        tracing::warn!(session = %cell.id, "cannot update the collections index: {e}");
    }
}

/// Past collections of a session, each with its manifest as it is on disk now.
pub async fn list_collections(
    sessions: &Sessions,
    id: &RunId,
) -> Result<Vec<CollectionEntry>, SessionError> {
    let cell = sessions.cell(id).await?;
    let mut entries = read_index(&cell).await?;
    for e in &mut entries {
        let manifest = PathBuf::from(&e.bundle_dir).join("MANIFEST.json");
        e.manifest = tokio::fs::read(&manifest)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    }
    Ok(entries)
}

/// The directory of the session's most recent bundle named `collection` (its directory name),
/// as the session's index records it; `None` when the index has no such bundle.
pub async fn find_collection(
    sessions: &Sessions,
    id: &RunId,
    collection: &str,
) -> Result<Option<PathBuf>, SessionError> {
    let cell = sessions.cell(id).await?;
    let entries = read_index(&cell).await?;
    Ok(entries
        .iter()
        .rev()
        .map(|e| PathBuf::from(&e.bundle_dir))
        .find(|dir| dir.file_name().is_some_and(|n| n == collection)))
}
