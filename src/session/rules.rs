//! A session's alert and recording rules: checked with promtool before anything uses them,
//! kept as `rules.yml` next to `prometheus.yml` (which then lists it under `rule_files`), and
//! replaced while the job runs by rewriting both files and asking Prometheus to reload.
//!
//! A `victoriametrics` session's Prometheus agents evaluate no rules: vmalert does, in the
//! store's job (see `templates/prometheus-job.sh`), so its rules are also checked with
//! `vmalert -dryRun`, and a `PUT` asks that vmalert to reload. A store benchmon does not run
//! is shared: an expression there would see other sessions' series, and its alerts would be
//! written as this session's. Rules on such a session are refused.

use super::{CreateSession, Session, SessionError, SessionState, Sessions};
use crate::domain::{RunId, StoreSpec};
use crate::fsutil;
use crate::prometheus::render_prometheus_config;
use crate::prometheus::rules::{check_rules, check_rules_vmalert, CheckError, RulesSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why rules were not taken.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// promtool refused them (its message).
    #[error("promtool check rules: {0}")]
    Invalid(String),
    /// vmalert (a `victoriametrics` session's evaluator) refused them (its message).
    #[error("vmalert -dryRun: {0}")]
    VmalertInvalid(String),
    /// The session's store cannot evaluate rules (why).
    #[error("{0}")]
    NotEvaluated(String),
    /// promtool could not be run on benchmon's host.
    #[error(transparent)]
    Promtool(CheckError),
    /// The running Prometheus did not take the new rules.
    #[error("Prometheus did not reload its rules: {0}")]
    Reload(String),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<CheckError> for RulesError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Invalid(m) => RulesError::Invalid(m),
            other => RulesError::Promtool(other),
        }
    }
}

/// `PUT /api/v1/sessions/{id}/rules`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRules {
    /// Rule groups, YAML text or JSON, as on create.
    pub rules: RulesSpec,
}

/// The rules a session now has.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RulesView {
    pub session_id: String,
    /// The rule file as written (rules.yml).
    pub rules: String,
    /// Whether the running Prometheus (vmalert, for a `victoriametrics` session) reloaded
    /// them (false when the session is not running, or the site runs Prometheus without the
    /// lifecycle API: they load at the next start).
    pub reloaded: bool,
}

impl Sessions {
    /// promtool's check, then what the session's store needs: vmalert's own check for a
    /// `victoriametrics` session; a remote store takes none.
    async fn check(&self, store: &StoreSpec, text: &str) -> Result<(), RulesError> {
        let vmalert = &self.settings.site.topology.vmalert_command;
        match store {
            StoreSpec::Remote(_) => {
                return Err(RulesError::NotEvaluated(
                    "rules are not evaluated on a store benchmon does not run: the store is \
                     shared, so their expressions would see other sessions' series and their \
                     alerts would be written as this session's; use store \"victoriametrics\" \
                     or \"prometheus\", or the store's own ruler"
                        .into(),
                ))
            }
            StoreSpec::VictoriaMetrics if vmalert.is_empty() => {
                return Err(RulesError::NotEvaluated(
                    "this site runs no vmalert (topology.vmalert_command is empty), which \
                     evaluates the rules of a \"victoriametrics\" session"
                        .into(),
                ))
            }
            _ => {}
        }
        check_rules(&self.settings.site.prometheus.promtool, text).await?;
        if *store == StoreSpec::VictoriaMetrics {
            check_rules_vmalert(vmalert, text)
                .await
                .map_err(|e| match e {
                    CheckError::Invalid(m) => RulesError::VmalertInvalid(m),
                    other => RulesError::Promtool(other),
                })?;
        }
        Ok(())
    }

    /// Creates a session, its rules (if any) checked by promtool first: a refused rule file
    /// leaves no session behind.
    pub async fn create_with_rules(&self, mut req: CreateSession) -> Result<Session, RulesError> {
        let rules = req.rules.take().map(|r| r.to_text());
        if let Some(text) = &rules {
            let store = req
                .store
                .as_ref()
                .unwrap_or(&self.settings.site.topology.store);
            self.check(store, text).await?;
        }
        let session = self.create(req).await?;
        if let Some(text) = rules {
            let cell = self.cell(&session.session_id).await?;
            let path = cell.paths.rules();
            write(&path, text.into_bytes()).await?;
        }
        Ok(session)
    }

    /// Replaces the session's rules; a running Prometheus reloads them (`/-/reload`).
    pub async fn set_rules(&self, id: &RunId, req: SetRules) -> Result<RulesView, RulesError> {
        let text = req.rules.to_text();
        let cell = self.cell_to_change(id).await?;
        self.check(&cell.snapshot().store, &text).await?;
        let guard = cell.lock().await;
        let changed = tokio::fs::read_to_string(cell.paths.rules())
            .await
            .map_or(true, |old| old != text);
        write(&cell.paths.rules(), text.clone().into_bytes()).await?;
        let session = cell.snapshot();
        // A config already rendered (the session was started) must name the rule file now.
        if tokio::fs::try_exists(cell.paths.prometheus_yml())
            .await
            .unwrap_or(false)
        {
            let yml = render_prometheus_config(
                &session.scrape_spec(),
                &cell.paths,
                &self.render_context(),
            )
            .map_err(|e| SessionError::Render {
                what: "prometheus.yml",
                message: e.to_string(),
            })?;
            write(&cell.paths.prometheus_yml(), yml.into_bytes()).await?;
        }
        drop(guard);
        let reloaded = match (&session.state, &session.prometheus_url) {
            // vmalert in the store's job; it runs while the store does.
            (SessionState::Running | SessionState::Degraded, Some(url))
                if session.store == StoreSpec::VictoriaMetrics =>
            {
                match vmalert_url(&cell.paths.endpoint_file(), url) {
                    Some(vmalert) => {
                        self.reload_vmalert(&vmalert, changed).await?;
                        true
                    }
                    None => false,
                }
            }
            (SessionState::Running, Some(url))
                if self.settings.site.prometheus.enable_lifecycle
                    && session.store == StoreSpec::Prometheus =>
            {
                self.reload(url).await?;
                true
            }
            _ => false,
        };
        Ok(RulesView {
            session_id: id.to_string(),
            rules: text,
            reloaded,
        })
    }

    /// Asks the session's Prometheus to re-read its config and rules.
    async fn reload(&self, url: &str) -> Result<(), RulesError> {
        let resp = self
            .http
            .post(format!("{}/-/reload", url.trim_end_matches('/')))
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| RulesError::Reload(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(RulesError::Reload(format!("{status}: {}", body.trim())))
    }
}

/// How long a `PUT …/rules` waits for vmalert to show the new rules.
const VMALERT_RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Sessions {
    /// Asks vmalert to re-read its rule files (changed: `changed`), then waits until it has:
    /// its `/-/reload` only queues the reload, and a file that did not change is not
    /// reloaded at all. Its own counters say when the reload ran and whether it worked.
    async fn reload_vmalert(&self, url: &str, changed: bool) -> Result<(), RulesError> {
        let before = self.vmalert_reloads(url).await;
        let resp = self
            .http
            .get(format!("{url}/-/reload"))
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| RulesError::Reload(format!("vmalert at {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(RulesError::Reload(format!(
                "vmalert at {url} answered {}",
                resp.status()
            )));
        }
        if !changed {
            return Ok(());
        }
        let Some(before) = before else {
            return Err(RulesError::Reload(format!(
                "vmalert at {url} does not show its reload counters (/metrics)"
            )));
        };
        let deadline = tokio::time::Instant::now() + VMALERT_RELOAD_WAIT;
        loop {
            if let Some(now) = self.vmalert_reloads(url).await {
                if now.errors > before.errors || !now.last_ok {
                    return Err(RulesError::Reload(format!(
                        "vmalert at {url} could not load the new rules; see the store job's output"
                    )));
                }
                if now.total > before.total {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(RulesError::Reload(format!(
                    "vmalert at {url} had not reloaded its rules {} s after being asked",
                    VMALERT_RELOAD_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// vmalert's reload counters, from its `/metrics`.
    async fn vmalert_reloads(&self, url: &str) -> Option<ReloadCounters> {
        let text = self
            .http
            .get(format!("{url}/metrics"))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let value = |name: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        };
        Some(ReloadCounters {
            total: value("vmalert_config_last_reload_total")?,
            errors: value("vmalert_config_last_reload_errors_total")?,
            last_ok: value("vmalert_config_last_reload_successful")? == 1.0,
        })
    }
}

/// vmalert's `vmalert_config_last_reload_*` metrics.
struct ReloadCounters {
    total: f64,
    errors: f64,
    last_ok: bool,
}

/// vmalert's address: the store's host, the port the store job published for vmalert.
fn vmalert_url(endpoint_file: &std::path::Path, store_url: &str) -> Option<String> {
    let text = std::fs::read_to_string(endpoint_file).ok()?;
    let port: u16 = text
        .lines()
        .find_map(|l| l.strip_prefix("rules_port="))?
        .trim()
        .parse()
        .ok()?;
    let mut url = url::Url::parse(store_url).ok()?;
    url.set_port(Some(port)).ok()?;
    Some(url.as_str().trim_end_matches('/').to_owned())
}

async fn write(path: &std::path::Path, bytes: Vec<u8>) -> Result<(), SessionError> {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || fsutil::write_atomic(&p, &bytes))
        .await
        .map_err(|e| SessionError::io(path, std::io::Error::other(e)))?
        .map_err(|e| SessionError::io(path, e))
}
