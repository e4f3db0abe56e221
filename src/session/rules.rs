//! A session's alert and recording rules: checked with promtool before anything uses them,
//! kept as `rules.yml` next to `prometheus.yml` (which then lists it under `rule_files`), and
//! replaced while the job runs by rewriting both files and asking Prometheus to reload.

use super::{CreateSession, Session, SessionError, SessionState, Sessions};
use crate::domain::RunId;
use crate::fsutil;
use crate::prometheus::render_prometheus_config;
use crate::prometheus::rules::{check_rules, CheckError, RulesSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why rules were not taken.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// promtool refused them (its message).
    #[error("promtool check rules: {0}")]
    Invalid(String),
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
    /// Whether the running Prometheus reloaded them (false when the session is not running,
    /// or the site runs Prometheus without the lifecycle API: they load at the next start).
    pub reloaded: bool,
}

impl Sessions {
    async fn check(&self, text: &str) -> Result<(), RulesError> {
        Ok(check_rules(&self.settings.site.prometheus.promtool, text).await?)
    }

    /// Creates a session, its rules (if any) checked by promtool first: a refused rule file
    /// leaves no session behind.
    pub async fn create_with_rules(&self, mut req: CreateSession) -> Result<Session, RulesError> {
        let rules = req.rules.take().map(|r| r.to_text());
        if let Some(text) = &rules {
            self.check(text).await?;
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
        self.check(&text).await?;
        let cell = self.cell_to_change(id).await?;
        let guard = cell.lock().await;
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
            (SessionState::Running, Some(url))
                if self.settings.site.prometheus.enable_lifecycle =>
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

async fn write(path: &std::path::Path, bytes: Vec<u8>) -> Result<(), SessionError> {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || fsutil::write_atomic(&p, &bytes))
        .await
        .map_err(|e| SessionError::io(path, std::io::Error::other(e)))?
        .map_err(|e| SessionError::io(path, e))
}
