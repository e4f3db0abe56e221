//! What a user sends to create and start a session.

use crate::domain::{
    Host, Labels, Port, PromDuration, RunId, ScraperCount, ScraperNodes, SlurmOptions, StoreSpec,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// 1–64 of `[A-Za-z0-9._-]`; also the session id.
    pub run_id: RunId,
    /// Fixed Prometheus port; omit to let the job pick a free port on its node.
    #[serde(default)]
    pub prometheus_port: Option<Port>,
    /// Host name to reach Prometheus by, instead of the node SLURM picks.
    #[serde(default)]
    pub prom_host: Option<Host>,
    /// Prometheus scrape interval (default `15s`).
    #[serde(default)]
    pub scrape_interval: Option<PromDuration>,
    /// TSDB retention (Prometheus's default when omitted).
    #[serde(default)]
    pub retention: Option<PromDuration>,
    /// Labels added to every series of the session: at most 8, names ≤ 1024 bytes, values
    /// ≤ 2048 bytes, 4096 bytes in all (README, "Limits").
    #[serde(default, deserialize_with = "crate::domain::bounded_labels")]
    #[schema(schema_with = crate::domain::label_set_schema)]
    pub labels: Labels,
    /// Also scrape benchmon's own `/metrics` (job `benchmon`).
    #[serde(default)]
    pub scrape_benchmon: bool,
    /// Alert and recording rules (Prometheus rule groups, YAML text or JSON), checked with
    /// `promtool check rules` before the session is created; loaded by its Prometheus. With
    /// `store: "victoriametrics"` vmalert evaluates them in the store's job (also checked with
    /// `vmalert -dryRun`); a store benchmon does not run takes none (422).
    #[serde(default)]
    pub rules: Option<crate::prometheus::rules::RulesSpec>,
    /// Where samples are stored (site default `topology.store`, else `prometheus`).
    #[serde(default)]
    pub store: Option<StoreSpec>,
    /// Scraper jobs of a `victoriametrics` or remote store, 1–64; omit to size them from the
    /// targets' expected series at `start`.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 64)]
    pub scrapers: Option<ScraperCount>,
    /// Nodes for the scrapers of a sharded store, 1–64 node names: scraper i is submitted with
    /// `--nodelist=<entry i mod len>` (site default `topology.scraper_nodes`; omitted, they
    /// take the start request's `nodelist` like the store job).
    #[serde(default)]
    pub scraper_nodes: Option<ScraperNodes>,
}

/// `POST /api/v1/sessions/{id}/start`: the SLURM options; omitted fields take the site defaults.
pub type StartSession = SlurmOptions;
