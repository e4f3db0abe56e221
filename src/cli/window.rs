//! `benchmon window open|close|add|list|delete`: named benchmark phases.

use super::output::{Output, Table};
use super::session_arg::SessionArg;
use super::{CliError, Globals};
use crate::client::Client;
use crate::domain::{RunId, Timestamp, WindowName};
use crate::session::{NewWindow, Window};
use clap::Subcommand;

#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub cmd: WindowCmd,
}

#[derive(Debug, Subcommand)]
pub enum WindowCmd {
    /// Open a window now (or at --start); close it with `window close`.
    #[command(override_usage = "benchmon window open [OPTIONS] [SESSION] <NAME>")]
    Open {
        #[command(flatten)]
        session: SessionArg,
        /// Window name, e.g. steady (unique in the session).
        name: Option<WindowName>,
        /// Start instead of now: RFC 3339 or unix seconds.
        #[arg(long)]
        start: Option<Timestamp>,
    },
    /// Close an open window now (or at --end).
    #[command(override_usage = "benchmon window close [OPTIONS] [SESSION] <NAME>")]
    Close {
        #[command(flatten)]
        session: SessionArg,
        /// Window name.
        name: Option<WindowName>,
        /// End instead of now: RFC 3339 or unix seconds.
        #[arg(long)]
        end: Option<Timestamp>,
    },
    /// Add a finished window with both ends given.
    #[command(override_usage = "benchmon window add [OPTIONS] [SESSION] <NAME>")]
    Add {
        #[command(flatten)]
        session: SessionArg,
        /// Window name.
        name: Option<WindowName>,
        /// Start: RFC 3339 (2025-11-04T10:00:00Z) or unix seconds.
        #[arg(long)]
        start: Timestamp,
        /// End: RFC 3339 or unix seconds.
        #[arg(long)]
        end: Timestamp,
    },
    /// List the session's windows.
    List {
        #[command(flatten)]
        session: SessionArg,
    },
    /// Delete a window (collected bundles stay).
    #[command(override_usage = "benchmon window delete [OPTIONS] [SESSION] <NAME>")]
    Delete {
        #[command(flatten)]
        session: SessionArg,
        /// Window name.
        name: Option<WindowName>,
    },
}

pub async fn run(client: &Client, out: &Output, cmd: WindowCmd) -> Result<(), CliError> {
    match cmd {
        WindowCmd::Open {
            session,
            name,
            start,
        } => {
            let (session, name) = session_and_name(&session, name)?;
            let req = NewWindow {
                name,
                start,
                end: None,
            };
            let w = client.add_window(&session, &req).await?;
            out.show(&w, |w| format!("opened window {} at {}", w.name, w.start));
        }
        WindowCmd::Close { session, name, end } => {
            let (session, name) = session_and_name(&session, name)?;
            let w = client.close_window(&session, &name, end).await?;
            out.show(&w, |w| {
                format!(
                    "closed window {}: {} to {}",
                    w.name,
                    w.start,
                    w.end.map(|e| e.to_string()).unwrap_or_default()
                )
            });
        }
        WindowCmd::Add {
            session,
            name,
            start,
            end,
        } => {
            let (session, name) = session_and_name(&session, name)?;
            let req = NewWindow {
                name,
                start: Some(start),
                end: Some(end),
            };
            let w = client.add_window(&session, &req).await?;
            out.show(&w, |w| {
                format!("added window {}: {} to {end}", w.name, w.start)
            });
        }
        WindowCmd::List { session } => {
            let list = client.windows(&session.resolve()?).await?;
            out.show(&list, |l| table(l));
        }
        WindowCmd::Delete { session, name } => {
            let (session, name) = session_and_name(&session, name)?;
            client.delete_window(&session, &name).await?;
            let v = serde_json::json!({"deleted": name.as_str()});
            out.show(&v, |_| format!("deleted window {name}"));
        }
    }
    Ok(())
}

/// `[SESSION] NAME`: one positional alone is the window's name.
fn session_and_name(
    session: &SessionArg,
    name: Option<WindowName>,
) -> Result<(RunId, WindowName), CliError> {
    session.resolve_before(name, "NAME", |s| {
        WindowName::parse(s).map_err(|e| e.to_string())
    })
}

fn table(list: &[Window]) -> String {
    if list.is_empty() {
        return "no windows".into();
    }
    let mut t = Table::new(&["WINDOW", "START", "END", "STATE"]);
    for w in list {
        t.row(vec![
            w.name.to_string(),
            w.start.to_string(),
            w.end.map(|e| e.to_string()).unwrap_or_default(),
            if w.open { "open" } else { "closed" }.into(),
        ]);
    }
    t.render()
}
