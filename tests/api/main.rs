//! API integration tests: a real benchmon server on a free port, real SLURM (the dev cluster
//! from `slurm/dev-cluster.sh up`) and real Prometheus, driven through `benchmon::client`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adoption;
mod auth_metrics;
mod collect;
mod compare;
mod events;
mod files;
mod fuzz;
mod golden;
mod limits;
mod multi_node;
mod openapi;
mod placement;
mod push;
mod push_sharded;
mod rendering;
mod restart;
mod rules;
mod scaleout;
mod sessions_local;
mod sessions_slurm;
mod storage;
#[path = "../support/mod.rs"]
mod support;
mod targets;
mod topology;
mod validation;
mod vm_export;
mod vm_rules;
mod web_view;
mod windows;
