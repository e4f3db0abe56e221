//! `benchmon collect`: a window of metrics into an artifact bundle, with progress while the
//! server works: on a terminal, a bar with the samples and bytes the server reports.

use super::output::{fields, human_duration, CollectBar, Output};
use super::session_arg::SessionArg;
use super::{split_kv, CliError, Globals};
use crate::client::{Client, CollectRequest, CollectResult};
use crate::domain::{PromDuration, RunId, Timestamp, WindowName};
use clap::ArgGroup;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("range").required(true).args(["start", "last", "window"])))]
#[command(
    after_help = "Exit codes: 0 the bundle is written and its verdict is ok (or partial \
    with --allow-partial); 1 error; 2 usage; 3 written but partial (the reasons are printed); \
    4 written but empty (no data in the window)."
)]
pub struct CollectArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(flatten)]
    pub session: SessionArg,
    /// Window start: RFC 3339 (2025-11-04T10:00:00Z) or unix seconds.
    #[arg(long)]
    pub start: Option<Timestamp>,
    /// Window end (default: now); only with --start.
    #[arg(long, requires = "start")]
    pub end: Option<Timestamp>,
    /// The last stretch of time up to now, e.g. 10m or 1h.
    #[arg(long)]
    pub last: Option<PromDuration>,
    /// A named window of the session (see `benchmon window`).
    #[arg(long)]
    pub window: Option<WindowName>,
    /// Bundle directory, relative to the server's artifacts root.
    #[arg(long)]
    pub out_dir: Option<String>,
    /// Run id recorded in the bundle (default: the session's).
    #[arg(long)]
    pub run_id: Option<RunId>,
    /// An extra PromQL query, NAME=PROMQL; repeatable.
    #[arg(long = "query", value_name = "NAME=PROMQL", value_parser = parse_query)]
    pub queries: Vec<(String, String)>,
    /// Query resolution, e.g. 15s (server default when omitted).
    #[arg(long)]
    pub step: Option<PromDuration>,
    /// Exit 0 when the verdict is `partial` (a gap, a target under the coverage threshold, a
    /// query that matched nothing). Without it: exit 3 on `partial`; `empty` always exits 4.
    #[arg(long)]
    pub allow_partial: bool,
    /// An absolute limit on a KPI of the collection, QUERY:KPI<=X or QUERY:KPI>=X (`<`, `>`
    /// alike: limits are inclusive); repeatable. Any failing: exit 5.
    #[arg(long = "threshold", value_name = "QUERY:KPI<=X", value_parser = parse_threshold)]
    pub thresholds: Vec<crate::collect::thresholds::Threshold>,
}

/// Exit code when a `--threshold` failed.
pub const EXIT_THRESHOLD: u8 = 5;

fn parse_threshold(s: &str) -> Result<crate::collect::thresholds::Threshold, String> {
    let bad = || format!("{s:?} is not QUERY:KPI<=X or QUERY:KPI>=X");
    let (i, op) = s
        .char_indices()
        .find(|(_, c)| matches!(c, '<' | '>'))
        .ok_or_else(bad)?;
    let (name, rest) = (&s[..i], s[i + 1..].trim_start_matches('='));
    let (query, kpi) = name.trim().split_once(':').ok_or_else(bad)?;
    let value: f64 = rest.trim().parse().map_err(|_| bad())?;
    if query.is_empty() || kpi.is_empty() || !value.is_finite() {
        return Err(bad());
    }
    Ok(crate::collect::thresholds::Threshold {
        query: query.to_owned(),
        kpi: kpi.to_owned(),
        max: (op == '<').then_some(value),
        min: (op == '>').then_some(value),
        window: None,
        scope: Default::default(),
    })
}

fn parse_query(s: &str) -> Result<(String, String), String> {
    let (k, v) = split_kv(s)?;
    if v.trim().is_empty() {
        return Err(format!("query {k:?} has no PromQL"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

pub async fn run(client: &Client, out: &Output, a: CollectArgs) -> Result<(), CliError> {
    let session = a.session.resolve()?;
    let window_end = match (a.start, a.end) {
        (Some(_), None) => Some(Timestamp::now()),
        (_, end) => end,
    };
    let what = match (&a.window, &a.last, &a.start) {
        (Some(w), _, _) => format!("window {w}"),
        (_, Some(l), _) => format!("the last {l}"),
        (_, _, Some(s)) => format!(
            "{s} to {}",
            window_end.map(|e| e.to_string()).unwrap_or_default()
        ),
        _ => String::new(),
    };
    let req = CollectRequest {
        window_start: a.start,
        window_end,
        window: a.window,
        last: a.last,
        step: a.step,
        out_dir: a.out_dir,
        run_id: a.run_id,
        queries: a
            .queries
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect::<BTreeMap<_, _>>(),
        thresholds: a.thresholds,
        ..CollectRequest::default()
    };
    let what = format!("collecting {what} of session {session}");
    let started = std::time::Instant::now();
    // The bar needs the server's progress lines; without a bar, the plain request (and the
    // same stderr line as ever).
    let result = if out.bar_visible() {
        let bar = CollectBar::new(what);
        client
            .collect_with_progress(&session, &req, |p| bar.update(p))
            .await
    } else {
        let _progress = out.progress(what);
        client.collect(&session, &req).await
    };
    let took = started.elapsed();
    let done = result?;
    out.show(&done, |r| summary(r, took));
    let failed = done
        .extra
        .get("thresholds")
        .and_then(|t| t.get("results"))
        .and_then(|r| r.as_array())
        .map_or(0, |r| r.iter().filter(|x| x["passed"] == false).count());
    match (done.quality.as_deref(), failed) {
        (Some("empty"), _) => Err(CliError::Quality {
            quality: "empty".into(),
            allowed: true,
        }),
        (_, failed @ 1..) => Err(CliError::ThresholdsFailed { failed }),
        (Some("partial"), _) if !a.allow_partial => Err(CliError::Quality {
            quality: "partial".into(),
            allowed: false,
        }),
        _ => Ok(()),
    }
}

fn summary(r: &CollectResult, took: Duration) -> String {
    let list = |v: &[serde_json::Value]| {
        v.iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let reasons: Vec<String> = r
        .quality_reasons
        .iter()
        .filter_map(|x| x.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .collect();
    let quality = match (&r.quality, reasons.is_empty()) {
        (Some(q), true) => q.to_uppercase(),
        (Some(q), false) => format!("{} — {}", q.to_uppercase(), reasons.join("; ")),
        (None, _) => String::new(),
    };
    fields(&[
        ("quality", quality),
        ("bundle", r.bundle_dir.clone()),
        ("report", r.report.clone().unwrap_or_default()),
        (
            "collected",
            format!(
                "{} samples into {} files in {}",
                r.samples,
                r.artifacts.len(),
                human_duration(took)
            ),
        ),
        ("absent queries", list(&r.absent_queries)),
        ("thresholds", thresholds_line(r)),
        (
            "gaps",
            if r.gaps.is_empty() {
                String::new()
            } else {
                format!("{} ({})", r.gaps.len(), list(&r.gaps))
            },
        ),
    ])
}

/// `2 of 3 passed; FAILED: lat:p99 = 0.7 (max 0.5)`, or nothing without thresholds.
fn thresholds_line(r: &CollectResult) -> String {
    let Some(results) = r
        .extra
        .get("thresholds")
        .and_then(|t| t.get("results"))
        .and_then(|x| x.as_array())
    else {
        return String::new();
    };
    let failed: Vec<String> = results
        .iter()
        .filter(|x| x["passed"] == false)
        .map(|x| {
            let limit = |k: &str| x[k].as_f64().map(|v| format!("{k} {v}"));
            let limits: Vec<String> = [limit("min"), limit("max")].into_iter().flatten().collect();
            format!(
                "{}:{}{} = {} ({})",
                x["query"].as_str().unwrap_or_default(),
                x["kpi"].as_str().unwrap_or_default(),
                x["series"]
                    .as_str()
                    .map(|s| format!(" {{{s}}}"))
                    .unwrap_or_default(),
                x["value"].as_f64().map_or("none".into(), |v| v.to_string()),
                limits.join(", ")
            )
        })
        .collect();
    let passed = results.len() - failed.len();
    match failed.is_empty() {
        true => format!("{passed} of {} passed", results.len()),
        false => format!(
            "{passed} of {} passed; FAILED: {}",
            results.len(),
            failed.join("; ")
        ),
    }
}
