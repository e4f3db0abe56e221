//! Synthetic exporters for the ingest benchmark (`examples/bench-ingest.sh`): one process
//! serving `/metrics` on many ports, each port a target with the same number of series.
//!
//! A target exposes `--series` series in 20 families (`synth_f00_total` … `synth_f19`, labels
//! `target` and `idx`): even families are counters growing at a per-series rate, odd ones gauges
//! with two decimals that change at every scrape, so the store compresses them about as well as
//! a real node exporter's values, not as well as constants. Each body is rendered at its
//! request (the labels are rendered once), so serving a scrape costs little next to ingesting
//! it.
//!
//! Prints `ADDRESS:PORT` of every target on stdout, one per line, then `ready`, and serves until
//! killed.
//!
//!     cargo build --release --example synth-exporter
//!     target/release/examples/synth-exporter --listen 127.0.0.1 --targets 100 --series 1000

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Metric families per target; `--series` is spread over them.
const FAMILIES: usize = 20;

struct Target {
    /// `name{labels} ` of every series, rendered once.
    prefixes: Vec<String>,
    /// When the process started: counters grow from it.
    started: Instant,
}

fn parse_args() -> Result<(IpAddr, usize, usize), String> {
    let mut listen: IpAddr = [127, 0, 0, 1].into();
    let (mut targets, mut series) = (10usize, 1000usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--targets" => targets = value.parse().map_err(|e| format!("--targets: {e}"))?,
            "--series" => series = value.parse().map_err(|e| format!("--series: {e}"))?,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (--listen IP --targets N --series S)"
                ))
            }
        }
    }
    if targets == 0 || series == 0 {
        return Err("--targets and --series must be at least 1".into());
    }
    Ok((listen, targets, series))
}

/// The `name{labels} ` of series `i` of target `t`, and whether it is a counter.
fn prefix(t: usize, i: usize) -> String {
    let family = i % FAMILIES;
    let suffix = if family % 2 == 0 { "_total" } else { "" };
    format!(
        "synth_f{family:02}{suffix}{{target=\"{t}\",idx=\"{}\"}} ",
        i / FAMILIES
    )
}

async fn metrics(State(target): State<Arc<Target>>) -> impl IntoResponse {
    let elapsed = target.started.elapsed();
    let secs = elapsed.as_secs_f64();
    let tick = elapsed.as_millis() as u64 / 250;
    let mut body = String::with_capacity(target.prefixes.len() * 48);
    for (i, p) in target.prefixes.iter().enumerate() {
        body.push_str(p);
        if (i % FAMILIES) % 2 == 0 {
            // A counter: (i mod 97) + 1 per second.
            let _ = writeln!(body, "{}", (secs * ((i % 97) + 1) as f64).floor());
        } else {
            // A gauge in 0.00 … 99.99, a new value every 250 ms.
            let v = (i as u64 * 7919 + tick * 104_729) % 10_000;
            let _ = writeln!(body, "{}.{:02}", v / 100, v % 100);
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (listen, targets, series) = parse_args().map_err(|e| {
        eprintln!("synth-exporter: {e}");
        e
    })?;
    let started = Instant::now();
    let mut out = String::new();
    let mut servers = tokio::task::JoinSet::new();
    for t in 0..targets {
        let listener = tokio::net::TcpListener::bind((listen, 0)).await?;
        let address = listener.local_addr()?;
        let target = Arc::new(Target {
            prefixes: (0..series).map(|i| prefix(t, i)).collect(),
            started,
        });
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(target);
        servers.spawn(async move { axum::serve(listener, app).await });
        let _ = writeln!(out, "{address}");
    }
    out.push_str("ready\n");
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    drop(stdout);
    while let Some(done) = servers.join_next().await {
        done??;
    }
    Ok(())
}
