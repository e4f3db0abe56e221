//! `benchmon session create|start|status|list|stop|delete`, and `start --wait`'s progress.

use super::output::{fields, human_duration, Output, Table};
use super::session_arg::SessionArg;
use super::{labels, parse_label, CliError, Globals};
use crate::client::{Client, ClientError};
use crate::domain::{
    Host, Invalid, LabelName, Port, PromDuration, RemoteStore, ScraperCount, SlurmOptions,
    StoreSpec, StoreUrl,
};
use crate::session::{CreateSession, Session, SessionState};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Subcommand;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub cmd: SessionCmd,
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Create a session (Prometheus is not started yet; targets may be registered already).
    Create(CreateArgs),
    /// Submit the session's Prometheus job; `--wait` blocks until Prometheus is ready.
    Start(StartArgs),
    /// Show one session: state, SLURM job, node, Prometheus URL.
    Status(SessionRef),
    /// List sessions.
    List(ListArgs),
    /// Cancel the session's job and wait until the scheduler reports it gone.
    Stop(SessionRef),
    /// Delete a session that has no job (stop it first) and its state.
    Delete(SessionRef),
    /// Replace the session's alert and recording rules (a running Prometheus reloads them).
    Rules(RulesArgs),
}

#[derive(Debug, clap::Args)]
#[command(override_usage = "benchmon session rules [OPTIONS] [SESSION] <FILE>")]
pub struct RulesArgs {
    #[command(flatten)]
    pub session: SessionArg,
    /// A Prometheus rule file (YAML), checked by the server with promtool.
    pub file: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SessionRef {
    #[command(flatten)]
    pub session: SessionArg,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The new session's id, also its run id (1–64 of letters, digits, '.', '_' and '-').
    #[command(flatten)]
    pub session: SessionArg,
    /// Fixed Prometheus port (default: the job picks a free port on its node).
    #[arg(long, value_parser = parse_port)]
    pub prometheus_port: Option<Port>,
    /// Host name to reach Prometheus by, instead of the node SLURM picks.
    #[arg(long)]
    pub prom_host: Option<Host>,
    /// Scrape interval, e.g. 5s (server default 15s).
    #[arg(long)]
    pub scrape_interval: Option<PromDuration>,
    /// TSDB retention, e.g. 30d (Prometheus's default when omitted).
    #[arg(long)]
    pub retention: Option<PromDuration>,
    /// A label on every series of the session, key=value; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(LabelName, String)>,
    /// Also scrape benchmon's own /metrics in this session's Prometheus.
    #[arg(long)]
    pub scrape_benchmon: bool,
    /// Where samples are stored: prometheus (one job) or victoriametrics (a store job fed by
    /// scraper jobs); default the site's `topology.store`.
    #[arg(long, value_parser = ["prometheus", "victoriametrics"], conflicts_with = "remote_write_url")]
    pub store: Option<String>,
    /// A store the site runs: where scrapers remote-write (needs --query-url).
    #[arg(long, requires = "query_url")]
    pub remote_write_url: Option<StoreUrl>,
    /// A store the site runs: its Prometheus-compatible query API (needs --remote-write-url).
    #[arg(long, requires = "remote_write_url")]
    pub query_url: Option<StoreUrl>,
    /// A file with a bearer token for the remote store (headers and basic auth: the JSON body).
    #[arg(long, requires = "remote_write_url")]
    pub store_bearer_token_file: Option<crate::domain::TokenFile>,
    /// Scraper jobs of a sharded store, 1–64 (default: sized from the targets at start).
    #[arg(long)]
    pub scrapers: Option<ScraperCount>,
    /// Nodes for the scrapers, comma-separated (scraper i on entry i mod len), e.g.
    /// node01,node02,node03; default the site's `topology.scraper_nodes`, else the start's
    /// --nodelist.
    #[arg(long, value_delimiter = ',', value_name = "NODE,…")]
    pub scraper_nodes: Vec<crate::domain::SlurmNodeName>,
    /// Alert and recording rules: a Prometheus rule file (YAML), checked by the server with
    /// promtool.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,
}

impl CreateArgs {
    /// The topology the flags name, if any.
    fn store(&self) -> Result<Option<StoreSpec>, Invalid> {
        match (&self.store, &self.remote_write_url, &self.query_url) {
            (Some(word), _, _) => StoreSpec::parse_word(word).map(Some),
            (None, Some(w), Some(q)) => Ok(Some(StoreSpec::Remote(RemoteStore {
                remote_write_url: w.clone(),
                query_url: q.clone(),
                headers: Default::default(),
                basic_auth: None,
                bearer_token_file: self.store_bearer_token_file.clone(),
            }))),
            _ => Ok(None),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub session: SessionArg,
    #[command(flatten)]
    pub slurm: SlurmOptions,
    /// Block until Prometheus is running and ready, showing the scheduler's state meanwhile.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before failing (the job stays submitted), e.g. 5m.
    #[arg(long, default_value = "10m", requires = "wait")]
    pub wait_timeout: PromDuration,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only sessions in this state.
    #[arg(long, value_parser = PossibleValuesParser::new(SessionState::ALL.map(SessionState::as_str))
        .try_map(|s: String| s.parse::<SessionState>()))]
    pub state: Option<SessionState>,
}

fn parse_port(s: &str) -> Result<Port, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a port number"))?;
    Port::new(n).map_err(|e: Invalid| e.0)
}

pub async fn run(client: &Client, out: &Output, cmd: SessionCmd) -> Result<(), CliError> {
    match cmd {
        SessionCmd::Create(a) => {
            let store = a
                .store()
                .map_err(|e| CliError::Usage(format!("--store: {e}")))?;
            let scraper_nodes = match a.scraper_nodes.is_empty() {
                true => None,
                false => Some(
                    crate::domain::ScraperNodes::new(a.scraper_nodes)
                        .map_err(|e| CliError::Usage(format!("--scraper-nodes: {e}")))?,
                ),
            };
            let req = CreateSession {
                store,
                scrapers: a.scrapers,
                scraper_nodes,
                run_id: a.session.resolve()?,
                prometheus_port: a.prometheus_port,
                prom_host: a.prom_host,
                scrape_interval: a.scrape_interval,
                retention: a.retention,
                labels: labels(a.labels),
                scrape_benchmon: a.scrape_benchmon,
                rules: match &a.rules {
                    Some(path) => Some(crate::prometheus::rules::RulesSpec::Yaml(
                        std::fs::read_to_string(path).map_err(|e| {
                            CliError::Usage(format!("--rules {}: {e}", path.display()))
                        })?,
                    )),
                    None => None,
                },
            };
            let s = client.create_session(&req).await?;
            out.show(&s, |s| {
                format!(
                    "created session {} (scrape interval {}); next: benchmon session start {} --wait",
                    s.session_id, s.scrape_interval, s.session_id
                )
            });
        }
        SessionCmd::Start(a) => start(client, out, a).await?,
        SessionCmd::Status(a) => {
            let s = client.session(a.session.resolve()?.as_str()).await?;
            out.show(&s, describe);
        }
        SessionCmd::List(a) => {
            let list = client.list_sessions(a.state).await?;
            out.show(&list, |list| table(list));
        }
        SessionCmd::Stop(a) => {
            let id = a.session.resolve()?;
            let p = out.progress(format!("stopping session {id}"));
            let s = client.stop_session(id.as_str()).await?;
            drop(p);
            out.show(&s, describe);
        }
        SessionCmd::Rules(a) => {
            let (session, file) = a.session.resolve_before(a.file, "FILE", |s| Ok(s.into()))?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            let view = client.set_rules(&session, &text).await?;
            out.show(&view, |v| match v.reloaded {
                true => format!("rules of session {} replaced and reloaded", v.session_id),
                false => format!(
                    "rules of session {} replaced; they load when it starts",
                    v.session_id
                ),
            });
        }
        SessionCmd::Delete(a) => {
            let id = a.session.resolve()?;
            client.delete_session(id.as_str()).await?;
            out.show(&serde_json::json!({"deleted": id.as_str()}), |_| {
                format!("deleted session {id}")
            });
        }
    }
    Ok(())
}

async fn start(client: &Client, out: &Output, a: StartArgs) -> Result<(), CliError> {
    let id = a.session.resolve()?;
    let submitted = client.start_session(id.as_str(), &a.slurm).await?;
    let s = if a.wait {
        wait_running(client, out, submitted, a.wait_timeout.as_duration()).await?
    } else {
        submitted
    };
    out.show(&s, |s| {
        if s.state == SessionState::Running {
            describe(s)
        } else {
            format!(
                "submitted session {}: job {} ({}); benchmon session status {} to follow it",
                s.session_id,
                s.job_id.as_deref().unwrap_or("-"),
                scheduler_text(s),
                s.session_id
            )
        }
    });
    Ok(())
}

/// Follows a started session until it runs: short long-polls, with the scheduler's state and
/// reason (`PENDING (Resources)`) shown between them. Fails when the session ends or time runs
/// out; the job is left as it is either way (the message says how to cancel it).
async fn wait_running(
    client: &Client,
    out: &Output,
    mut s: Session,
    limit: Duration,
) -> Result<Session, CliError> {
    let id = s.session_id.to_string();
    let progress = out.progress(waiting_text(&s));
    loop {
        progress.set(waiting_text(&s));
        match s.state {
            SessionState::Running => return Ok(s),
            st if st.is_terminal() || st == SessionState::Stopping => return Err(ended(&s)),
            _ => {}
        }
        let left = limit.saturating_sub(progress.elapsed());
        if left.is_zero() {
            return Err(timed_out(&s, limit));
        }
        let poll = left.min(Duration::from_secs(2)).max(Duration::from_secs(1));
        match client.wait_for(&id, SessionState::Running, poll).await {
            Ok(running) => s = running,
            // 408: not yet; 409: it can no longer get there. Either way, look at it again.
            Err(ClientError::Problem(p)) if p.status == 408 || p.status == 409 => {
                s = client.session(&id).await?;
            }
            Err(e) => return Err(e.into()),
        }
        if s.state != SessionState::Running && progress.elapsed() >= limit {
            return Err(timed_out(&s, limit));
        }
    }
}

fn timed_out(s: &Session, limit: Duration) -> CliError {
    CliError::WaitTimeout {
        session: s.session_id.to_string(),
        waited: human_duration(limit),
        now: format!(
            "it is {} ({}); it stays submitted — `benchmon session stop {}` cancels it",
            s.state.as_str(),
            scheduler_text(s),
            s.session_id
        ),
    }
}

fn ended(s: &Session) -> CliError {
    CliError::SessionEnded {
        session: s.session_id.to_string(),
        state: s.state.as_str().to_owned(),
        reason: s
            .failure_reason
            .clone()
            .unwrap_or_else(|| "stopped while waiting for it to run".into()),
        output_tail: s.output_tail.clone(),
    }
}

/// `PENDING (Resources)`, `RUNNING on vm`, or `no job`.
fn scheduler_text(s: &Session) -> String {
    let mut text = match (&s.scheduler_state, &s.job_id) {
        (Some(st), _) => st.clone(),
        (None, Some(_)) => "submitted".into(),
        (None, None) => "no job".into(),
    };
    if let Some(r) = s
        .scheduler_reason
        .as_deref()
        .filter(|r| !r.is_empty() && *r != "None")
    {
        text.push_str(&format!(" ({r})"));
    }
    if let Some(n) = &s.node {
        text.push_str(&format!(" on {n}"));
    }
    text
}

fn waiting_text(s: &Session) -> String {
    let job = s.job_id.as_deref().unwrap_or("-");
    let what = match s.state {
        SessionState::Starting => "starting, waiting for Prometheus to be ready".to_owned(),
        _ => s.state.as_str().to_owned(),
    };
    format!(
        "session {}: {what} — job {job} {}",
        s.session_id,
        scheduler_text(s)
    )
}

/// One session as `key: value` lines.
/// One line per scraper job of a sharded session: job id, node and state, or what was lost or
/// has gone silent.
fn scrapers_text(s: &Session) -> String {
    s.scraper_jobs
        .iter()
        .map(|j| {
            let state = j.scheduler_state.as_deref().unwrap_or("submitted");
            // Where it runs, else where it was placed.
            let node = match (&j.node, &j.requested_node) {
                (Some(n), _) => format!(" on {n}"),
                (None, Some(n)) => format!(" for {n}"),
                (None, None) => String::new(),
            };
            match (&j.lost, j.open_silence()) {
                (Some(l), _) => format!(
                    "{}: job {}{node} LOST{}, targets {}",
                    j.index,
                    j.job_id,
                    match &l.replaced_by {
                        Some(new) => format!(" (replaced by job {new})"),
                        None => String::new(),
                    },
                    l.targets.join(" ")
                ),
                (None, Some(silence)) => format!(
                    "{}: job {}{node} SILENT since {}, targets {}",
                    j.index,
                    j.job_id,
                    silence.from,
                    silence.targets.join(" ")
                ),
                (None, None) => format!("{}: job {}{node} ({state})", j.index, j.job_id),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn describe(s: &Session) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let ts = |v: &Option<crate::domain::Timestamp>| v.map(|t| t.to_string()).unwrap_or_default();
    let job = match &s.job_id {
        Some(j) => format!("{j} ({})", scheduler_text(s)),
        None => String::new(),
    };
    let prometheus = match &s.prometheus_url {
        Some(u) if s.ready => format!("{u} (ready)"),
        Some(u) => format!("{u} (not ready)"),
        None => String::new(),
    };
    let labels = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    fields(&[
        ("session", s.session_id.to_string()),
        ("state", s.state.as_str().to_owned()),
        ("launcher", format!("{:?}", s.launcher).to_lowercase()),
        // Shown for the sharded topologies only: a plain session's view stays as it was.
        (
            "store",
            match s.store.sharded() {
                true => s.store.kind().to_owned(),
                false => String::new(),
            },
        ),
        ("job", job),
        ("prometheus", prometheus),
        ("scrapers", scrapers_text(s)),
        ("scrape interval", s.scrape_interval.to_string()),
        ("labels", labels),
        ("created", s.created_at.to_string()),
        ("started", ts(&s.started_at)),
        ("running since", ts(&s.running_at)),
        ("stopped", ts(&s.stopped_at)),
        ("failure", opt(&s.failure_reason)),
    ])
}

fn table(list: &[Session]) -> String {
    if list.is_empty() {
        return "no sessions".into();
    }
    let mut t = Table::new(&[
        "SESSION",
        "STATE",
        "JOB",
        "SCHEDULER",
        "PROMETHEUS",
        "CREATED",
    ]);
    for s in list {
        t.row(vec![
            s.session_id.to_string(),
            s.state.as_str().to_owned(),
            s.job_id.clone().unwrap_or_default(),
            s.job_id
                .as_ref()
                .map(|_| scheduler_text(s))
                .unwrap_or_default(),
            s.prometheus_url.clone().unwrap_or_default(),
            s.created_at.to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(subcommand)]
        cmd: SessionCmd,
    }

    #[test]
    fn scraper_nodes_are_a_comma_separated_list_of_node_names() {
        let args = Args::try_parse_from([
            "session",
            "create",
            "b",
            "--store",
            "victoriametrics",
            "--scraper-nodes",
            "bmnode1,bmnode2,vm",
        ])
        .unwrap();
        let SessionCmd::Create(a) = args.cmd else {
            panic!("not create")
        };
        let nodes: Vec<String> = a.scraper_nodes.iter().map(ToString::to_string).collect();
        assert_eq!(nodes, ["bmnode1", "bmnode2", "vm"]);
        let bad = Args::try_parse_from(["session", "create", "b", "--scraper-nodes", "n[1-2]"]);
        assert!(bad.is_err());
    }

    #[test]
    fn a_sharded_session_names_its_store_and_each_scraper_and_what_a_lost_one_scraped() {
        let s: Session = serde_json::from_value(serde_json::json!({
            "session_id": "b", "run_id": "b", "state": "degraded", "prometheus_port": null,
            "prom_host": null, "scrape_interval": "1s", "retention": null, "labels": {},
            "launcher": "slurm", "resources": null, "job_id": "7", "slurm_job_id": "7",
            "scheduler_state": "RUNNING", "scheduler_reason": null, "node": "n1", "port": 1,
            "prometheus_url": null, "ready": true, "created_at": "2025-11-04T10:00:00Z",
            "started_at": null, "running_at": null, "stopped_at": null, "failure_reason": null,
            "output_tail": null, "store": "victoriametrics",
            "scraper_jobs": [
                {"index": 0, "job_id": "8", "scheduler_state": "RUNNING", "node": "n2",
                 "port": 2, "ready": true, "lost": null},
                {"index": 1, "job_id": "9", "scheduler_state": "CANCELLED", "node": "n3",
                 "port": null, "ready": false, "lost": {"at": "2025-11-04T10:01:00Z",
                 "reason": "scancel", "targets": ["n5:9100", "n6:9100"]}},
                {"index": 2, "job_id": "10", "scheduler_state": "RUNNING", "node": "n4",
                 "requested_node": "n4", "port": 3, "ready": true, "lost": null}
            ]
        }))
        .unwrap();
        let mut s = s;
        s.scraper_jobs[2].silences = serde_json::from_value(serde_json::json!([
            {"from": "2025-11-04T10:02:00Z", "noticed_at": "2025-11-04T10:02:15Z", "to": null,
             "node": "n4", "targets": ["n7:9100"], "reason": "silent"}
        ]))
        .unwrap();
        let text = describe(&s);
        assert!(text.contains("store:"), "{text}");
        assert!(text.contains("victoriametrics"), "{text}");
        assert!(
            text.contains(
                "0: job 8 on n2 (RUNNING); 1: job 9 on n3 LOST, targets n5:9100 n6:9100; \
                 2: job 10 on n4 SILENT since 2025-11-04T10:02:00"
            ),
            "{text}"
        );
    }
}
