//! Talking to Prometheus: the config we render for it and the HTTP API we query.

pub mod client;
pub mod config;
pub mod offline;
pub mod remote_read;
pub mod remote_write;

pub use client::PromClient;
pub use config::{render_prometheus_config, RenderContext, ScrapeSpec};
