//! A small Prometheus HTTP API client: readiness, build info, targets.
//! Range queries for collection stream through `collect::fetch` instead.

use serde::Deserialize;
use std::collections::BTreeMap;
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

    /// An instant query's vector (`/api/v1/query`, at `at_ms` or now): each series' labels and
    /// value (a value Prometheus wrote as text that is not a number is left out).
    pub async fn instant_vector(
        &self,
        query: &str,
        at_ms: Option<i64>,
        timeout: Duration,
    ) -> Result<Vec<InstantSample>, PromError> {
        #[derive(Deserialize)]
        struct Vector {
            result: Vec<Sample>,
        }
        #[derive(Deserialize)]
        struct Sample {
            metric: BTreeMap<String, String>,
            value: (f64, String),
        }
        let mut form = vec![("query", query.to_owned())];
        if let Some(ms) = at_ms {
            form.push((
                "time",
                format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)),
            ));
        }
        let v: Vector = self.get_api_within("/api/v1/query", &form, timeout).await?;
        Ok(v.result
            .into_iter()
            .filter_map(|s| {
                Some(InstantSample {
                    value: s.value.1.parse().ok()?,
                    metric: s.metric,
                })
            })
            .collect())
    }

    /// The time (ms) of the newest `up` sample each scraper of sharded session `run_id` has in
    /// this store, by shard index (`max by (scraper) (timestamp(up{session=…}))`). A scraper
    /// the store has nothing recent of (past its lookback) is absent.
    pub async fn newest_up_by_scraper(
        &self,
        run_id: &crate::domain::RunId,
        timeout: Duration,
    ) -> Result<BTreeMap<u16, i64>, PromError> {
        let query = format!("max by (scraper) (timestamp({}))", up_of(run_id));
        let v = self.instant_vector(&query, None, timeout).await?;
        Ok(v.iter()
            .filter_map(|s| Some((s.scraper()?, s.millis())))
            .collect())
    }

    /// How far each scraper of sharded session `run_id` has certainly reached, by shard index:
    /// the oldest of its targets' newest `up` samples, among the targets heard within
    /// `recent_ms` of its newest one (a target deregistered or gone longer does not hold it
    /// back). A scraper spreads its targets' scrapes over the interval and remote-writes them
    /// on several queues, so its newest `up` alone does not say that every target's samples up
    /// to that time are in.
    pub async fn reached_by_scraper(
        &self,
        run_id: &crate::domain::RunId,
        recent_ms: i64,
        timeout: Duration,
    ) -> Result<BTreeMap<u16, i64>, PromError> {
        let query = format!("timestamp({})", up_of(run_id));
        let v = self.instant_vector(&query, None, timeout).await?;
        let mut by_scraper: BTreeMap<u16, Vec<i64>> = BTreeMap::new();
        for s in &v {
            if let Some(index) = s.scraper() {
                by_scraper.entry(index).or_default().push(s.millis());
            }
        }
        Ok(by_scraper
            .into_iter()
            .filter_map(|(index, times)| Some((index, reached(&times, recent_ms)?)))
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

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub metric: BTreeMap<String, String>,
    pub value: f64,
}

impl InstantSample {
    /// Its `scraper` label (a sharded session's shard index), if a number.
    fn scraper(&self) -> Option<u16> {
        self.metric.get("scraper")?.parse().ok()
    }

    /// Its value as milliseconds, for a `timestamp()` in seconds.
    fn millis(&self) -> i64 {
        (self.value * 1000.0).round() as i64
    }
}

/// `up{session="…"}` of a session.
fn up_of(run_id: &crate::domain::RunId) -> String {
    format!(
        "up{{session={}}}",
        crate::domain::yaml_quote(run_id.as_str())
    )
}

/// The oldest of `times` within `recent_ms` of the newest; `None` for no times.
fn reached(times: &[i64], recent_ms: i64) -> Option<i64> {
    let newest = times.iter().copied().max()?;
    times
        .iter()
        .copied()
        .filter(|&t| t >= newest - recent_ms)
        .min()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_scraper_has_reached_its_slowest_recent_target() {
        assert_eq!(super::reached(&[], 15_000), None);
        assert_eq!(super::reached(&[10_000, 9_500, 9_900], 15_000), Some(9_500));
        // A target last heard 60 s before the newest (deregistered) does not hold it back.
        assert_eq!(
            super::reached(&[70_000, 10_000, 69_000], 15_000),
            Some(69_000)
        );
    }
}
