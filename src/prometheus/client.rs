//! A small Prometheus HTTP API client: readiness, build info, targets.
//! Range queries for collection stream through `collect::fetch` instead.

use serde::Deserialize;
use std::time::Duration;

/// Errors talking to Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("request to Prometheus at {url} failed: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("Prometheus at {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Prometheus at {url} returned an error: {error_type}: {error}")]
    Api {
        url: String,
        error_type: String,
        error: String,
    },
}

/// Client for one Prometheus base URL.
#[derive(Clone)]
pub struct PromClient {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(default)]
    error: String,
}

/// One active target as Prometheus reports it in `/api/v1/targets`.
#[derive(Debug, Clone, Deserialize)]
pub struct ActiveTarget {
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(rename = "scrapeUrl")]
    pub scrape_url: String,
    pub health: String,
    #[serde(rename = "lastError", default)]
    pub last_error: String,
    #[serde(rename = "lastScrape", default)]
    pub last_scrape: String,
    #[serde(rename = "lastScrapeDuration", default)]
    pub last_scrape_duration: f64,
    #[serde(rename = "scrapePool", default)]
    pub scrape_pool: String,
}

#[derive(Deserialize)]
struct TargetsData {
    #[serde(rename = "activeTargets", default)]
    active_targets: Vec<ActiveTarget>,
}

impl PromClient {
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        PromClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Whether `/-/ready` answers 200.
    pub async fn ready(&self) -> bool {
        let req = self
            .http
            .get(self.url("/-/ready"))
            .timeout(Duration::from_secs(3));
        matches!(req.send().await, Ok(r) if r.status().is_success())
    }

    /// GETs an API path and unwraps Prometheus's `{status, data}` envelope.
    pub async fn get_api<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, PromError> {
        self.get_api_within(path, query, Duration::from_secs(30))
            .await
    }

    /// [`Self::get_api`] giving up after `timeout`.
    pub async fn get_api_within<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<T, PromError> {
        let url = self.url(path);
        let http_err = |source| PromError::Http {
            url: url.clone(),
            source,
        };
        let send = || self.http.get(&url).query(query).timeout(timeout).send();
        // A GET is safe to repeat: one more try after a connection that failed to open (a
        // loaded node, a name lookup racing an /etc/hosts rewrite) before giving up.
        let resp = match send().await {
            Err(e) if e.is_connect() => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                send().await
            }
            other => other,
        }
        .map_err(http_err)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(http_err)?;
        let env: Envelope<T> = serde_json::from_slice(&body).map_err(|_| PromError::Status {
            url: url.clone(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        })?;
        match (env.status.as_str(), env.data) {
            ("success", Some(d)) => Ok(d),
            _ => Err(PromError::Api {
                url,
                error_type: env.error_type,
                error: env.error,
            }),
        }
    }

    /// Active targets with their health.
    pub async fn targets(&self) -> Result<Vec<ActiveTarget>, PromError> {
        let d: TargetsData = self
            .get_api("/api/v1/targets", &[("state", "active".into())])
            .await?;
        Ok(d.active_targets)
    }

    /// The time (ms) of the newest `up` sample each scraper of sharded session `run_id` has in
    /// this store, by shard index (`max by (scraper) (timestamp(up{session=…}))`). A scraper
    /// the store has nothing recent of (past its lookback) is absent.
    pub async fn newest_up_by_scraper(
        &self,
        run_id: &crate::domain::RunId,
        timeout: Duration,
    ) -> Result<std::collections::BTreeMap<u16, i64>, PromError> {
        #[derive(Deserialize)]
        struct Vector {
            result: Vec<Sample>,
        }
        #[derive(Deserialize)]
        struct Sample {
            metric: std::collections::BTreeMap<String, String>,
            value: (f64, String),
        }
        let selector = format!(
            "up{{session={}}}",
            crate::domain::yaml_quote(run_id.as_str())
        );
        let query = format!("max by (scraper) (timestamp({selector}))");
        let v: Vector = self
            .get_api_within("/api/v1/query", &[("query", query)], timeout)
            .await?;
        Ok(v.result
            .into_iter()
            .filter_map(|s| {
                let index = s.metric.get("scraper")?.parse().ok()?;
                let secs: f64 = s.value.1.parse().ok()?;
                Some((index, (secs * 1000.0).round() as i64))
            })
            .collect())
    }

    /// The server's version from its build info; `None` when it answers without one, as
    /// VictoriaMetrics does (`{"data":{}}`), which is how a VictoriaMetrics is recognised.
    pub async fn version(&self) -> Result<Option<String>, PromError> {
        #[derive(Deserialize)]
        struct Build {
            version: Option<String>,
        }
        let b: Build = self.get_api("/api/v1/status/buildinfo", &[]).await?;
        Ok(b.version.filter(|v| !v.is_empty()))
    }
}
