//! Registering and deregistering targets of a session.
//!
//! Each change holds the session's own lock (so it cannot race a stop or delete, and 200
//! concurrent registrations to one session are applied one by one, none lost) and writes two
//! small files atomically: the registration as sent, then its file_sd file. Other sessions are
//! never blocked. The registrations are the source of truth; file_sd files are rebuilt from
//! them when the server starts.

use super::file_sd::{client_groups, service_groups, TargetGroup};
use super::model::{ClientRegistration, ServiceRegistration};
use crate::domain::{ClientId, RunId, ServiceName};
use crate::fsutil;
use crate::session::{Session, SessionCell, SessionError, SessionState, Sessions};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// What kind of registration, for file names.
#[derive(Clone, Copy)]
enum Kind {
    Client,
    Service,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Service => "service",
        }
    }
    fn file_name(self, id: &str) -> String {
        format!("{}-{id}.json", self.prefix())
    }
}

/// Refuses registration changes to sessions that are going or gone.
fn check_accepts(id: &RunId, s: &Session, action: &'static str) -> Result<(), SessionError> {
    if matches!(s.state, SessionState::Stopping | SessionState::Stopped) {
        return Err(SessionError::Conflict {
            id: id.clone(),
            state: s.state.as_str(),
            action,
        });
    }
    Ok(())
}

async fn write_pair(
    cell: &SessionCell,
    kind: Kind,
    id: &str,
    registration: serde_json::Value,
    groups: Vec<TargetGroup>,
) -> Result<(), SessionError> {
    let reg_path = cell.paths.registrations().join(kind.file_name(id));
    let sd_path = cell.paths.file_sd().join(kind.file_name(id));
    let sd_path2 = sd_path.clone();
    let reg_path2 = reg_path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        fsutil::write_json_atomic(&reg_path2, &registration)?;
        fsutil::write_json_atomic(&sd_path2, &groups)
    })
    .await
    .map_err(|e| SessionError::io(&sd_path, std::io::Error::other(e)))?
    .map_err(|e| SessionError::io(&reg_path, e))
}

/// Writes one registration and its file_sd groups under the session's lock.
async fn register<R: serde::Serialize>(
    sessions: &Sessions,
    id: &RunId,
    kind: Kind,
    name: &str,
    reg: &R,
    groups: impl FnOnce(&Session) -> Vec<TargetGroup>,
) -> Result<(), SessionError> {
    let cell = sessions.cell_to_change(id).await?;
    let guard = cell.lock().await;
    let session = guard.require(id)?;
    let action = match kind {
        Kind::Client => "register a client with",
        Kind::Service => "register a service with",
    };
    check_accepts(id, session, action)?;
    let groups = groups(session);
    let json =
        serde_json::to_value(reg).map_err(|e| SessionError::io(&cell.paths.dir, e.into()))?;
    write_pair(&cell, kind, name, json, groups).await?;
    record(kind.prefix());
    Ok(())
}

/// Registers (or replaces) a client.
pub async fn register_client(
    sessions: &Sessions,
    id: &RunId,
    mut reg: ClientRegistration,
) -> Result<ClientRegistration, SessionError> {
    reg.session_id = Some(id.clone());
    let name = reg.client_id.to_string();
    register(sessions, id, Kind::Client, &name, &reg, |s| {
        client_groups(s, &reg)
    })
    .await?;
    Ok(reg)
}

/// Registers (or replaces) a service.
pub async fn register_service(
    sessions: &Sessions,
    id: &RunId,
    mut reg: ServiceRegistration,
) -> Result<ServiceRegistration, SessionError> {
    reg.session_id = Some(id.clone());
    let name = reg.name.to_string();
    register(sessions, id, Kind::Service, &name, &reg, |s| {
        service_groups(s, &reg)
    })
    .await?;
    Ok(reg)
}

fn record(kind: &str) {
    crate::telemetry::METRICS
        .registrations
        .get_or_create(&crate::telemetry::KindLabels { kind: kind.into() })
        .inc();
}

/// Errors deregistering: the session's, or an unknown target.
#[derive(Debug, thiserror::Error)]
pub enum DeregisterError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{kind} {name} is not registered with session {session}")]
    Unknown {
        kind: &'static str,
        name: String,
        session: RunId,
    },
}

async fn deregister(
    sessions: &Sessions,
    id: &RunId,
    kind: Kind,
    name: &str,
) -> Result<(), DeregisterError> {
    let cell = sessions.cell(id).await?;
    let guard = cell.lock().await;
    guard.require(id)?;
    // The registration (the source of truth) goes first; a crash before the file_sd file
    // follows is repaired at start-up by `rebuild_file_sd`, which drops orphaned files.
    let sd = cell.paths.file_sd().join(kind.file_name(name));
    let reg = cell.paths.registrations().join(kind.file_name(name));
    if !reg.exists() {
        return Err(DeregisterError::Unknown {
            kind: kind.prefix(),
            name: name.to_owned(),
            session: id.clone(),
        });
    }
    for p in [&reg, &sd] {
        match tokio::fs::remove_file(p).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(SessionError::io(p, e).into())
            }
            _ => {}
        }
    }
    fsutil::sync_dir(&cell.paths.file_sd());
    Ok(())
}

pub async fn deregister_client(
    sessions: &Sessions,
    id: &RunId,
    client: &ClientId,
) -> Result<(), DeregisterError> {
    deregister(sessions, id, Kind::Client, client.as_str()).await
}

pub async fn deregister_service(
    sessions: &Sessions,
    id: &RunId,
    name: &ServiceName,
) -> Result<(), DeregisterError> {
    deregister(sessions, id, Kind::Service, name.as_str()).await
}

/// Reads every registration of `kind` in `dir`, sorted by file name. Unreadable files are
/// logged and skipped (a registration is never silently half-read).
async fn read_all<T: DeserializeOwned>(dir: &Path, kind: Kind) -> Vec<T> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{}-", kind.prefix())) && name.ends_with(".json") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        match tokio::fs::read(&f)
            .await
            .map(|b| serde_json::from_slice::<T>(&b))
        {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => tracing::warn!("skipping unreadable registration {}: {e}", f.display()),
            Err(e) => tracing::warn!("cannot read {}: {e}", f.display()),
        }
    }
    out
}

pub async fn clients(cell: &SessionCell) -> Vec<ClientRegistration> {
    read_all(&cell.paths.registrations(), Kind::Client).await
}

pub async fn services(cell: &SessionCell) -> Vec<ServiceRegistration> {
    read_all(&cell.paths.registrations(), Kind::Service).await
}

/// Rewrites every file_sd file from the registrations (at server start: a crash between the
/// two writes of a registration is repaired here).
pub async fn rebuild_file_sd(cell: &SessionCell) -> Result<(), SessionError> {
    let session = cell.snapshot();
    let sd_dir = cell.paths.file_sd();
    if let Ok(mut rd) = tokio::fs::read_dir(&sd_dir).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            if !cell.paths.registrations().join(e.file_name()).exists() {
                let _ = tokio::fs::remove_file(e.path()).await;
            }
        }
    }
    for c in clients(cell).await {
        let groups = client_groups(&session, &c);
        let p = cell
            .paths
            .file_sd()
            .join(Kind::Client.file_name(c.client_id.as_str()));
        fsutil::write_json_atomic(&p, &groups).map_err(|e| SessionError::io(&p, e))?;
    }
    for s in services(cell).await {
        let groups = service_groups(&session, &s);
        let p = cell
            .paths
            .file_sd()
            .join(Kind::Service.file_name(s.name.as_str()));
        fsutil::write_json_atomic(&p, &groups).map_err(|e| SessionError::io(&p, e))?;
    }
    Ok(())
}
