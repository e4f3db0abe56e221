//! benchmon: monitoring sessions for HPC benchmarks.
//!
//! Data flows top to bottom: a request enters at [`api`], becomes a [`session`] whose
//! Prometheus job a [`launcher`] runs with a config from [`prometheus`]; registered [`targets`]
//! become file_sd files; [`collect`] picks the Prometheus that serves the window (the job, or an
//! offline one after it) and hands it to the [`export`] engine, which reads the window (range
//! queries, raw samples through remote read) and writes the artifact bundle; [`compare`] reads
//! bundles back to judge runs against each other. Nothing imports a module above it:
//! api → session → launcher / targets / collect → compare / export / prometheus → domain.

/// HTTP routes, OpenAPI, problem+json errors.
pub mod api;
/// Where collection bundles may be written (out_dir resolution).
pub mod artifacts;
/// Command-line client subcommands: tables, JSON, progress, exit codes.
pub mod cli;
/// Typed client for the API (CLI and tests).
pub mod client;
/// A session's collections: request → source Prometheus → export engine → index.
pub mod collect;
/// Verdicts across runs: two bundles compared, many bundles as one KPI history.
pub mod compare;
/// Server configuration: flags, env vars, site TOML.
pub mod config;
/// Validated newtypes for everything that crosses the edge.
pub mod domain;
/// The export engine: windowed queries streamed into artifact bundles with KPIs and a report.
pub mod export;
/// Atomic file writes.
pub mod fsutil;
/// SLURM and local launchers for the Prometheus job.
pub mod launcher;
/// Giving freed memory back to the system after a collection (glibc's `malloc_trim`).
pub mod memory;
/// Free local ports for servers benchmon starts itself.
pub mod net;
/// Samples as Parquet with memory bounded by one row group, for bundle tables.
pub mod parquet_samples;
/// Where a session's files are (`STATE_DIR/sessions/<id>/…`).
pub mod paths;
/// Prometheus config rendering, HTTP API client, streamed remote read, offline Prometheus.
pub mod prometheus;
/// Pushed metrics: text exposition or JSON, validated whole, for remote write.
pub mod push;
/// Session record, store, state machine and job poller.
pub mod session;
/// Building and serving the app.
pub mod startup;
/// Client and service registration, file_sd files, target health.
pub mod targets;
/// Logging and benchmon's own metrics.
pub mod telemetry;
