//! The collection engine against a real Prometheus serving backfilled data with known values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod bundles;
mod chunking;
mod cli;
mod compare;
mod coverage;
mod energy;
mod fallback;
mod fixtures;
mod history;
mod kpis;
mod quality;
mod raw;
mod remote_read;
#[path = "../support/mod.rs"]
mod support;
