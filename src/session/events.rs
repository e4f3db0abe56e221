//! Events: what a harness says happened (a phase began, 40 % done, a note, an alert), kept with
//! the session in one `events.json` rewritten atomically under the session's lock, so they
//! survive restarts, and written to `events.csv` in every bundle whose window holds them.
//! A `phase` event with `window` also opens or closes the window named like it, in the same
//! commit (see `phase`).

use super::error::SessionError;
use super::manager::Sessions;
use super::phase::{self, Journal, PhaseWindow};
use super::windows::{self, WindowError};
use crate::domain::{RunId, Timestamp, WindowName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest event message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Most events a session keeps (each post rewrites the file).
pub const MAX_EVENTS: usize = 10_000;
/// How far past benchmon's clock an event's timestamp may be (clock skew).
const MAX_FUTURE_SKEW_MS: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Phase,
    Progress,
    Note,
    Alert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// `POST /sessions/{id}/events`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub kind: EventKind,
    /// What the event is about (`warmup`, `epoch-3`); the window-name grammar.
    pub name: WindowName,
    /// Free text, at most 1024 bytes.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Percent done, 0 to 100.
    #[serde(default)]
    pub progress: Option<f64>,
    /// When it happened; now if omitted. Not before the session was created, nor more than
    /// 5 s in the future.
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    /// Only with `kind: phase`: `start` opens the named window `name` at the event's
    /// timestamp, `end` closes it there; the event and the window change are stored together
    /// or not at all.
    #[serde(default)]
    pub window: Option<PhaseWindow>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub timestamp: Timestamp,
    pub kind: EventKind,
    pub name: WindowName,
    pub message: Option<String>,
    pub severity: Option<Severity>,
    pub progress: Option<f64>,
    /// The window this phase event opened or closed.
    #[serde(default)]
    pub window: Option<PhaseWindow>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the session already keeps {MAX_EVENTS} events")]
    Full,
    /// The phase's window change broke a window rule (nothing was stored).
    #[error(transparent)]
    Window(#[from] WindowError),
}

impl NewEvent {
    fn validate(self, created: Timestamp, now: Timestamp) -> Result<Event, EventError> {
        let invalid = |field, reason: String| EventError::Invalid { field, reason };
        if let Some(m) = self
            .message
            .as_ref()
            .filter(|m| m.len() > MAX_MESSAGE_BYTES)
        {
            return Err(invalid(
                "message",
                format!(
                    "the message is {} bytes long; at most {MAX_MESSAGE_BYTES} are allowed",
                    m.len()
                ),
            ));
        }
        if let Some(p) = self.progress.filter(|p| !(0.0..=100.0).contains(p)) {
            return Err(invalid(
                "progress",
                format!("progress {p} is not a percentage between 0 and 100"),
            ));
        }
        if self.window.is_some() && self.kind != EventKind::Phase {
            return Err(invalid(
                "window",
                "only a phase event opens or closes a window".to_owned(),
            ));
        }
        let timestamp = self.timestamp.unwrap_or(now);
        if timestamp.unix_millis() > now.unix_millis() + MAX_FUTURE_SKEW_MS {
            return Err(invalid(
                "timestamp",
                format!("{timestamp} is in the future (more than 5 s past {now})"),
            ));
        }
        if timestamp < created {
            return Err(invalid(
                "timestamp",
                format!("{timestamp} is before the session was created ({created})"),
            ));
        }
        Ok(Event {
            timestamp,
            kind: self.kind,
            name: self.name,
            message: self.message,
            severity: self.severity,
            progress: self.progress,
            window: self.window,
        })
    }
}

impl Sessions {
    /// The session's events in time order.
    pub async fn events(&self, id: &RunId) -> Result<Vec<Event>, SessionError> {
        let cell = self.cell(id).await?;
        let journal = cell.paths.phase_journal();
        if let Some(j) = phase::pending(&cell.paths)
            .await
            .map_err(|e| SessionError::io(&journal, e))?
        {
            return Ok(j.events);
        }
        let path = cell.paths.events();
        crate::fsutil::read_json_or_default(&path)
            .await
            .map_err(|e| SessionError::io(&path, e))
    }

    /// Validates and keeps an event, in time order, under the session's lock; a phase event
    /// with `window` changes its window in the same commit.
    pub async fn add_event(&self, id: &RunId, req: NewEvent) -> Result<Event, EventError> {
        let cell = self.cell_to_change(id).await?;
        let guard = cell.lock().await;
        let created = guard.require(id)?.created_at;
        let event = req.validate(created, Timestamp::now())?;
        let journal = cell.paths.phase_journal();
        phase::finish(&cell.paths)
            .await
            .map_err(|e| SessionError::io(&journal, e))?;
        let path = cell.paths.events();
        let mut events: Vec<Event> = crate::fsutil::read_json_or_default(&path)
            .await
            .map_err(|e| SessionError::io(&path, e))?;
        if events.len() >= MAX_EVENTS {
            return Err(EventError::Full);
        }
        let at = events.partition_point(|e| e.timestamp <= event.timestamp);
        events.insert(at, event.clone());
        let Some(action) = event.window else {
            crate::fsutil::write_json_atomic_async(path.clone(), events)
                .await
                .map_err(|e| SessionError::io(&path, e))?;
            return Ok(event);
        };
        let mut windows = windows::read(&cell).await?;
        match action {
            PhaseWindow::Start => {
                windows::open_in(&mut windows, event.name.clone(), event.timestamp, None)?
            }
            PhaseWindow::End => windows::close_in(&mut windows, &event.name, event.timestamp)?,
        };
        phase::commit(&cell.paths, Journal { events, windows })
            .await
            .map_err(|e| SessionError::io(&journal, e))?;
        Ok(event)
    }
}
