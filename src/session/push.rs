//! Pushing a harness's samples into a running session's Prometheus (see `crate::push`).

use super::{SessionError, SessionState, Sessions};
use crate::domain::{ClientId, RunId, Timestamp};
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
    /// Prometheus's receiver refused a sample (and rolled the request back).
    #[error("the session's Prometheus refused the batch: {0}")]
    Refused(String),
    #[error(transparent)]
    Prometheus(PromError),
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
        let url = match (&session.prometheus_url, session.state) {
            (Some(url), SessionState::Running) => url.clone(),
            _ => {
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
