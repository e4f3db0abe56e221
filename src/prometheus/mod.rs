//! Talking to Prometheus: the config we render for it and the HTTP API we query.

pub mod client;
pub mod config;
pub mod offline;
pub mod remote_read;
pub mod remote_write;
/// Alert and recording rules: the accepted shapes and `promtool check rules`.
pub mod rules;

pub use client::PromClient;
pub use config::{
    redact_store_secrets, render_prometheus_config, render_scraper_config, RenderContext,
    ScrapeSpec, Shard, StoreAuth,
};
