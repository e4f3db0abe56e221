//! `benchmon event [SESSION] --kind phase NAME`: tell the session what happened (a phase
//! began, progress, a note, an alert); `--start`/`--end` make it a phase event that also
//! opens/closes the window NAME; `--list` prints the session's events.

use super::output::{Output, Table};
use super::session_arg::SessionArg;
use super::{CliError, Globals};
use crate::client::Client;
use crate::domain::{Timestamp, WindowName};
use crate::session::{Event, EventKind, NewEvent, PhaseWindow, Severity};

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "benchmon event [OPTIONS] [SESSION] (--kind <KIND> | --start | --end) <NAME>\n       benchmon event [OPTIONS] [SESSION] --list"
)]
pub struct EventArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(flatten)]
    pub session: SessionArg,
    /// List the session's events instead of recording one.
    #[arg(long, conflicts_with = "kind")]
    pub list: bool,
    /// The event's kind (phase when `--start` or `--end` is given).
    #[arg(long, value_enum)]
    pub kind: Option<EventKind>,
    /// A phase event that also opens the window NAME at its time.
    #[arg(long, conflicts_with_all = ["end", "list"])]
    pub start: bool,
    /// A phase event that also closes the open window NAME at its time.
    #[arg(long, conflicts_with = "list")]
    pub end: bool,
    /// What the event is about, e.g. warmup (the window-name grammar).
    pub name: Option<WindowName>,
    /// Free text (at most 1024 bytes).
    #[arg(long)]
    pub message: Option<String>,
    #[arg(long, value_enum)]
    pub severity: Option<Severity>,
    /// Percent done, 0 to 100.
    #[arg(long)]
    pub progress: Option<f64>,
    /// When it happened instead of now: RFC 3339 or unix seconds.
    #[arg(long)]
    pub at: Option<Timestamp>,
}

pub async fn run(client: &Client, out: &Output, a: EventArgs) -> Result<(), CliError> {
    if a.list {
        if let Some(name) = a.name {
            return Err(CliError::Usage(format!(
                "--list takes no NAME (got {name})"
            )));
        }
        let list = client.events(&a.session.resolve()?).await?;
        out.show(&list, |l| table(l));
        return Ok(());
    }
    let (session, name) = a.session.resolve_before(a.name, "NAME", |s| {
        WindowName::parse(s).map_err(|e| e.to_string())
    })?;
    let window = match (a.start, a.end) {
        (true, _) => Some(PhaseWindow::Start),
        (_, true) => Some(PhaseWindow::End),
        _ => None,
    };
    let Some(kind) = a.kind.or(window.map(|_| EventKind::Phase)) else {
        return Err(CliError::Usage(
            "--kind is required (or --start/--end for a phase)".into(),
        ));
    };
    let req = NewEvent {
        kind,
        name,
        message: a.message,
        severity: a.severity,
        progress: a.progress,
        timestamp: a.at,
        window,
    };
    let e = client.add_event(&session, &req).await?;
    out.show(&e, |e| match e.window {
        Some(PhaseWindow::Start) => format!("opened window {} at {}", e.name, e.timestamp),
        Some(PhaseWindow::End) => format!("closed window {} at {}", e.name, e.timestamp),
        None => format!("recorded {:?} event {} at {}", e.kind, e.name, e.timestamp),
    });
    Ok(())
}

fn table(list: &[Event]) -> String {
    if list.is_empty() {
        return "no events".into();
    }
    let mut t = Table::new(&["TIME", "KIND", "NAME", "SEVERITY", "PROGRESS", "MESSAGE"]);
    for e in list {
        t.row(vec![
            e.timestamp.to_string(),
            format!("{:?}", e.kind).to_lowercase(),
            e.name.to_string(),
            e.severity
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_default(),
            e.progress.map(|p| format!("{p}%")).unwrap_or_default(),
            e.message.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}
