//! The collection engine against a real Prometheus serving backfilled data with known values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bundles;
mod chunking;
mod cli;
#[path = "../common/mod.rs"]
mod common;
mod coverage;
mod helpers;
mod kpis;
mod remote_read;
