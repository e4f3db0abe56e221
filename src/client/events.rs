//! Client side of events (phases, progress, notes, alerts).

use super::{Client, ClientError};
use crate::domain::RunId;
use crate::session::{Event, NewEvent};
use reqwest::Method;

impl Client {
    /// Records an event with the session.
    pub async fn add_event(&self, session: &RunId, req: &NewEvent) -> Result<Event, ClientError> {
        let path = format!("/api/v1/sessions/{session}/events");
        self.call(Method::POST, &path, Self::json(req).as_ref())
            .await
    }

    /// The session's events in time order.
    pub async fn events(&self, session: &RunId) -> Result<Vec<Event>, ClientError> {
        let path = format!("/api/v1/sessions/{session}/events");
        self.call(Method::GET, &path, None).await
    }
}
