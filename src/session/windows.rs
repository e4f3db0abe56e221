//! Named windows: harnesses mark benchmark phases (`warmup`, `steady`) and collect by name.
//!
//! A session's windows live in one small `windows.json`, rewritten atomically under the
//! session's lock.

use super::error::SessionError;
use super::manager::Sessions;
use super::store::SessionCell;
use crate::domain::{RunId, Timestamp, WindowName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A named time window; `end` is null while it is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Window {
    pub name: WindowName,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    pub open: bool,
}

/// `POST /sessions/{id}/windows`: neither `start` nor `end` opens the window now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWindow {
    pub name: WindowName,
    /// Required when `end` is given.
    #[serde(default)]
    pub start: Option<Timestamp>,
    /// Must be after `start` (JSON Schema cannot compare two fields: a 422 on `end`).
    #[serde(default)]
    pub end: Option<Timestamp>,
}

/// `POST /sessions/{id}/windows/{name}/close`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseWindow {
    /// Must be after the window's start (a 422 on `end`); now when omitted.
    #[serde(default)]
    pub end: Option<Timestamp>,
}

/// Errors specific to windows (the session's own errors pass through).
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("window {0} already exists")]
    Exists(WindowName),
    #[error("window {0} does not exist")]
    Unknown(WindowName),
    #[error("window {0} is already closed")]
    Closed(WindowName),
    #[error("window end {end} is not after its start {start}")]
    Order { start: Timestamp, end: Timestamp },
    #[error("an end without a start: give both, or neither to open the window now")]
    EndWithoutStart,
}

/// The session's windows; an unreadable file is an error, never "no windows" (the next edit
/// would overwrite it and lose them all).
/// A phase commit in flight is already the truth (see `phase`).
pub(super) async fn read(cell: &SessionCell) -> Result<Vec<Window>, SessionError> {
    let journal = cell.paths.phase_journal();
    if let Some(j) = super::phase::pending(&cell.paths)
        .await
        .map_err(|e| SessionError::io(&journal, e))?
    {
        return Ok(j.windows);
    }
    let path = cell.paths.windows();
    crate::fsutil::read_json_or_default(&path)
        .await
        .map_err(|e| SessionError::io(&path, e))
}

/// Adds window `name`: names are unique, an end must follow the start.
pub(super) fn open_in(
    windows: &mut Vec<Window>,
    name: WindowName,
    start: Timestamp,
    end: Option<Timestamp>,
) -> Result<Window, WindowError> {
    if windows.iter().any(|w| w.name == name) {
        return Err(WindowError::Exists(name));
    }
    if let Some(end) = end.filter(|e| *e <= start) {
        return Err(WindowError::Order { start, end });
    }
    let w = Window {
        name,
        start,
        end,
        open: end.is_none(),
    };
    windows.push(w.clone());
    Ok(w)
}

/// Closes the open window `name` at `end`, which must follow its start.
pub(super) fn close_in(
    windows: &mut [Window],
    name: &WindowName,
    end: Timestamp,
) -> Result<Window, WindowError> {
    let w = windows
        .iter_mut()
        .find(|w| &w.name == name)
        .ok_or_else(|| WindowError::Unknown(name.clone()))?;
    if !w.open {
        return Err(WindowError::Closed(name.clone()));
    }
    if end <= w.start {
        return Err(WindowError::Order {
            start: w.start,
            end,
        });
    }
    w.end = Some(end);
    w.open = false;
    Ok(w.clone())
}

async fn write(cell: &SessionCell, windows: Vec<Window>) -> Result<(), SessionError> {
    let path = cell.paths.windows();
    crate::fsutil::write_json_atomic_async(path.clone(), windows)
        .await
        .map_err(|e| SessionError::io(&path, e))
}

impl Sessions {
    pub async fn windows(&self, id: &RunId) -> Result<Vec<Window>, SessionError> {
        let cell = self.cell(id).await?;
        read(&cell).await
    }

    pub async fn window(&self, id: &RunId, name: &WindowName) -> Result<Window, WindowError> {
        self.windows(id)
            .await?
            .into_iter()
            .find(|w| &w.name == name)
            .ok_or_else(|| WindowError::Unknown(name.clone()))
    }

    /// Applies `edit` to the session's windows under its lock and saves them if it succeeds.
    async fn edit_windows<T>(
        &self,
        id: &RunId,
        edit: impl FnOnce(&mut Vec<Window>) -> Result<T, WindowError>,
    ) -> Result<T, WindowError> {
        let cell = self.cell_to_change(id).await?;
        let guard = cell.lock().await;
        guard.require(id)?;
        super::phase::finish(&cell.paths)
            .await
            .map_err(|e| SessionError::io(&cell.paths.phase_journal(), e))?;
        let mut windows = read(&cell).await?;
        let out = edit(&mut windows)?;
        write(&cell, windows).await?;
        Ok(out)
    }

    pub async fn add_window(&self, id: &RunId, req: NewWindow) -> Result<Window, WindowError> {
        self.edit_windows(id, |windows| {
            let (start, end) = match (req.start, req.end) {
                (None, None) => (Timestamp::now(), None),
                (Some(s), e) => (s, e),
                (None, Some(_)) => return Err(WindowError::EndWithoutStart),
            };
            open_in(windows, req.name, start, end)
        })
        .await
    }

    pub async fn close_window(
        &self,
        id: &RunId,
        name: &WindowName,
        req: CloseWindow,
    ) -> Result<Window, WindowError> {
        self.edit_windows(id, |windows| {
            close_in(windows, name, req.end.unwrap_or_else(Timestamp::now))
        })
        .await
    }

    pub async fn delete_window(&self, id: &RunId, name: &WindowName) -> Result<(), WindowError> {
        self.edit_windows(id, |windows| {
            let before = windows.len();
            windows.retain(|w| &w.name != name);
            if windows.len() == before {
                return Err(WindowError::Unknown(name.clone()));
            }
            Ok(())
        })
        .await
    }
}
