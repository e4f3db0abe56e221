//! `benchmon register client|service`, `benchmon deregister client|service` and
//! `benchmon targets`.

use super::output::{Output, Table};
use super::session_arg::SessionArg;
use super::{labels, parse_label, split_kv, this_node, CliError, Globals};
use crate::client::Client;
use crate::domain::{
    ClientId, ExporterKind, Host, HostPort, Invalid, LabelName, MetricsEndpoint, PromDuration,
    ServiceName,
};
use crate::targets::{ClientRegistration, ServiceRegistration, TargetList};
use clap::Subcommand;
use std::collections::BTreeMap;

/// Which client: `--client-id`, or the default derived from the job and node.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientOpt {
    /// Client id. Default: `job-<SLURM_JOB_ID>-<node>` inside a SLURM job, else the node name,
    /// so each node of each job is its own client and `deregister client` finds it again.
    #[arg(long, env = "BENCHMON_CLIENT_ID")]
    pub client_id: Option<ClientId>,
    /// The node's host name (becomes the `node` label). Default: SLURMD_NODENAME, else the
    /// host name.
    #[arg(long, env = "SLURMD_NODENAME")]
    pub node: Option<Host>,
}

impl ClientOpt {
    /// The node and the client id, defaults filled in.
    fn resolve(&self) -> Result<(Host, ClientId), CliError> {
        let node = this_node(self.node.clone())?;
        let id = match &self.client_id {
            Some(c) => c.clone(),
            None => default_client_id(std::env::var("SLURM_JOB_ID").ok().as_deref(), &node)
                .map_err(|e| {
                    CliError::Usage(format!(
                        "no usable default client id ({e}); pass --client-id"
                    ))
                })?,
        };
        Ok((node, id))
    }
}

/// `job-<job>-<node>` in a job, `<node>` outside; characters a client id may not have become
/// `-`, and it is cut to 64 characters.
pub fn default_client_id(job: Option<&str>, node: &Host) -> Result<ClientId, Invalid> {
    let raw = match job.filter(|j| !j.is_empty()) {
        Some(j) => format!("job-{j}-{node}"),
        None => node.to_string(),
    };
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    ClientId::parse(&clean)
}

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub cmd: RegisterCmd,
}

#[derive(Debug, Subcommand)]
pub enum RegisterCmd {
    /// Register a client: a node with exporters (re-registering a client id replaces it).
    Client(RegisterClient),
    /// Register a service's /metrics URL (re-registering a name replaces it).
    Service(RegisterService),
}

#[derive(Debug, clap::Args)]
pub struct RegisterClient {
    #[command(flatten)]
    pub session: SessionArg,
    #[command(flatten)]
    pub client: ClientOpt,
    /// An exporter as kind=host:port (e.g. node=mel2153:9100); kind=PORT means this node.
    /// Repeatable; at least one.
    #[arg(long = "exporter", value_name = "KIND=HOST:PORT", required = true, value_parser = parse_exporter)]
    pub exporters: Vec<(ExporterKind, String)>,
    /// Register this exporter kind but do not scrape it (preference enable_<kind>=false).
    #[arg(long = "disable", value_name = "KIND")]
    pub disabled: Vec<ExporterKind>,
    /// A label on this client's series, key=value; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(LabelName, String)>,
}

#[derive(Debug, clap::Args)]
pub struct RegisterService {
    #[command(flatten)]
    pub session: SessionArg,
    /// Service name (becomes the `service` label).
    #[arg(long)]
    pub name: ServiceName,
    /// The service's metrics URL, e.g. http://mel2153:8000/metrics.
    #[arg(long)]
    pub endpoint: MetricsEndpoint,
    /// The client the service runs on.
    #[arg(long, env = "BENCHMON_CLIENT_ID")]
    pub client_id: Option<ClientId>,
    /// A label on this service's series, key=value; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(LabelName, String)>,
}

#[derive(Debug, clap::Args)]
pub struct DeregisterArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub cmd: DeregisterCmd,
}

#[derive(Debug, Subcommand)]
pub enum DeregisterCmd {
    /// Remove a client and its exporters from the session.
    Client {
        #[command(flatten)]
        session: SessionArg,
        #[command(flatten)]
        client: ClientOpt,
    },
    /// Remove a service from the session.
    Service {
        #[command(flatten)]
        session: SessionArg,
        /// Service name.
        #[arg(long)]
        name: ServiceName,
    },
}

#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(flatten)]
    pub session: SessionArg,
    /// Wait until Prometheus has scraped the targets once (all enabled ones, or those of
    /// --client-id / --service), so that a window opened next starts with data; exit 1 if
    /// --wait-timeout passes first.
    #[arg(long)]
    pub wait_scraped: bool,
    /// With --wait-scraped: the exporters of this client; repeatable.
    #[arg(long = "client-id", requires = "wait_scraped")]
    pub client_ids: Vec<ClientId>,
    /// With --wait-scraped: this service; repeatable.
    #[arg(long = "service", requires = "wait_scraped")]
    pub services: Vec<ServiceName>,
    /// With --wait-scraped: how long to wait.
    #[arg(long, default_value = "60s", requires = "wait_scraped")]
    pub wait_timeout: PromDuration,
}

fn parse_exporter(s: &str) -> Result<(ExporterKind, String), String> {
    let (k, v) = split_kv(s)?;
    let kind = ExporterKind::parse(k).map_err(|e: Invalid| e.0)?;
    Ok((kind, v.to_owned()))
}

/// `host:port`, or a bare port on `node`.
fn exporter_address(node: &Host, raw: &str) -> Result<HostPort, CliError> {
    let full = if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
        format!("{}:{raw}", node.authority())
    } else {
        raw.to_owned()
    };
    HostPort::parse(&full).map_err(|e| CliError::Usage(format!("--exporter: {e}")))
}

pub async fn register(client: &Client, out: &Output, cmd: RegisterCmd) -> Result<(), CliError> {
    match cmd {
        RegisterCmd::Client(a) => {
            let (node, client_id) = a.client.resolve()?;
            let mut exporters = BTreeMap::new();
            for (kind, raw) in a.exporters {
                exporters.insert(kind, exporter_address(&node, &raw)?);
            }
            let preferences = a
                .disabled
                .iter()
                .map(|k| (format!("enable_{k}"), false))
                .collect();
            let reg = ClientRegistration {
                session_id: None,
                client_id,
                node,
                exporters,
                preferences,
                labels: labels(a.labels),
            };
            let session = a.session.resolve()?;
            let done = client.register_client(&session, &reg).await?;
            out.show(&done, |c| {
                let list = c
                    .exporters
                    .iter()
                    .map(|(k, addr)| {
                        let off = if c.enabled(k) { "" } else { " (disabled)" };
                        format!("{k}={addr}{off}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "registered client {} on {} in session {}: {list}",
                    c.client_id, c.node, session
                )
            });
        }
        RegisterCmd::Service(a) => {
            let reg = ServiceRegistration {
                session_id: None,
                client_id: a.client_id,
                name: a.name,
                endpoint: a.endpoint,
                labels: labels(a.labels),
            };
            let session = a.session.resolve()?;
            let done = client.register_service(&session, &reg).await?;
            out.show(&done, |s| {
                format!(
                    "registered service {} ({}) in session {}",
                    s.name, s.endpoint, session
                )
            });
        }
    }
    Ok(())
}

pub async fn deregister(client: &Client, out: &Output, cmd: DeregisterCmd) -> Result<(), CliError> {
    let (session, kind, name) = match cmd {
        DeregisterCmd::Client { session, client: c } => {
            let (session, (_, id)) = (session.resolve()?, c.resolve()?);
            client.deregister_client(&session, &id).await?;
            (session, "client", id.to_string())
        }
        DeregisterCmd::Service { session, name } => {
            let session = session.resolve()?;
            client.deregister_service(&session, &name).await?;
            (session, "service", name.to_string())
        }
    };
    let v = serde_json::json!({"session_id": session.as_str(), "deregistered": kind, "name": name});
    out.show(&v, |_| {
        format!("deregistered {kind} {name} from session {session}")
    });
    Ok(())
}

pub async fn list(client: &Client, out: &Output, a: TargetsArgs) -> Result<(), CliError> {
    let session = a.session.resolve()?;
    if a.wait_scraped {
        let chosen = super::first_scrape::Chosen {
            clients: a.client_ids,
            services: a.services,
        };
        return super::first_scrape::wait(client, out, &session, &chosen, &a.wait_timeout).await;
    }
    let list = client.targets(&session).await?;
    out.show(&list, table);
    Ok(())
}

fn table(list: &TargetList) -> String {
    if list.targets.is_empty() {
        return format!("no targets registered in session {}", list.session_id);
    }
    let mut t = Table::new(&[
        "KIND",
        "CLIENT",
        "NODE",
        "NAME",
        "ADDRESS",
        "SCRAPED",
        "HEALTH",
        "LAST SCRAPE",
        "ERROR",
    ]);
    for v in &list.targets {
        let health = v.health.as_ref();
        t.row(vec![
            format!("{:?}", v.kind).to_lowercase(),
            v.client_id.clone().unwrap_or_default(),
            v.node.clone().unwrap_or_default(),
            v.exporter
                .clone()
                .or_else(|| v.service.clone())
                .unwrap_or_default(),
            v.address.clone(),
            if v.enabled { "yes" } else { "no" }.into(),
            health.map(|h| h.health.clone()).unwrap_or_default(),
            health
                .and_then(|h| h.last_scrape.clone())
                .unwrap_or_default(),
            health
                .and_then(|h| h.last_error.clone())
                .unwrap_or_default(),
        ]);
    }
    let mut text = t.render();
    if let Some(note) = &list.health_note {
        text.push_str(&format!("\nhealth: {note}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_client_id_names_the_job_and_the_node() {
        let node = Host::parse("mel2153").unwrap();
        assert_eq!(
            default_client_id(Some("4711"), &node).unwrap().as_str(),
            "job-4711-mel2153"
        );
        assert_eq!(default_client_id(None, &node).unwrap().as_str(), "mel2153");
        let v6 = Host::parse("::1").unwrap();
        assert_eq!(
            default_client_id(Some("1"), &v6).unwrap().as_str(),
            "job-1---1"
        );
    }

    #[test]
    fn a_bare_port_means_an_exporter_on_this_node() {
        let node = Host::parse("vm").unwrap();
        assert_eq!(exporter_address(&node, "9100").unwrap().as_str(), "vm:9100");
        assert_eq!(
            exporter_address(&node, "other:9400").unwrap().as_str(),
            "other:9400"
        );
        assert!(exporter_address(&node, "nope").is_err());
    }
}
