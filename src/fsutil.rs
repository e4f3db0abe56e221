//! Atomic file writes: a reader (or a crash) never sees a half-written file.

use std::io::{self, Write};
use std::path::Path;

/// Prefix of the temp files [`write_atomic`] creates; followed by [`TEMP_RAND_LEN`] random
/// ASCII letters and digits, nothing else.
const TEMP_PREFIX: &str = ".tmp";
const TEMP_RAND_LEN: usize = 6;

/// Writes `bytes` to `path` via a temp file in the same directory, fsync, then rename.
/// Temp files start with `.tmp`, so globs like `*.json` (Prometheus file_sd) never match them.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .rand_bytes(TEMP_RAND_LEN)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Whether `name` is one [`write_atomic`] creates (`.tmpXXXXXX`), and only such a name.
pub fn is_atomic_temp(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX).is_some_and(|rest| {
        rest.len() == TEMP_RAND_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Removes the temp files a crash left in `dir` (not recursive), returning how many. Only for
/// start-up, when no write of this process is in flight; any other name is left alone.
pub fn remove_atomic_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if is_file && e.file_name().to_str().is_some_and(is_atomic_temp) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => removed += 1,
                Err(err) => tracing::warn!("cannot remove {}: {err}", e.path().display()),
            }
        }
    }
    removed
}

/// Serializes `value` as pretty JSON and writes it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Async wrapper that runs the blocking write off the runtime's worker threads.
pub async fn write_json_atomic_async<T>(path: std::path::PathBuf, value: T) -> io::Result<()>
where
    T: serde::Serialize + Send + 'static,
{
    tokio::task::spawn_blocking(move || write_json_atomic(&path, &value))
        .await
        .map_err(io::Error::other)?
}

/// Reads a JSON file; a missing file is `T::default()`, an unparseable one an `InvalidData`
/// error (never "empty": the next write would overwrite what could not be read).
pub async fn read_json_or_default<T>(path: &Path) -> io::Result<T>
where
    T: serde::de::DeserializeOwned + Default,
{
    match tokio::fs::read(path).await {
        Ok(b) => {
            serde_json::from_slice(&b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// Makes a rename durable; best effort (some filesystems refuse fsync on directories).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The last `max` bytes of a file, lossily decoded: for failure reasons quoting job output.
pub fn tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one")?;
        write_atomic(&p, b"two")?;
        assert_eq!(std::fs::read(&p)?, b"two");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn only_names_write_atomic_creates_count_as_its_temp_files() {
        assert!(is_atomic_temp(".tmpAb3xY9"));
        for other in [
            ".tmp",
            ".tmpAb3xY",
            ".tmpAb3xY9z",
            ".tmp-abcdef",
            "a.tmpAb3xY9",
            ".tmpAb3x.9",
        ] {
            assert!(!is_atomic_temp(other), "{other}");
        }
    }
}
