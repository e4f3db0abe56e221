//! `benchmon export`: the collection engine against any Prometheus (an old snapshot, a site
//! Prometheus), without a session.

use crate::domain::{PromDuration, Timestamp};
use crate::export::formats::Formats;
use crate::export::{
    default_queries, CollectionPlan, MarkedWindow, MetricKind, NamedQuery, RawOptions, RawSizing,
    RawSource,
};
use anyhow::Context;
use std::path::PathBuf;

/// `--raw-source`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RawSourceArg {
    Auto,
    RemoteRead,
    /// VictoriaMetrics' `/api/v1/export`.
    Export,
    Query,
}

impl From<RawSourceArg> for RawSource {
    fn from(a: RawSourceArg) -> RawSource {
        match a {
            RawSourceArg::Auto => RawSource::Auto,
            RawSourceArg::RemoteRead => RawSource::RemoteRead,
            RawSourceArg::Export => RawSource::Export,
            RawSourceArg::Query => RawSource::Query,
        }
    }
}

/// Collect a time window from a Prometheus into a bundle directory.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Base URL of the Prometheus to query.
    #[arg(long, env = "BENCHMON_EXPORT_PROMETHEUS")]
    pub prometheus: String,
    /// Window start: RFC 3339 (2025-11-04T10:00:00Z) or unix seconds.
    #[arg(long)]
    pub start: Timestamp,
    /// Window end: RFC 3339 or unix seconds.
    #[arg(long)]
    pub end: Timestamp,
    /// Query resolution: a Prometheus duration (15s) or seconds; default the scrape interval, else 15s.
    #[arg(long)]
    pub step: Option<PromDuration>,
    /// Scrape interval of the data, for the default step, rate windows and coverage.
    #[arg(long)]
    pub scrape_interval: Option<PromDuration>,
    /// A query to collect, NAME=PROMQL; repeat for more.
    #[arg(long = "query", value_name = "NAME=PROMQL")]
    pub queries: Vec<String>,
    /// Metric kind of a query, NAME=gauge|counter|histogram (default: detected from names).
    #[arg(long = "kind", value_name = "NAME=KIND")]
    pub kinds: Vec<String>,
    /// Add the default profile queries for an exporter kind (node, dcgm); repeat for more.
    #[arg(long = "exporter", value_name = "KIND")]
    pub exporters: Vec<String>,
    /// Add the service profiles (vLLM) as if this service were registered; repeat for more.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// Label matchers the profile queries are restricted to, e.g. session="benchmark-01".
    #[arg(long, default_value = "")]
    pub selector: String,
    /// Also export every raw sample of this selector, e.g. '{job="node"}'; repeat for more (a
    /// series two selectors match is written once).
    #[arg(long)]
    pub raw: Vec<String>,
    /// Sample files: parquet, csv, json (repeat or comma-separate): the raw export in each, with
    /// parquet also samples.parquet, with json also samples.json. Default: raw.parquet only
    /// (and samples.csv).
    #[arg(long = "format", value_delimiter = ',')]
    pub formats: Vec<crate::export::formats::SampleFormat>,
    /// How raw samples are read: auto (remote read, else queries), remote-read, query.
    #[arg(long, value_enum, default_value = "auto")]
    pub raw_source: RawSourceArg,
    /// Refuse an export estimated to write more points than this (no limit by default).
    #[arg(long)]
    pub max_points: Option<u64>,
    /// Per-target coverage from this `up` selector, e.g. 'up{job="node"}'.
    #[arg(long)]
    pub coverage: Option<String>,
    /// A named window to mark in the report, NAME=START,END; repeat for more.
    #[arg(long = "window", value_name = "NAME=START,END")]
    pub windows: Vec<String>,
    /// Directory in which the bundle directory is created (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Bundle directory name; default export-START (the window start, e.g. export-20251104T100000Z). Never overwritten: -2, -3 … are appended.
    #[arg(long)]
    pub name: Option<String>,
    /// Print the outcome as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Requests to Prometheus in flight at once (lower it to spare a busy Prometheus).
    #[arg(long, default_value_t = crate::export::plan::CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

fn split_pair<'a>(s: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    s.split_once('=')
        .map(|(a, b)| (a.trim(), b.trim()))
        .with_context(|| format!("{what} {s:?} is not NAME=…"))
}

/// Builds the plan from the arguments.
pub fn plan_from_args(args: &ExportArgs) -> anyhow::Result<CollectionPlan> {
    let mut queries = default_queries(&args.exporters, &args.services, &args.selector);
    if args.exporters.is_empty() && args.services.is_empty() {
        queries.clear();
    }
    for q in &args.queries {
        let (name, promql) = split_pair(q, "--query")?;
        queries.push(NamedQuery::user(name, promql));
    }
    for k in &args.kinds {
        let (name, kind) = split_pair(k, "--kind")?;
        let kind = match kind {
            "gauge" => MetricKind::Gauge,
            "counter" => MetricKind::Counter,
            "histogram" => MetricKind::Histogram,
            "auto" => MetricKind::Auto,
            other => anyhow::bail!("--kind {name}={other}: one of gauge, counter, histogram, auto"),
        };
        let q = queries
            .iter_mut()
            .find(|q| q.name == name)
            .with_context(|| format!("--kind {name}: no such query"))?;
        q.kind = kind;
    }
    let mut windows = Vec::new();
    for w in &args.windows {
        let (name, span) = split_pair(w, "--window")?;
        let (a, b) = span
            .split_once(',')
            .with_context(|| format!("--window {w:?}: NAME=START,END"))?;
        windows.push(MarkedWindow {
            name: name.to_owned(),
            start: Timestamp::parse(a)
                .map_err(|e| anyhow::anyhow!("--window {name} start: {e}"))?,
            end: Timestamp::parse(b).map_err(|e| anyhow::anyhow!("--window {name} end: {e}"))?,
        });
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("export-{}", args.start.datetime().format("%Y%m%dT%H%M%SZ")));
    Ok(CollectionPlan {
        prometheus_url: args.prometheus.clone(),
        start: args.start,
        end: args.end,
        step: args.step.clone(),
        scrape_interval: args.scrape_interval.clone(),
        queries,
        raw_selectors: args.raw.clone(),
        coverage_selector: args.coverage.clone(),
        windows,
        events: Vec::new(),
        bundle_parent: args.out.clone(),
        bundle_name: name,
        raw_options: RawOptions {
            source: args.raw_source.into(),
            formats: match args.formats.is_empty() {
                true => Formats::RAW_DEFAULT,
                false => Formats::from_list(&args.formats),
            },
            // Any selector from any Prometheus: its series are counted.
            sizing: RawSizing::SeriesCount,
        },
        max_points: args.max_points,
        samples_parquet: args
            .formats
            .contains(&crate::export::formats::SampleFormat::Parquet),
        samples_json: args
            .formats
            .contains(&crate::export::formats::SampleFormat::Json),
        manifest_extra: serde_json::json!({"source": "benchmon export"}),
        quality: crate::export::QualityThresholds::default(),
        extra_files: Vec::new(),
        known_gaps: Vec::new(),
    })
}

/// Runs the export and prints where the bundle is.
pub async fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let plan = plan_from_args(&args)?;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let tuning = crate::export::Tuning {
        concurrency: usize::from(args.concurrency),
        ..crate::export::Tuning::default()
    };
    let outcome = crate::export::collect_tuned(&http, plan, None, tuning).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    println!("bundle: {}", outcome.bundle_dir.display());
    println!(
        "window: {} → {}, step {}, {} samples in {:.2}s",
        outcome.start, outcome.end, outcome.step, outcome.samples, outcome.duration_seconds
    );
    for q in &outcome.queries {
        let status = match q.status {
            crate::export::QueryStatus::Ok => format!("{} series, {} samples", q.series, q.samples),
            crate::export::QueryStatus::Absent => "ABSENT (matched nothing)".to_owned(),
        };
        println!("  {:<40} {status}", q.name);
    }
    if outcome.raw_series > 0 {
        println!(
            "  {:<40} {} series, {} samples",
            "raw", outcome.raw_series, outcome.raw_samples
        );
    }
    if let Some(c) = &outcome.coverage {
        println!(
            "coverage: {} targets, {} flagged, {} gaps",
            c.targets.len(),
            c.flagged,
            outcome.gaps.len()
        );
    }
    println!("quality: {}", outcome.verdict.quality.as_str());
    for r in &outcome.verdict.reasons {
        println!("  {}", r.detail);
    }
    Ok(())
}
