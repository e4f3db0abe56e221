//! Client side of target registration: clients, services, the targets view and the config.

use super::{Client, ClientError};
use crate::domain::{ClientId, RunId, ServiceName};
use crate::targets::{ClientRegistration, ConfigView, ServiceRegistration, TargetList};
use reqwest::Method;

impl Client {
    /// Registers (or replaces) a client of `session`: a node with exporters.
    pub async fn register_client(
        &self,
        session: &RunId,
        reg: &ClientRegistration,
    ) -> Result<ClientRegistration, ClientError> {
        let path = format!("/api/v1/sessions/{session}/clients");
        self.call(Method::POST, &path, Self::json(reg).as_ref())
            .await
    }

    /// Registers (or replaces) a service's metrics endpoint in `session`.
    pub async fn register_service(
        &self,
        session: &RunId,
        reg: &ServiceRegistration,
    ) -> Result<ServiceRegistration, ClientError> {
        let path = format!("/api/v1/sessions/{session}/services");
        self.call(Method::POST, &path, Self::json(reg).as_ref())
            .await
    }

    pub async fn deregister_client(
        &self,
        session: &RunId,
        client: &ClientId,
    ) -> Result<(), ClientError> {
        let path = format!("/api/v1/sessions/{session}/clients/{client}");
        self.call::<serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    pub async fn deregister_service(
        &self,
        session: &RunId,
        name: &ServiceName,
    ) -> Result<(), ClientError> {
        let path = format!("/api/v1/sessions/{session}/services/{name}");
        self.call::<serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    /// Every registered target, with live health while the session runs.
    pub async fn targets(&self, session: &RunId) -> Result<TargetList, ClientError> {
        let path = format!("/api/v1/sessions/{session}/targets");
        self.call(Method::GET, &path, None).await
    }

    /// The rendered Prometheus config, job script and file_sd files.
    pub async fn config(&self, session: &RunId) -> Result<ConfigView, ClientError> {
        let path = format!("/api/v1/sessions/{session}/config");
        self.call(Method::GET, &path, None).await
    }
}
