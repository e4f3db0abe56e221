//! Read-only views of one session: `benchmon collections SESSION` (the bundles collected so
//! far, from `GET …/collections`) and `benchmon config SESSION` (what its Prometheus was told,
//! from `GET …/config`).

use super::output::{Output, Table};
use super::session_arg::SessionArg;
use super::{CliError, Globals};
use crate::client::Client;
use crate::targets::ConfigView;
use serde_json::Value;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct CollectionsArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(flatten)]
    pub session: SessionArg,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(flatten)]
    pub session: SessionArg,
    /// Which part to print (`--json` prints them all as the server sent them).
    #[arg(long, value_enum, default_value_t = ConfigPart::Prometheus)]
    pub part: ConfigPart,
}

/// The parts of `GET …/config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigPart {
    /// The rendered prometheus.yml (a single-Prometheus session's).
    Prometheus,
    /// Each scraper's prometheus.yml of a sharded session (credentials redacted).
    Scrapers,
    /// The job script that runs Prometheus (rendered at start).
    JobScript,
    /// The session's rule file.
    Rules,
    /// The file_sd target files, one JSON document each.
    FileSd,
    /// Everything, each part under a `# ==> name <==` header.
    All,
}

pub async fn collections(
    client: &Client,
    out: &Output,
    a: CollectionsArgs,
) -> Result<(), CliError> {
    let session = a.session.resolve()?;
    let list = client.collections(&session).await?;
    out.show(&list, |l| match l.is_empty() {
        true => format!("session {session} has no collections"),
        false => collections_table(l),
    });
    Ok(())
}

/// COLLECTION (the bundle directory's name, as `compare SESSION/COLLECTION` and the files
/// route take it), WINDOW (its name, else its ends), QUALITY, SAMPLES, CREATED, PATH.
fn collections_table(list: &[Value]) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut t = Table::new(&[
        "COLLECTION",
        "WINDOW",
        "QUALITY",
        "SAMPLES",
        "CREATED",
        "PATH",
    ]);
    for e in list {
        let dir = text(&e["bundle_dir"]);
        let name = std::path::Path::new(&dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest = &e["manifest"];
        let window = match text(&manifest["context"]["window"]) {
            named if !named.is_empty() => named,
            _ => format!("{} to {}", text(&e["window_start"]), text(&e["window_end"])),
        };
        let quality = match manifest {
            Value::Null => "(bundle removed)".to_owned(),
            m => text(&m["quality"]),
        };
        t.row(vec![
            name,
            window,
            quality,
            text(&e["samples"]),
            text(&e["created_at"]),
            dir,
        ]);
    }
    t.render()
}

pub async fn config(client: &Client, out: &Output, a: ConfigArgs) -> Result<(), CliError> {
    let session = a.session.resolve()?;
    let view = client.config(&session).await?;
    if out.json() {
        out.show(&view, |_| String::new());
        return Ok(());
    }
    let text = config_part(&view, a.part).ok_or_else(|| {
        CliError::Usage(match a.part {
            // Only a sharded session has none.
            ConfigPart::Prometheus => format!(
                "session {session} is sharded: its store scrapes nothing; `--part scrapers` \
                     shows what each scraper was told (once started)"
            ),
            part => format!("session {session} has no {part:?} yet"),
        })
    })?;
    // Verbatim (no trimming): the output is a file a user may save and diff.
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}");
    if !text.ends_with('\n') {
        let _ = writeln!(stdout);
    }
    Ok(())
}

fn file_sd_text(view: &ConfigView) -> String {
    view.file_sd
        .iter()
        .map(|(name, json)| {
            let body = serde_json::to_string_pretty(json).unwrap_or_default();
            format!("# ==> {name} <==\n{body}\n")
        })
        .collect()
}

fn scrapers_text(view: &ConfigView) -> String {
    view.scrapers
        .iter()
        .map(|s| {
            format!(
                "# ==> scrapers/{}/prometheus.yml <==\n{}",
                s.index, s.prometheus_yml
            )
        })
        .collect()
}

/// The part's text; `None` for a part the session does not have (no job script before start,
/// no rules).
fn config_part(view: &ConfigView, part: ConfigPart) -> Option<String> {
    match part {
        ConfigPart::Prometheus => view.prometheus_yml.clone(),
        ConfigPart::Scrapers => (!view.scrapers.is_empty()).then(|| scrapers_text(view)),
        ConfigPart::JobScript => view.job_script.clone(),
        ConfigPart::Rules => view.rules.clone(),
        ConfigPart::FileSd => Some(file_sd_text(view)),
        ConfigPart::All => {
            let mut all = match &view.prometheus_yml {
                Some(yml) => format!("# ==> prometheus.yml <==\n{yml}"),
                None => String::new(),
            };
            all.push_str(&scrapers_text(view));
            for (name, text) in [("job script", &view.job_script), ("rules.yml", &view.rules)] {
                if let Some(t) = text {
                    all.push_str(&format!("\n# ==> {name} <==\n{t}"));
                }
            }
            all.push('\n');
            all.push_str(&file_sd_text(view));
            Some(all)
        }
    }
}
