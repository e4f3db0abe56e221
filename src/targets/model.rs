//! Registrations as users send them, and the targets view with live health.

use crate::domain::{
    ClientId, ExporterKind, Host, HostPort, Labels, MetricsEndpoint, RunId, ServiceName,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A client: a node with exporters. `POST /api/v1/clients` (with `session_id`) or
/// `POST /api/v1/sessions/{id}/clients`. Re-registering a `client_id` replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    /// Required on `/api/v1/clients`; on the session route it must match the path if given.
    #[serde(default)]
    pub session_id: Option<RunId>,
    pub client_id: ClientId,
    /// The node's host name (becomes the `node` label).
    pub node: Host,
    /// Exporter kind → `host:port`, e.g. `{"node": "mel2153:9100", "dcgm": "mel2153:9400"}`.
    #[schema(schema_with = exporters_schema)]
    pub exporters: BTreeMap<ExporterKind, HostPort>,
    /// `enable_<kind>`: an exporter is scraped unless its preference is `false`.
    #[serde(default)]
    pub preferences: BTreeMap<String, bool>,
    /// Extra labels on this client's series (bounded as a session's: README, "Limits").
    #[serde(default, deserialize_with = "crate::domain::bounded_labels")]
    #[schema(schema_with = crate::domain::label_set_schema)]
    pub labels: Labels,
}

/// `exporters` in the OpenAPI document: at least one `kind: host:port`.
fn exporters_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let kind = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[a-zA-Z0-9_]{1,64}$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .property_names(Some(kind))
        .min_properties(Some(1))
        .build()
}

impl ClientRegistration {
    /// Whether exporter `kind` is scraped.
    pub fn enabled(&self, kind: &ExporterKind) -> bool {
        self.preferences
            .get(&format!("enable_{kind}"))
            .copied()
            .unwrap_or(true)
    }
}

/// A service under test with a `/metrics` URL. `POST /api/v1/services` (with `session_id`) or
/// `POST /api/v1/sessions/{id}/services`. Re-registering a `name` replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRegistration {
    #[serde(default)]
    pub session_id: Option<RunId>,
    /// The client the service runs on, if any.
    #[serde(default)]
    pub client_id: Option<ClientId>,
    pub name: ServiceName,
    /// http(s) URL; its path becomes the metrics path, its query parameters are kept.
    pub endpoint: MetricsEndpoint,
    /// Extra labels on this service's series (bounded as a session's: README, "Limits").
    #[serde(default, deserialize_with = "crate::domain::bounded_labels")]
    #[schema(schema_with = crate::domain::label_set_schema)]
    pub labels: Labels,
}

/// What a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Exporter,
    Service,
}

/// Live scrape health from Prometheus's `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetHealth {
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    pub last_scrape: Option<String>,
    pub last_error: Option<String>,
    pub last_scrape_duration_seconds: Option<f64>,
    pub scrape_url: String,
}

/// One registered target, with its labels and (while the session runs) live health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    pub kind: TargetKind,
    pub client_id: Option<String>,
    pub node: Option<String>,
    pub exporter: Option<String>,
    pub service: Option<String>,
    /// `host:port` Prometheus scrapes.
    pub address: String,
    /// False when a preference disabled this exporter (it is listed, not scraped).
    pub enabled: bool,
    /// The labels Prometheus attaches (including `__metrics_path__` etc. for services).
    pub labels: BTreeMap<String, String>,
    /// Null while Prometheus is not running or has not discovered the target yet.
    pub health: Option<TargetHealth>,
}

/// `GET /api/v1/sessions/{id}/targets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TargetList {
    pub session_id: String,
    pub clients: Vec<ClientRegistration>,
    pub services: Vec<ServiceRegistration>,
    pub targets: Vec<TargetView>,
    /// Why health is missing, e.g. "session is not running" or Prometheus's error.
    pub health_note: Option<String>,
}

/// `GET /api/v1/sessions/{id}/config`: exactly what Prometheus was (or will be) told; for a
/// sharded session, what each scraper was told.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfigView {
    pub session_id: String,
    /// The session's prometheus.yml (rendered before start too). Null for a sharded session:
    /// its store (VictoriaMetrics, or the site's) scrapes nothing; its scrapers' configs are in
    /// `scrapers`.
    pub prometheus_yml: Option<String>,
    /// The main job's script, running the session's Prometheus or a `victoriametrics`
    /// session's store (rendered at start; null before, and for a remote store).
    pub job_script: Option<String>,
    /// file_sd file name → its JSON content.
    #[schema(value_type = Object)]
    pub file_sd: BTreeMap<String, serde_json::Value>,
    /// The session's rule file (rules.yml), null when it has no rules.
    #[serde(default)]
    pub rules: Option<String>,
    /// A sharded session's scrapers by index, once started (empty otherwise).
    #[serde(default)]
    pub scrapers: Vec<ScraperConfig>,
}

/// What one scraper (a Prometheus agent) of a sharded session was told.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScraperConfig {
    /// Shard index: the `scraper` label of its series.
    pub index: u16,
    /// Its prometheus.yml with a remote store's credentials (header values, basic auth
    /// password) shown as `<redacted>`.
    pub prometheus_yml: String,
    /// Its job script.
    pub job_script: Option<String>,
}
