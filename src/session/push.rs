//! Pushing a harness's samples into a running session's store (see `crate::push`): its
//! Prometheus, or with the sharded topology the store the scrapers write to.

use super::{SessionError, Sessions};
use crate::domain::{ClientId, RunId, StoreSpec, Timestamp};
use crate::prometheus::client::PromError;
use crate::push::{json::PushMetrics, Batch, BatchContext, PushError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A push body, decoded but not yet validated.
pub enum PushBody {
    /// Prometheus text exposition.
    Text(String),
    Json(PushMetrics),
}

/// What a push stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushReceipt {
    pub samples: usize,
    pub series: usize,
}

/// Why a push stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PushFailure {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Invalid(#[from] PushError),
    /// The store refused a sample (Prometheus's receiver rolls the request back).
    #[error("the session's store refused the batch: {0}")]
    Refused(String),
    #[error(transparent)]
    Prometheus(PromError),
}

/// Where a push goes: the store's own remote-write endpoint — the session's Prometheus or
/// VictoriaMetrics job (at `prometheus_url`), or the site store's `remote_write_url`, whose
/// query URL may be another service.
fn write_url(store: &StoreSpec, prometheus_url: Option<&str>) -> Option<String> {
    match (store, prometheus_url) {
        (StoreSpec::Remote(r), _) => Some(r.remote_write_url.to_string()),
        (_, Some(base)) => Some(crate::prometheus::remote_write::endpoint(base)),
        (_, None) => None,
    }
}

impl Sessions {
    /// Validates a push against the session (running, its labels, its life) and remote-writes
    /// it whole.
    pub async fn push_metrics(
        &self,
        id: &RunId,
        client_id: Option<&ClientId>,
        body: PushBody,
    ) -> Result<PushReceipt, PushFailure> {
        let session = self.get(id).await?;
        // A degraded sharded session's store still takes samples (only a scraper was lost).
        let url = session
            .state
            .is_live()
            .then(|| write_url(&session.store, session.prometheus_url.as_deref()))
            .flatten();
        let url = match url {
            Some(url) => url,
            None => {
                return Err(SessionError::Conflict {
                    id: id.clone(),
                    state: session.state.as_str(),
                    action: "push metrics to",
                }
                .into())
            }
        };
        let session_names: Vec<&str> = session.labels.keys().map(|k| k.as_str()).collect();
        let samples = match body {
            PushBody::Text(text) => crate::push::text::parse(&text, &session_names)?,
            PushBody::Json(push) => crate::push::json::parse(push, &session_names)?,
        };
        let mut labels: Vec<(&str, &str)> = vec![
            ("session", session.run_id.as_str()),
            ("run_id", session.run_id.as_str()),
            ("source", "push"),
        ];
        labels.extend(session.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(c) = client_id {
            labels.push(("client_id", c.as_str()));
        }
        let ctx = BatchContext {
            labels,
            not_before_ms: session
                .started_at
                .unwrap_or(session.created_at)
                .unix_millis(),
            now_ms: Timestamp::now().unix_millis(),
        };
        let batch = Batch::new(samples, &ctx)?;
        let http = super::credentials::store_client(&session.store, &self.http)
            .map_err(|e| PushFailure::Refused(format!("the store's credentials: {e}")))?;
        match crate::prometheus::remote_write::send(&http, &url, &batch).await {
            Ok(()) => Ok(PushReceipt {
                samples: batch.samples,
                series: batch.series.len(),
            }),
            Err(PromError::Status { status, body, .. }) if (400..500).contains(&status) => {
                Err(PushFailure::Refused(body))
            }
            Err(e) => Err(PushFailure::Prometheus(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RemoteStore, StoreUrl};

    #[test]
    fn a_push_goes_to_the_job_store_or_the_site_store_remote_write_url() {
        let job = "http://n1:9090/";
        assert_eq!(
            write_url(&StoreSpec::Prometheus, Some(job)).as_deref(),
            Some("http://n1:9090/api/v1/write")
        );
        assert_eq!(
            write_url(&StoreSpec::VictoriaMetrics, Some(job)).as_deref(),
            Some("http://n1:9090/api/v1/write")
        );
        assert_eq!(write_url(&StoreSpec::VictoriaMetrics, None), None);
        let site = StoreSpec::Remote(RemoteStore {
            remote_write_url: StoreUrl::parse("http://mimir:8080/api/v1/push").unwrap(),
            query_url: StoreUrl::parse("http://mimir-query:8080/prometheus").unwrap(),
            headers: Default::default(),
            basic_auth: None,
            bearer_token_file: None,
        });
        assert_eq!(
            write_url(&site, Some("http://mimir-query:8080/prometheus")).as_deref(),
            Some("http://mimir:8080/api/v1/push")
        );
    }
}
