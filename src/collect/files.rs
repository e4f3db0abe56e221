//! The files of a session's bundles, read-only, for the web view and
//! `GET …/collections/{collection}/files/{name}`.
//!
//! A bundle is found in the session's index by its directory name, never by joining the
//! request onto a path; a file is one validated [`FileName`] inside it, and the real path
//! (symlinks resolved) must still be inside the bundle's real directory, so a symlink pointing
//! out of the bundle is refused like a missing file. The file is opened without following a
//! last symlink, and the caller streams it.

use crate::domain::{FileName, RunId};
use crate::session::{SessionError, Sessions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// Why a bundle file cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BundleFileError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("session {session} has no collection {collection:?} (see GET /api/v1/sessions/{session}/collections)")]
    NoCollection {
        session: RunId,
        collection: FileName,
    },
    #[error("collection {collection:?} has no file {name:?}")]
    NoFile {
        collection: FileName,
        name: FileName,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file of a bundle, as the listing shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BundleFile {
    pub name: FileName,
    pub bytes: u64,
    /// The `Content-Type` the file is served with.
    pub content_type: String,
}

/// An opened bundle file, ready to stream.
pub struct OpenedFile {
    pub file: tokio::fs::File,
    pub bytes: u64,
    pub content_type: &'static str,
}

/// The media type of a bundle file, from its extension (benchmon writes each kind with one).
pub fn content_type(name: &FileName) -> &'static str {
    let ext = name
        .as_str()
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "parquet" => "application/vnd.apache.parquet",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" | "log" | "yml" | "yaml" | "out" | "err" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The real directory of the bundle named `collection` in the session's index.
async fn bundle_dir(
    sessions: &Sessions,
    id: &RunId,
    collection: &FileName,
) -> Result<PathBuf, BundleFileError> {
    let no_collection = || BundleFileError::NoCollection {
        session: id.clone(),
        collection: collection.clone(),
    };
    let dir = super::find_collection(sessions, id, collection.as_str())
        .await?
        .ok_or_else(no_collection)?;
    // A bundle removed since it was indexed is as absent as one never made.
    match tokio::fs::canonicalize(&dir).await {
        Ok(real) => Ok(real),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_collection()),
        Err(source) => Err(BundleFileError::Io { path: dir, source }),
    }
}

/// The regular files of a bundle, by name; hidden files, directories and symlinks are left out.
pub async fn list_files(
    sessions: &Sessions,
    id: &RunId,
    collection: &FileName,
) -> Result<Vec<BundleFile>, BundleFileError> {
    let dir = bundle_dir(sessions, id, collection).await?;
    let io = |source| BundleFileError::Io {
        path: dir.clone(),
        source,
    };
    let mut entries = tokio::fs::read_dir(&dir).await.map_err(io)?;
    let mut files = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let Ok(meta) = tokio::fs::symlink_metadata(entry.path()).await else {
            continue;
        };
        let name = entry.file_name();
        let Some(name) = name.to_str().and_then(|n| FileName::parse(n).ok()) else {
            continue;
        };
        if meta.is_file() {
            files.push(BundleFile {
                content_type: content_type(&name).to_owned(),
                name,
                bytes: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    Ok(files)
}

/// Opens file `name` of bundle `collection`, confined to the bundle's real directory.
pub async fn open_file(
    sessions: &Sessions,
    id: &RunId,
    collection: &FileName,
    name: &FileName,
) -> Result<OpenedFile, BundleFileError> {
    let dir = bundle_dir(sessions, id, collection).await?;
    let no_file = || BundleFileError::NoFile {
        collection: collection.clone(),
        name: name.clone(),
    };
    let real = match tokio::fs::canonicalize(dir.join(name.as_str())).await {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_file()),
        Err(source) => {
            return Err(BundleFileError::Io {
                path: dir.join(name.as_str()),
                source,
            })
        }
    };
    if !inside(&real, &dir) {
        tracing::warn!(session = %id, %collection, %name, "refused: {} is outside the bundle", real.display());
        return Err(no_file());
    }
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&real)
        .await
        .map_err(|source| BundleFileError::Io {
            path: real.clone(),
            source,
        })?;
    let meta = file
        .metadata()
        .await
        .map_err(|source| BundleFileError::Io {
            path: real.clone(),
            source,
        })?;
    if !meta.is_file() {
        return Err(no_file());
    }
    Ok(OpenedFile {
        file,
        bytes: meta.len(),
        content_type: content_type(name),
    })
}

/// `path` is directly inside `dir` (both real paths): a bundle has no subdirectories to serve.
fn inside(path: &Path, dir: &Path) -> bool {
    path.parent() == Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_bundle_file_has_its_media_type() {
        let ct = |n: &str| content_type(&FileName::parse(n).unwrap());
        assert_eq!(ct("report.html"), "text/html; charset=utf-8");
        assert_eq!(ct("samples.csv"), "text/csv; charset=utf-8");
        assert_eq!(ct("MANIFEST.json"), "application/json");
        assert_eq!(ct("raw.parquet"), "application/vnd.apache.parquet");
        assert_eq!(ct("chart.PNG"), "image/png");
        assert_eq!(ct("chart.svg"), "image/svg+xml");
        assert_eq!(ct("job.log"), "text/plain; charset=utf-8");
        assert_eq!(ct("notes"), "application/octet-stream");
    }

    #[test]
    fn only_direct_children_of_the_bundle_are_inside() {
        let dir = Path::new("/a/bundle");
        assert!(inside(Path::new("/a/bundle/report.html"), dir));
        assert!(!inside(Path::new("/a/bundle/sub/x"), dir));
        assert!(!inside(Path::new("/a/other/report.html"), dir));
        assert!(!inside(Path::new("/etc/passwd"), dir));
    }
}
