//! The bundle directory: built in a hidden temp directory, every file hashed as it is written,
//! `MANIFEST.json` written last, then renamed into place without ever replacing anything.
//!
//! A failed collection drops the `TempBundle`, which deletes the temp directory. A killed one
//! leaves `.tmp-<name>-<random>/` behind: hidden, and never named like a bundle; the next
//! bundle created next to it removes it once nothing in it has changed for `STALE_AFTER`. A
//! directory without a hidden name always has a `MANIFEST.json` with `"complete": true`.

use super::{Artifact, CollectError};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Buffered bytes before hashing and writing.
const BUF: usize = 1 << 20;
/// Bytes written between two background syncs.
const SYNC_EVERY: u64 = 32 << 20;
/// Bundle name suffixes tried after the plain name (`run-001-2` … `run-001-999`).
const MAX_SUFFIX: u32 = 999;

/// How long a temp bundle directory may sit untouched before it is taken for the leftover of a
/// killed collection: far longer than any collection writes without touching it.
pub(crate) const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Prefix of temp bundle directories.
const TEMP_PREFIX: &str = ".tmp-";

/// A bundle under construction.
pub(crate) struct TempBundle {
    dir: tempfile::TempDir,
    parent: PathBuf,
    name: String,
}

impl TempBundle {
    pub(crate) fn create(parent: &Path, name: &str) -> Result<Self, CollectError> {
        remove_stale_temp_dirs(parent);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{name}-"))
            .tempdir_in(parent)
            .map_err(|e| CollectError::io(parent, e))?;
        Ok(TempBundle {
            dir,
            parent: parent.to_owned(),
            name: name.to_owned(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Renames the finished directory to `name`, or `name-2`, `name-3` … if taken; returns the
    /// final path and name.
    pub(crate) fn publish(self) -> Result<(PathBuf, String), CollectError> {
        crate::fsutil::sync_dir(self.dir.path());
        let tmp = self.dir.keep();
        let result = rename_no_replace(&tmp, &self.parent, &self.name);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        crate::fsutil::sync_dir(&self.parent);
        result
    }
}

/// Best effort: removes the temp directories of killed collections in `parent` (see
/// [`STALE_AFTER`]). A directory is stale when neither it nor anything directly in it changed
/// for that long.
fn remove_stale_temp_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let untouched_for = |path: &Path| -> Option<std::time::Duration> {
        let mut newest = std::fs::symlink_metadata(path).ok()?.modified().ok()?;
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(modified);
            }
        }
        newest.elapsed().ok()
    };
    for entry in entries.flatten() {
        let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && entry.file_type().is_ok_and(|t| t.is_dir());
        if is_temp && untouched_for(&entry.path()).is_some_and(|age| age > STALE_AFTER) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(dir = %entry.path().display(), "removed the temp directory of a killed collection")
                }
                Err(e) => {
                    tracing::warn!(dir = %entry.path().display(), "cannot remove a stale temp directory: {e}")
                }
            }
        }
    }
}

fn rename_no_replace(
    tmp: &Path,
    parent: &Path,
    name: &str,
) -> Result<(PathBuf, String), CollectError> {
    for n in 1..=MAX_SUFFIX {
        let candidate = if n == 1 {
            name.to_owned()
        } else {
            format!("{name}-{n}")
        };
        let dest = parent.join(&candidate);
        match rename_exclusive(tmp, &dest) {
            Ok(()) => return Ok((dest, candidate)),
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    || e.raw_os_error() == Some(nix::libc::ENOTEMPTY) =>
            {
                continue
            }
            Err(e) => return Err(CollectError::io(dest, e)),
        }
    }
    Err(CollectError::io(
        parent.join(name),
        std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free bundle name"),
    ))
}

/// `rename` that fails if `to` exists (`RENAME_NOREPLACE`); where the filesystem does not
/// support that flag, an existence check first (racy, but never replaces a non-empty bundle,
/// since rename refuses non-empty directories).
fn rename_exclusive(from: &Path, to: &Path) -> std::io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            if to.symlink_metadata().is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// A bundle file written through a sha256 hasher.
pub(crate) struct HashedFile {
    name: String,
    path: PathBuf,
    file: File,
    hasher: Sha256,
    bytes: u64,
    synced: u64,
    buf: Vec<u8>,
}

impl HashedFile {
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Self, CollectError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| CollectError::io(&path, e))?;
        Ok(HashedFile {
            name: name.to_owned(),
            path,
            file,
            hasher: Sha256::new(),
            bytes: 0,
            synced: 0,
            buf: Vec::with_capacity(BUF),
        })
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), CollectError> {
        if self.buf.len() + data.len() > BUF {
            self.flush()?;
        }
        if data.len() >= BUF {
            self.hasher.update(data);
            self.bytes += data.len() as u64;
            return self
                .file
                .write_all(data)
                .map_err(|e| CollectError::io(&self.path, e));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CollectError> {
        self.hasher.update(&self.buf);
        self.bytes += self.buf.len() as u64;
        self.file
            .write_all(&self.buf)
            .map_err(|e| CollectError::io(&self.path, e))?;
        self.buf.clear();
        Ok(())
    }

    /// Starts writing the data so far to disk in the background (when there is enough of it),
    /// so the final fsync is short.
    pub(crate) fn sync_in_background(&mut self) -> Result<(), CollectError> {
        self.flush()?;
        if self.bytes - self.synced < SYNC_EVERY {
            return Ok(());
        }
        self.synced = self.bytes;
        if let Ok(f) = self.file.try_clone() {
            std::thread::spawn(move || f.sync_data());
        }
        Ok(())
    }

    /// Flushes, fsyncs and describes the file.
    pub(crate) fn finish(mut self) -> Result<Artifact, CollectError> {
        self.flush()?;
        self.file
            .sync_all()
            .map_err(|e| CollectError::io(&self.path, e))?;
        Ok(Artifact {
            name: self.name,
            path: self.path,
            bytes: self.bytes,
            sha256: format!("{:x}", self.hasher.finalize()),
        })
    }
}

impl Write for HashedFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        HashedFile::write(self, data).map_err(std::io::Error::other)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes a whole small file (summary, manifest) and describes it.
pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<Artifact, CollectError> {
    let mut f = HashedFile::create(dir, name)?;
    f.write(bytes)?;
    f.finish()
}

/// sha256 and size of an existing file (to check a bundle).
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, format!("{:x}", h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_never_replaces_an_existing_bundle() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir(parent.path().join("run")).unwrap();
        std::fs::create_dir(parent.path().join("run-2")).unwrap();
        let b = TempBundle::create(parent.path(), "run").unwrap();
        let a = write_file(b.path(), "x.txt", b"hello").unwrap();
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let (path, name) = b.publish().unwrap();
        assert_eq!(name, "run-3");
        assert_eq!(std::fs::read(path.join("x.txt")).unwrap(), b"hello");
        let left: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 3, "{left:?}");
    }

    #[test]
    fn a_killed_collections_temp_dir_is_removed_once_stale_and_only_then() {
        let parent = tempfile::tempdir().unwrap();
        let make = |name: &str, age: std::time::Duration| {
            let dir = parent.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            let when = std::time::SystemTime::now() - age;
            let file = dir.join("part-000.json");
            std::fs::write(&file, b"[").unwrap();
            for path in [&file, &dir] {
                File::open(path).unwrap().set_modified(when).unwrap();
            }
            dir
        };
        let day = std::time::Duration::from_secs(24 * 3600);
        let stale = make(".tmp-run-abc123", day * 2);
        let recent = make(".tmp-run-def456", day / 2);
        let not_ours = make("run-old", day * 2);
        let b = TempBundle::create(parent.path(), "run").unwrap();
        assert!(!stale.exists());
        assert!(recent.exists() && not_ours.exists() && b.path().exists());
    }

    #[test]
    fn a_dropped_bundle_leaves_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let b = TempBundle::create(parent.path(), "run").unwrap();
        write_file(b.path(), "x.txt", b"x").unwrap();
        drop(b);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }
}
