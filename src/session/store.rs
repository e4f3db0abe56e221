//! Sessions on disk and in memory.
//!
//! Each session lives in `STATE_DIR/sessions/<id>/` (see [`crate::paths::SessionPaths`]). Its record is
//! `session.json`, replaced atomically on every change. In memory each session is a
//! [`SessionCell`]: a per-session async mutex serializes changes to that session only (no global
//! lock stalls the others), and a watch channel lets waiters follow its state without polling.

use super::model::Session;
use crate::domain::{RunId, StoreSpec};
use crate::fsutil;
use crate::paths::SessionPaths;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{watch, Mutex, MutexGuard, RwLock};

/// One session in memory.
pub struct SessionCell {
    pub id: RunId,
    pub paths: SessionPaths,
    record: Mutex<Option<Session>>,
    watch: watch::Sender<Session>,
    /// Held while benchmon's own Prometheus has the session's TSDB open (a collection after
    /// the job ended): one at a time, and no new job or deletion meanwhile. Taken before the
    /// record lock, never after it.
    pub tsdb: Mutex<()>,
}

/// Exclusive access to a session's record; changes are saved with [`SessionGuard::save`].
pub struct SessionGuard<'a> {
    cell: &'a SessionCell,
    guard: MutexGuard<'a, Option<Session>>,
}

impl SessionGuard<'_> {
    /// The record; `None` once the session was deleted.
    pub fn get(&self) -> Option<&Session> {
        self.guard.as_ref()
    }

    /// Persists `next` atomically, then makes it current and wakes waiters.
    pub async fn save(&mut self, next: Session) -> io::Result<()> {
        fsutil::write_json_atomic_async(self.cell.paths.record(), next.clone()).await?;
        self.cell.watch.send_replace(next.clone());
        *self.guard = Some(next);
        Ok(())
    }

    /// Marks the session deleted: later lock holders see `None`.
    pub fn mark_deleted(&mut self) {
        *self.guard = None;
    }
}

impl SessionCell {
    fn new(paths: SessionPaths, session: Session) -> Self {
        let (tx, _) = watch::channel(session.clone());
        SessionCell {
            id: session.session_id.clone(),
            paths,
            record: Mutex::new(Some(session)),
            watch: tx,
            tsdb: Mutex::new(()),
        }
    }

    pub async fn lock(&self) -> SessionGuard<'_> {
        SessionGuard {
            cell: self,
            guard: self.record.lock().await,
        }
    }

    /// The last saved record, without waiting for the lock.
    pub fn snapshot(&self) -> Session {
        self.watch.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Session> {
        self.watch.subscribe()
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session {0} already exists")]
    Exists(RunId),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Removes the temp files of atomic writes a crash interrupted, in the directories the server
/// writes that way (not `runtime/`, which the job writes). The rename never happened, so the
/// file they were for still has its previous content.
fn remove_crash_leftovers(session_dir: &Path) {
    let dirs = ["", "registrations", "file_sd", "offline"].map(|d| session_dir.join(d));
    let removed: usize = dirs
        .iter()
        .map(|d| crate::fsutil::remove_atomic_temps(d))
        .sum();
    if removed > 0 {
        tracing::info!(
            "removed {removed} temp file(s) of interrupted writes under {}",
            session_dir.display()
        );
    }
}

/// All sessions, keyed by id.
pub struct SessionStore {
    root: PathBuf,
    cells: RwLock<BTreeMap<RunId, Arc<SessionCell>>>,
    /// Ids deleted since this process started, so a late registration hears "deleted" (409)
    /// rather than "never existed" (404).
    deleted: std::sync::Mutex<std::collections::BTreeSet<RunId>>,
}

/// The secrets of a remote store (`session.json` has them redacted), by field, in a file of
/// their own: mode 0600 (as every file [`fsutil::write_atomic`] writes), never served.
const CREDENTIALS: &str = "store-credentials.json";

fn credentials(session: &Session) -> Option<BTreeMap<String, String>> {
    let StoreSpec::Remote(remote) = &session.store else {
        return None;
    };
    let secrets: BTreeMap<String, String> = remote
        .secrets()
        .into_iter()
        .map(|(k, v)| (k, v.expose().to_owned()))
        .collect();
    (!secrets.is_empty()).then_some(secrets)
}

/// Puts a remote store's secrets back into a record just read; a missing or unreadable file
/// leaves them redacted (the store will refuse benchmon, which the session then says).
fn restore_credentials(dir: &Path, session: &mut Session, problems: &mut Vec<String>) {
    let StoreSpec::Remote(remote) = &mut session.store else {
        return;
    };
    if remote.secrets().is_empty() {
        return;
    }
    let path = dir.join(CREDENTIALS);
    let saved = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
    match saved {
        Ok(saved) => remote.restore_secrets(&saved),
        Err(e) => problems.push(format!("{}: {e}", path.display())),
    }
}

impl SessionStore {
    /// Loads every `sessions/*/session.json` under `root`. A record that does not parse is
    /// reported and skipped, never deleted.
    pub async fn open(root: &Path) -> Result<(Self, Vec<String>), StoreError> {
        let sessions_dir = root.join("sessions");
        tokio::fs::create_dir_all(&sessions_dir)
            .await
            .map_err(io_err(&sessions_dir))?;
        let mut cells = BTreeMap::new();
        let mut problems = Vec::new();
        let mut entries = tokio::fs::read_dir(&sessions_dir)
            .await
            .map_err(io_err(&sessions_dir))?;
        while let Some(entry) = entries.next_entry().await.map_err(io_err(&sessions_dir))? {
            if entry.file_name().to_string_lossy().starts_with(".deleted-") {
                // A delete that crashed after its rename: finish it.
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
                continue;
            }
            remove_crash_leftovers(&entry.path());
            let record = entry.path().join("session.json");
            let loaded = tokio::fs::read(&record)
                .await
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Session>(&b).map_err(|e| e.to_string()));
            match loaded {
                Ok(mut s) => {
                    restore_credentials(&entry.path(), &mut s, &mut problems);
                    let paths = SessionPaths::new(root, &s.session_id);
                    if paths.dir != entry.path() {
                        problems.push(format!("{}: id does not match directory", record.display()));
                        continue;
                    }
                    if let Err(e) = super::phase::finish(&paths).await {
                        problems.push(format!("{}: {e}", paths.phase_journal().display()));
                    }
                    cells.insert(s.session_id.clone(), Arc::new(SessionCell::new(paths, s)));
                }
                Err(e) if record.exists() => problems.push(format!("{}: {e}", record.display())),
                Err(_) => {} // a directory without a record: a create that crashed before saving
            }
        }
        Ok((
            SessionStore {
                root: root.to_owned(),
                cells: RwLock::new(cells),
                deleted: Default::default(),
            },
            problems,
        ))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a session's directory and record; refuses an id already in use.
    pub async fn create(&self, session: Session) -> Result<Arc<SessionCell>, StoreError> {
        let mut cells = self.cells.write().await;
        if cells.contains_key(&session.session_id) {
            return Err(StoreError::Exists(session.session_id));
        }
        let paths = SessionPaths::new(&self.root, &session.session_id);
        for dir in [
            &paths.dir,
            &paths.file_sd(),
            &paths.registrations(),
            &paths.runtime(),
        ] {
            tokio::fs::create_dir_all(dir).await.map_err(io_err(dir))?;
        }
        if let Some(secrets) = credentials(&session) {
            let path = paths.dir.join(CREDENTIALS);
            fsutil::write_json_atomic_async(path.clone(), secrets)
                .await
                .map_err(io_err(&path))?;
        }
        let record = paths.record();
        fsutil::write_json_atomic_async(record.clone(), session.clone())
            .await
            .map_err(io_err(&record))?;
        let cell = Arc::new(SessionCell::new(paths, session.clone()));
        if let Ok(mut deleted) = self.deleted.lock() {
            deleted.remove(&session.session_id);
        }
        cells.insert(session.session_id, cell.clone());
        Ok(cell)
    }

    pub async fn get(&self, id: &RunId) -> Option<Arc<SessionCell>> {
        self.cells.read().await.get(id).cloned()
    }

    /// Whether `id` was deleted since this process started.
    pub fn was_deleted(&self, id: &RunId) -> bool {
        self.deleted.lock().map(|d| d.contains(id)).unwrap_or(false)
    }

    pub async fn all(&self) -> Vec<Arc<SessionCell>> {
        self.cells.read().await.values().cloned().collect()
    }

    /// Forgets a session and removes its directory. The caller holds its lock and has
    /// marked it deleted, so nothing writes into the directory while it goes.
    pub async fn remove(&self, cell: &SessionCell) -> Result<(), StoreError> {
        // Rename first, so a crash mid-removal never leaves a half-deleted session that loads;
        // only a successful rename makes the session gone.
        let trash = self
            .root
            .join("sessions")
            .join(format!(".deleted-{}", cell.id));
        let _ = tokio::fs::remove_dir_all(&trash).await;
        tokio::fs::rename(&cell.paths.dir, &trash)
            .await
            .map_err(io_err(&cell.paths.dir))?;
        self.cells.write().await.remove(&cell.id);
        if let Ok(mut deleted) = self.deleted.lock() {
            deleted.insert(cell.id.clone());
        }
        // Best effort: on NFS, files of the Prometheus that just stopped may still be open;
        // what is left is removed at the next start-up.
        if let Err(e) = tokio::fs::remove_dir_all(&trash).await {
            tracing::warn!("cannot remove {} yet: {e}", trash.display());
        }
        Ok(())
    }
}
