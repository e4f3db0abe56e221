//! `events.csv`: the session's events (phases, progress, notes, alerts) inside the bundle's
//! window, each with the named windows that hold it. The session layer hands them over as
//! plain rows, so the engine does not know the session.

use super::MarkedWindow;
use crate::domain::Timestamp;

/// One event as the bundle writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub timestamp: Timestamp,
    /// `phase`, `progress`, `note` or `alert`.
    pub kind: String,
    pub name: String,
    pub severity: Option<String>,
    pub progress: Option<f64>,
    pub message: Option<String>,
}

/// `timestamp_ms,time,kind,name,severity,progress,message,windows` for the events in
/// `[start_ms, end_ms]`; `None` when there are none (no file is written).
pub(crate) fn to_csv(
    events: &[EventRow],
    (start_ms, end_ms): (i64, i64),
    windows: &[MarkedWindow],
) -> Result<Option<Vec<u8>>, csv::Error> {
    let inside: Vec<&EventRow> = events
        .iter()
        .filter(|e| (start_ms..=end_ms).contains(&e.timestamp.unix_millis()))
        .collect();
    if inside.is_empty() {
        return Ok(None);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "timestamp_ms",
        "time",
        "kind",
        "name",
        "severity",
        "progress",
        "message",
        "windows",
    ])?;
    for e in inside {
        let held: Vec<&str> = windows
            .iter()
            .filter(|m| m.start <= e.timestamp && e.timestamp <= m.end)
            .map(|m| m.name.as_str())
            .collect();
        w.write_record([
            e.timestamp.unix_millis().to_string(),
            e.timestamp.to_string(),
            e.kind.clone(),
            e.name.clone(),
            e.severity.clone().unwrap_or_default(),
            e.progress.map(|p| p.to_string()).unwrap_or_default(),
            e.message.clone().unwrap_or_default(),
            held.join(";"),
        ])?;
    }
    w.into_inner().map(Some).map_err(|e| e.into_error().into())
}
