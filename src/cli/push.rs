//! `benchmon push [SESSION] FILE|-`: a harness's metrics in the text exposition format (what
//! client libraries write) pushed into a session, from a file or stdin.

use super::output::Output;
use super::session_arg::SessionArg;
use super::{CliError, Globals};
use crate::client::Client;
use crate::domain::ClientId;
use std::io::Read;

#[derive(Debug, clap::Args)]
#[command(override_usage = "benchmon push [OPTIONS] [SESSION] <FILE>")]
pub struct PushArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(flatten)]
    pub session: SessionArg,
    /// The `client_id` label of every pushed series (e.g. the load generator's name).
    #[arg(long, env = "BENCHMON_CLIENT_ID")]
    pub client_id: Option<ClientId>,
    /// A file in the Prometheus text exposition format, or `-` for stdin. Timestamps (ms) are
    /// optional; the whole file is stored or, on the first bad line, nothing.
    pub file: Option<String>,
}

pub async fn run(client: &Client, out: &Output, a: PushArgs) -> Result<(), CliError> {
    let (session, file) = a
        .session
        .resolve_before(a.file, "FILE", |s| Ok(s.to_owned()))?;
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&file)
            .map_err(|e| CliError::Usage(format!("cannot read {file}: {e}")))?
    };
    let receipt = client
        .push_text(&session, a.client_id.as_ref(), &text)
        .await?;
    out.show(&receipt, |r| {
        format!(
            "pushed {} samples in {} series to session {}",
            r.samples, r.series, session
        )
    });
    Ok(())
}
