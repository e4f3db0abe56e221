//! The command-line client: `benchmon session|register|deregister|window|collect|push|event|
//! targets|collections|config`, and `benchmon export`, which runs the export engine itself.
//!
//! Every command that works on a session takes it the same way ([`session_arg`]): a
//! positional `SESSION`, `--session SESSION` or `BENCHMON_SESSION`.
//!
//! Every command goes through [`crate::client::Client`] (the same client the tests use), so
//! retries, timeouts and problem decoding behave the same everywhere. Values with a grammar
//! (run ids, host:port, durations, timestamps) are parsed by the same domain types the server
//! uses, so a malformed argument is a usage error before any request is sent.
//!
//! Exit codes: 0 success, 1 the server refused (its problem detail is printed) or could not be
//! reached, 2 usage (clap's own code for parse errors); `collect` also exits 3 when the bundle
//! was written but its verdict is `partial` (unless `--allow-partial`), 4 when it is `empty`
//! and 5 when a `--threshold` failed.

pub mod collect;
/// `benchmon compare` and `benchmon history`: verdicts across bundles, no server.
pub mod compare;
pub mod event;
/// `benchmon export`: the engine against any Prometheus, without a server.
pub mod export;
pub mod first_scrape;
/// `benchmon collections` and `benchmon config`: read-only views of a session.
pub mod inspect;
pub mod output;
pub mod push;
pub mod session;
pub mod session_arg;
pub mod targets;
pub mod window;

use crate::client::{Client, ClientError, RetryPolicy};
use crate::domain::{Host, Invalid, LabelName, Labels, PromDuration};
use clap::Subcommand;
use output::Output;
use std::process::ExitCode;

/// Connection and output flags of every client command (accepted before or after the
/// subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// URL of the benchmon server.
    #[arg(
        long,
        env = "BENCHMON_URL",
        default_value = "http://127.0.0.1:8002",
        global = true,
        help_heading = "Connection and output"
    )]
    pub server: String,
    /// Bearer token, for servers that require one.
    #[arg(
        long,
        env = "BENCHMON_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Connection and output"
    )]
    pub token: Option<String>,
    /// Print the server's JSON instead of tables (for scripts); errors print the problem JSON.
    #[arg(long, global = true, help_heading = "Connection and output")]
    pub json: bool,
    /// Retries after a connection error or a 5xx answer, with exponential backoff and jitter
    /// (a 4xx answer is never retried).
    #[arg(
        long,
        env = "BENCHMON_RETRIES",
        default_value_t = 5,
        global = true,
        help_heading = "Connection and output"
    )]
    pub retries: u32,
    /// Timeout of one request attempt, e.g. 30s (waits and collections get their own time).
    #[arg(
        long,
        env = "BENCHMON_TIMEOUT",
        default_value = "60s",
        global = true,
        help_heading = "Connection and output"
    )]
    pub timeout: PromDuration,
    /// No progress on stderr (no spinner, no progress bar, no progress lines); errors still
    /// print.
    #[arg(
        long,
        short = 'q',
        global = true,
        help_heading = "Connection and output"
    )]
    pub quiet: bool,
}

/// The client subcommands, flattened into `benchmon`'s own.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create, start, inspect, stop and delete monitoring sessions.
    Session(session::SessionArgs),
    /// Register a client (a node with exporters) or a service with a session.
    Register(targets::RegisterArgs),
    /// Remove a client or a service from a session.
    Deregister(targets::DeregisterArgs),
    /// Mark benchmark phases as named windows (open now, close now, or add a past one).
    Window(window::WindowArgs),
    /// Collect a time window of metrics into an artifact bundle.
    Collect(collect::CollectArgs),
    /// Push metrics (text exposition, from a file or stdin) into a running session.
    Push(push::PushArgs),
    /// Record an event (phase, progress, note, alert) with a session, or list them.
    Event(event::EventArgs),
    /// List a session's targets with their scrape health.
    Targets(targets::TargetsArgs),
    /// List a session's collections: bundle, window, verdict, when, where.
    Collections(inspect::CollectionsArgs),
    /// Print what the session's Prometheus was told: prometheus.yml (default), job script,
    /// rules, file_sd.
    Config(inspect::ConfigArgs),
}

impl ClientCommand {
    fn globals(&self) -> &Globals {
        match self {
            ClientCommand::Session(a) => &a.globals,
            ClientCommand::Register(a) => &a.globals,
            ClientCommand::Deregister(a) => &a.globals,
            ClientCommand::Window(a) => &a.globals,
            ClientCommand::Collect(a) => &a.globals,
            ClientCommand::Push(a) => &a.globals,
            ClientCommand::Event(a) => &a.globals,
            ClientCommand::Targets(a) => &a.globals,
            ClientCommand::Collections(a) => &a.globals,
            ClientCommand::Config(a) => &a.globals,
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An argument that parsed but does not make sense (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// `start --wait` ran out of time; the job is still queued or starting.
    #[error("session {session} did not reach running within {waited}: {now}")]
    WaitTimeout {
        session: String,
        waited: String,
        now: String,
    },
    /// A collection was written but its verdict is below what was accepted (exit 3 for
    /// `partial`, 4 for `empty`); the summary has been printed.
    #[error("the collection's quality is {quality}{}", if *.allowed { "" } else { " (--allow-partial accepts partial)" })]
    Quality { quality: String, allowed: bool },
    /// `targets --wait-scraped` ran out of time.
    #[error("targets of session {session} not scraped within {waited}: {pending}{}", if .note.is_empty() { String::new() } else { format!(" ({note})") })]
    NotScraped {
        session: String,
        waited: String,
        pending: String,
        note: String,
    },
    /// A collection's `--threshold` failed (exit code 5).
    #[error("{failed} threshold result(s) failed")]
    ThresholdsFailed { failed: usize },
    /// The session failed (or was stopped) while we waited for it.
    #[error("session {session} is {state}: {reason}")]
    SessionEnded {
        session: String,
        state: String,
        reason: String,
        output_tail: Option<String>,
    },
}

/// Runs a client command and returns the process exit code.
pub async fn run(cmd: ClientCommand) -> ExitCode {
    init_logging();
    let globals = cmd.globals().clone();
    let out = Output::new(globals.json, globals.quiet);
    let result = match connect(&globals) {
        Ok(client) => dispatch(&client, &out, cmd).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => out.error(&e),
    }
}

async fn dispatch(client: &Client, out: &Output, cmd: ClientCommand) -> Result<(), CliError> {
    match cmd {
        ClientCommand::Session(a) => session::run(client, out, a.cmd).await,
        ClientCommand::Register(a) => targets::register(client, out, a.cmd).await,
        ClientCommand::Deregister(a) => targets::deregister(client, out, a.cmd).await,
        ClientCommand::Window(a) => window::run(client, out, a.cmd).await,
        ClientCommand::Collect(a) => collect::run(client, out, a).await,
        ClientCommand::Push(a) => push::run(client, out, a).await,
        ClientCommand::Event(a) => event::run(client, out, a).await,
        ClientCommand::Targets(a) => targets::list(client, out, a).await,
        ClientCommand::Collections(a) => inspect::collections(client, out, a).await,
        ClientCommand::Config(a) => inspect::config(client, out, a).await,
    }
}

fn connect(g: &Globals) -> Result<Client, CliError> {
    let token = g.token.clone().filter(|t| !t.is_empty());
    Ok(Client::new(&g.server, token)?
        .with_retry(RetryPolicy::with_retries(g.retries))
        .with_timeout(g.timeout.as_duration()))
}

/// Retry notices and other client warnings on stderr, without timestamps (`RUST_LOG` overrides).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
}

/// Splits `key=value` (the value may contain `=`).
pub fn split_kv(s: &str) -> Result<(&str, &str), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// A `--label key=value` argument.
pub fn parse_label(s: &str) -> Result<(LabelName, String), String> {
    let (k, v) = split_kv(s)?;
    let name = LabelName::parse(k).map_err(|e: Invalid| e.0)?;
    Ok((name, v.to_owned()))
}

/// Collects `--label` arguments into a label set.
pub fn labels(pairs: Vec<(LabelName, String)>) -> Labels {
    pairs.into_iter().collect()
}

/// The node this runs on: `SLURMD_NODENAME` (passed in by clap) or the host name.
pub fn this_node(given: Option<Host>) -> Result<Host, CliError> {
    if let Some(h) = given {
        return Ok(h);
    }
    let name = nix::unistd::gethostname()
        .map_err(|e| CliError::Usage(format!("cannot read the host name ({e}); pass --node")))?;
    let name = name.to_string_lossy();
    Host::parse(&name).map_err(|e| {
        CliError::Usage(format!(
            "the host name {name:?} is not usable as --node ({e}); pass --node"
        ))
    })
}
