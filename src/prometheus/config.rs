//! Renders a session's `prometheus.yml` from `templates/prometheus.yml`.
//!
//! Every user value is either a validated newtype (label names, durations) or written as a
//! JSON string literal, which is a valid YAML double-quoted scalar: quotes, newlines, `{{`, `#`
//! and YAML specials in label values cannot change the document's structure.

use crate::domain::{Labels, PromDuration, RunId};
use crate::paths::SessionPaths;
use askama::Template;

#[derive(Template)]
#[template(path = "prometheus.yml")]
struct PrometheusYml<'a> {
    run_id: &'a str,
    version: &'a str,
    scrape_interval: &'a PromDuration,
    sd_refresh_interval: &'a PromDuration,
    labels: &'a Labels,
    self_sd: String,
    clients_glob: String,
    services_glob: String,
    /// (scheme, host:port) of benchmon itself when the session opted in.
    benchmon: Option<(String, String)>,
    /// The site's rule packs, then the session's rule file when it has one.
    rule_files: Vec<String>,
    /// Set for a scraper of a sharded session.
    shard: Option<&'a Shard>,
}

/// A scraper's share of a sharded session: it keeps the targets whose address hashes to
/// `index` modulo `count`, labels every series `scraper=<index>`, and remote-writes them.
pub struct Shard {
    pub index: u16,
    pub count: u16,
    pub remote_write_url: String,
    /// Credentials for the store (a remote store's; none for benchmon's own).
    pub auth: StoreAuth,
}

/// A remote store's credentials as the scraper config carries them: the values quoted as YAML
/// scalars (the file is the scraper's own, mode 0600); the token stays in its file.
#[derive(Debug, Clone, Default)]
pub struct StoreAuth {
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub bearer_token_file: Option<String>,
}

impl StoreAuth {
    pub fn of(store: &crate::domain::RemoteStore) -> StoreAuth {
        StoreAuth {
            headers: store
                .headers
                .iter()
                .map(|(k, v)| (k.to_owned(), v.expose().to_owned()))
                .collect(),
            basic_auth: store
                .basic_auth
                .as_ref()
                .map(|b| (b.username.to_string(), b.password.expose().to_owned())),
            bearer_token_file: store.bearer_token_file.as_ref().map(ToString::to_string),
        }
    }
}

/// A scraper's config as a view shows it: the `remote_write` section's header values and basic
/// auth password (a remote store's credentials; the file itself is the scraper's, mode 0600)
/// replaced by `<redacted>`, everything else as the scraper was told. Works on the text the
/// template renders: a header name is an HTTP token, so its value starts after the first `: `.
pub fn redact_store_secrets(yml: &str) -> String {
    let redacted = crate::domain::yaml_quote(crate::domain::Secret::REDACTED);
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut in_remote_write = false;
    let mut headers_indent: Option<usize> = None;
    let mut out = String::with_capacity(yml.len());
    for line in yml.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let trimmed = body.trim_start();
        if !body.is_empty() && indent(body) == 0 {
            in_remote_write = trimmed == "remote_write:";
            headers_indent = None;
        }
        let mut secret_key = None;
        if in_remote_write && !trimmed.is_empty() {
            if headers_indent.is_some_and(|h| indent(body) <= h) {
                headers_indent = None;
            }
            if headers_indent.is_some() {
                secret_key = trimmed.split_once(": ").map(|(k, _)| k);
            } else if trimmed == "headers:" {
                headers_indent = Some(indent(body));
            } else if trimmed.starts_with("password: ") {
                secret_key = Some("password");
            }
        }
        match secret_key {
            Some(key) => {
                out.push_str(&body[..indent(body)]);
                out.push_str(key);
                out.push_str(": ");
                out.push_str(&redacted);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// What of a session its scrape config depends on (the session record lives above this
/// module; it hands these over).
pub struct ScrapeSpec<'a> {
    pub run_id: &'a RunId,
    pub scrape_interval: &'a PromDuration,
    pub labels: &'a Labels,
    /// Also scrape benchmon's own `/metrics`.
    pub scrape_benchmon: bool,
}

/// Site facts the config needs besides the session.
pub struct RenderContext {
    pub sd_refresh_interval: PromDuration,
    /// How Prometheus reaches benchmon (for `scrape_benchmon`).
    pub benchmon_url: String,
    /// The site's rule packs (absolute paths, checked at startup).
    pub rule_packs: Vec<String>,
}

mod filters {
    /// Quotes a value as a YAML scalar.
    pub fn yaml<T: std::fmt::Display>(s: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::domain::yaml_quote(&s.to_string()))
    }
}

/// Renders the config for `session`, whose files are at `paths`.
pub fn render_prometheus_config(
    session: &ScrapeSpec<'_>,
    paths: &SessionPaths,
    ctx: &RenderContext,
) -> askama::Result<String> {
    render(session, paths, ctx, None)
}

/// Renders the config of one scraper (a Prometheus agent) of a sharded session.
pub fn render_scraper_config(
    session: &ScrapeSpec<'_>,
    paths: &SessionPaths,
    ctx: &RenderContext,
    shard: &Shard,
) -> askama::Result<String> {
    render(session, paths, ctx, Some(shard))
}

fn render(
    session: &ScrapeSpec<'_>,
    paths: &SessionPaths,
    ctx: &RenderContext,
    shard: Option<&Shard>,
) -> askama::Result<String> {
    let file_sd = paths.file_sd();
    let benchmon = session
        .scrape_benchmon
        .then(|| url::Url::parse(&ctx.benchmon_url).ok())
        .flatten()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some((
                u.scheme().to_owned(),
                format!("{host}:{}", u.port_or_known_default()?),
            ))
        });
    PrometheusYml {
        run_id: session.run_id.as_str(),
        version: env!("CARGO_PKG_VERSION"),
        scrape_interval: session.scrape_interval,
        sd_refresh_interval: &ctx.sd_refresh_interval,
        labels: session.labels,
        self_sd: paths.self_sd().to_string_lossy().into_owned(),
        clients_glob: file_sd.join("client-*.json").to_string_lossy().into_owned(),
        services_glob: file_sd
            .join("service-*.json")
            .to_string_lossy()
            .into_owned(),
        benchmon,
        shard,
        // Rules are optional; a session without them keeps the config it always had.
        // A scraper is a Prometheus agent: it evaluates no rules.
        rule_files: if shard.is_some() {
            Vec::new()
        } else {
            ctx.rule_packs
                .iter()
                .cloned()
                .chain(
                    paths
                        .rules()
                        .exists()
                        .then(|| paths.rules().to_string_lossy().into_owned()),
                )
                .collect()
        },
    }
    .render()
    .map(|mut text| {
        text.push('\n');
        text
    })
}
