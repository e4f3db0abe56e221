//! The size of a collection, estimated before anything is written, and the refusal of one over
//! the site's budget (`collect.max_points`).
//!
//! Range queries: each query's series (the most a `count()` of it finds at the window's start
//! or end) × the points of the window at the step. Raw samples, as the plan's [`RawSizing`]
//! says: the selector's series × the scrapes of the window, or, for a session, the samples its
//! scrapes wrote in the window by Prometheus's own scrape statistics. Counting costs one
//! sample per series and instant, so the estimate itself stays far below any query limit.

use super::plan::{Resolved, RAW};
use super::{CollectError, CollectionPlan};
use crate::prometheus::PromClient;

/// Scrape interval assumed for raw samples when the plan does not say (Prometheus's default).
const DEFAULT_SCRAPE_MS: i64 = 15_000;

/// How the raw samples of a collection are estimated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSizing {
    /// The series each selector matches × the scrapes of the window: any selector, but
    /// counting the series costs Prometheus ≈ 1 s per 100 k of them (3.7 s at 311 k).
    #[default]
    SeriesCount,
    /// Selectors of scraped targets (a session's `{session="…"}`): the samples their scrapes
    /// wrote in the window, as Prometheus accounts them per scrape
    /// (`scrape_samples_post_metric_relabeling` summed over the window, plus the 5 series it
    /// adds to every scrape: `up`, `scrape_duration_seconds`, …), the samples its recording
    /// rules wrote (`prometheus_rule_group_last_evaluation_samples`, where it scrapes itself),
    /// and pushed series (`source="push"`) × the scrapes of the window. One series per target
    /// is read: 25 ms at 311 k series.
    ScrapeStatistics,
}

/// What a collection is expected to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Estimate {
    /// Points of the range queries plus raw samples.
    pub(crate) points: u64,
    /// Series the raw selector matches (0 without a raw export).
    pub(crate) raw_series: u64,
    /// Raw samples alone.
    pub(crate) raw_samples: u64,
    /// How the raw samples were estimated.
    pub(crate) raw_sizing: RawSizing,
}

#[derive(serde::Deserialize)]
struct Matrix {
    result: Vec<Series>,
}

#[derive(serde::Deserialize)]
struct Series {
    values: Vec<(f64, String)>,
}

/// Intervals between the instants at which series are counted (the window's start and end):
/// each instant costs Prometheus ≈ 0.15 s of CPU per 100 k series (48 instants took 0.85 s).
const COUNT_POINTS: i64 = 1;

/// The most series `promql` had at the window's start or end (0 when it matches nothing).
/// Series that live only inside the window are missed: an estimate, not a count.
async fn series_count(
    prom: &PromClient,
    name: &str,
    promql: &str,
    r: &Resolved,
) -> Result<u64, CollectError> {
    let step_ms = ((r.end_ms - r.start_ms) / COUNT_POINTS).max(1000);
    let form = [
        ("query", format!("count(({promql}))")),
        ("start", super::plan::unix_text(r.start_ms)),
        ("end", super::plan::unix_text(r.end_ms)),
        ("step", super::plan::unix_text(step_ms)),
    ];
    let m: Matrix = prom
        .get_api("/api/v1/query_range", &form)
        .await
        .map_err(|e| match e {
            // Prometheus refusing the query itself is the query's error, as it would be later.
            crate::prometheus::client::PromError::Api {
                error_type, error, ..
            } => CollectError::Query {
                query: name.to_owned(),
                error_type,
                message: error,
            },
            other => CollectError::Response {
                query: name.to_owned(),
                reason: format!("counting its series for the size estimate: {other}"),
            },
        })?;
    Ok(m.result
        .iter()
        .flat_map(|s| &s.values)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .fold(0.0_f64, f64::max) as u64)
}

/// Estimates the collection `r` of `plan`.
pub(crate) async fn estimate(
    http: &reqwest::Client,
    base: &str,
    r: &Resolved,
    plan: &CollectionPlan,
) -> Result<Estimate, CollectError> {
    let prom = PromClient::new(http.clone(), base);
    let window_ms = (r.end_ms - r.start_ms).max(0) as u64;
    let points_per_series = window_ms / r.step_ms.max(1) as u64 + 1;
    let scrape_ms = r.scrape_ms.unwrap_or(DEFAULT_SCRAPE_MS).max(1) as u64;
    let scrapes = window_ms / scrape_ms + 1;
    let sizing = plan.raw_options.sizing;
    // All at once: Prometheus answers them on all its cores.
    let queries = futures_util::future::try_join_all(
        r.queries
            .iter()
            .map(|q| series_count(&prom, &q.query.name, &q.sent, r)),
    );
    let raw = futures_util::future::try_join_all(plan.raw_selectors.iter().map(|sel| async {
        match sizing {
            RawSizing::SeriesCount => {
                let series = series_count(&prom, RAW, sel, r).await?;
                Ok((series, series.saturating_mul(scrapes)))
            }
            RawSizing::ScrapeStatistics => scraped(&prom, sel, r, scrapes).await,
        }
    }));
    let (query_counts, raw_counts) = futures_util::future::try_join(queries, raw).await?;
    let mut points = query_counts.iter().fold(0u64, |acc, n| {
        acc.saturating_add(n.saturating_mul(points_per_series))
    });
    // Selectors that overlap count their common series twice: an estimate, on the safe side.
    let (raw_series, raw_samples) = raw_counts.iter().fold((0u64, 0u64), |acc, (se, sa)| {
        (acc.0.saturating_add(*se), acc.1.saturating_add(*sa))
    });
    points = points.saturating_add(raw_samples);
    Ok(Estimate {
        points,
        raw_series,
        raw_samples,
        raw_sizing: sizing,
    })
}

/// Series Prometheus adds to every scrape of a target, besides what the target exposes: `up`,
/// `scrape_duration_seconds`, `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling`,
/// `scrape_series_added`.
const SCRAPE_SERIES: u64 = 5;

/// (series, samples) of `selector` (`{…}`, a session's) over the window by [`RawSizing::ScrapeStatistics`].
async fn scraped(
    prom: &PromClient,
    selector: &str,
    r: &Resolved,
    scrapes: u64,
) -> Result<(u64, u64), CollectError> {
    let range = format!("[{}ms]", (r.end_ms - r.start_ms).max(1));
    let pushed = match selector.strip_suffix('}') {
        Some(open) if open.len() > 1 => format!("{open},source=\"push\"}}"),
        _ => "{source=\"push\"}".to_owned(),
    };
    let stat = |name: &str| format!("{name}{selector}{range}");
    let sums = [
        // Samples the targets exposed, and scrapes (each adds SCRAPE_SERIES samples).
        format!(
            "sum(sum_over_time({}))",
            stat("scrape_samples_post_metric_relabeling")
        ),
        format!("sum(count_over_time({}))", stat("up")),
        // Series: the most samples one scrape of each target had, and the targets.
        format!(
            "sum(max_over_time({}))",
            stat("scrape_samples_post_metric_relabeling")
        ),
        format!("count(count_over_time({}))", stat("up")),
        // Recording rules' samples (per evaluation, one evaluation per scrape interval).
        format!(
            "sum(sum_over_time({}))",
            stat("prometheus_rule_group_last_evaluation_samples")
        ),
        format!("count(count_over_time({pushed}{range}))"),
    ];
    let values =
        futures_util::future::try_join_all(sums.iter().map(|q| instant_sum(prom, q, r.end_ms)))
            .await?;
    let sum = |i: usize| values.get(i).copied().unwrap_or(0);
    let (exposed, up_samples, exposed_series) = (sum(0), sum(1), sum(2));
    let (targets, rules, pushed_series) = (sum(3), sum(4), sum(5));
    let samples = exposed
        .saturating_add(up_samples.saturating_mul(SCRAPE_SERIES))
        .saturating_add(rules)
        .saturating_add(pushed_series.saturating_mul(scrapes));
    let series = exposed_series
        .saturating_add(targets.saturating_mul(SCRAPE_SERIES))
        .saturating_add(pushed_series);
    Ok((series, samples))
}

/// The value of a one-series instant query at `at_ms` (0 when it is empty).
async fn instant_sum(prom: &PromClient, promql: &str, at_ms: i64) -> Result<u64, CollectError> {
    let v = prom
        .instant_vector(promql, Some(at_ms), std::time::Duration::from_secs(30))
        .await
        .map_err(|e| CollectError::Response {
            query: RAW.to_owned(),
            reason: format!("reading scrape statistics for the size estimate: {e}"),
        })?;
    Ok(v.first().map_or(0.0, |s| s.value).max(0.0) as u64)
}

/// Refuses an estimate over `max_points`, naming the estimate, the limit and the knob.
pub(crate) fn check(estimate: &Estimate, max_points: Option<u64>) -> Result<(), CollectError> {
    match max_points {
        Some(limit) if estimate.points > limit => Err(CollectError::OverBudget {
            estimate: estimate.points,
            raw_samples: estimate.raw_samples,
            limit,
        }),
        _ => Ok(()),
    }
}
