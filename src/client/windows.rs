//! Client side of named windows and collections.
//!
//! The request is the server's own type; the result is decoded leniently and keeps unknown
//! fields (`extra`), so `--json` output is exactly what the server sent.

use super::{Client, ClientError};
use crate::domain::{RunId, Timestamp, WindowName};
use crate::session::{CloseWindow, NewWindow, Window};
use reqwest::Method;
use serde::{Deserialize, Serialize};

pub use crate::collect::CollectRequest;

/// What a collection wrote. Every field defaults, so a server that omits one still decodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectResult {
    /// Paths of the files written.
    pub artifacts: Vec<String>,
    pub bundle_dir: String,
    /// Path of `report.html`.
    pub report: Option<String>,
    /// Number of samples written.
    pub samples: u64,
    /// The verdict: `ok`, `partial` or `empty` (absent from servers older than it).
    pub quality: Option<String>,
    /// Why the verdict is not `ok`: `{code, detail, queries?, targets?}`.
    pub quality_reasons: Vec<serde_json::Value>,
    /// Queries that returned no series.
    pub absent_queries: Vec<serde_json::Value>,
    /// Stretches of the window without data.
    pub gaps: Vec<serde_json::Value>,
    pub manifest: serde_json::Value,
    /// Fields this client does not know (kept for `--json`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Client {
    /// Adds a window: open now (no times), open since `start`, or finished (`start` and `end`).
    pub async fn add_window(
        &self,
        session: &RunId,
        req: &NewWindow,
    ) -> Result<Window, ClientError> {
        let path = format!("/api/v1/sessions/{session}/windows");
        self.call(Method::POST, &path, Self::json(req).as_ref())
            .await
    }

    /// Closes an open window at `end` (now when `None`).
    pub async fn close_window(
        &self,
        session: &RunId,
        name: &WindowName,
        end: Option<Timestamp>,
    ) -> Result<Window, ClientError> {
        let path = format!("/api/v1/sessions/{session}/windows/{name}/close");
        let body = Self::json(&CloseWindow { end });
        self.call(Method::POST, &path, body.as_ref()).await
    }

    pub async fn windows(&self, session: &RunId) -> Result<Vec<Window>, ClientError> {
        let path = format!("/api/v1/sessions/{session}/windows");
        self.call(Method::GET, &path, None).await
    }

    pub async fn delete_window(
        &self,
        session: &RunId,
        name: &WindowName,
    ) -> Result<(), ClientError> {
        let path = format!("/api/v1/sessions/{session}/windows/{name}");
        self.call::<serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    /// Collects a window into an artifact bundle. No timeout: a long window takes a while.
    pub async fn collect(
        &self,
        session: &RunId,
        req: &CollectRequest,
    ) -> Result<CollectResult, ClientError> {
        let path = format!("/api/v1/sessions/{session}/collect");
        self.call_within(Method::POST, &path, Self::json(req).as_ref(), None)
            .await
    }

    /// Earlier collections of the session, as the server lists them.
    pub async fn collections(
        &self,
        session: &RunId,
    ) -> Result<Vec<serde_json::Value>, ClientError> {
        let path = format!("/api/v1/sessions/{session}/collections");
        self.call(Method::GET, &path, None).await
    }
}
