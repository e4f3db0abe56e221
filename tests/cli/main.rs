//! CLI tests: the real `benchmon` binary (`CARGO_BIN_EXE_benchmon`) against a server spawned
//! in-process on a real socket, the real dev cluster (`slurm/dev-cluster.sh up`) for sessions
//! and wrapped jobs, and the example scripts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary;
#[path = "../support/mod.rs"]
mod support;

mod collect;
mod crash;
mod errors;
mod events;
mod examples;
mod inspect;
mod push;
mod python_client;
mod retries;
mod session_arg;
mod sessions;
mod windows;
mod wrapper;
