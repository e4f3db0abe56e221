//! Window planning: validates a [`CollectionPlan`], chooses the step and the rate window, and
//! cuts the window into chunks Prometheus accepts.
//!
//! `query_range` evaluates at `start, start+step, …` up to `end`, both ends included, and
//! refuses more than 11,000 points per series. A chunk holds at most
//! [`MAX_POINTS_PER_CHUNK`] points on the same grid, and the next chunk starts one step after
//! the previous one's last point, so no timestamp is fetched twice or skipped.

use super::{CollectError, CollectionPlan, NamedQuery, RawSource};
use crate::domain::PromDuration;

/// Points per series per `query_range` request (Prometheus refuses more than 11,000).
pub(crate) const MAX_POINTS_PER_CHUNK: u64 = 10_000;
/// Requests in flight at once.
pub(crate) const CONCURRENCY: usize = 4;
/// The step when neither a step nor a scrape interval is given.
pub(crate) const DEFAULT_STEP_MS: i64 = 15_000;
/// Refuse plans above this many points per series (58 days at 1s): almost surely a typo.
const MAX_POINTS_TOTAL: i64 = 5_000_000;
/// Placeholder replaced by the rate window in every query.
pub(crate) const RATE_INTERVAL: &str = "$__rate_interval";
/// Scrape intervals per raw-export / coverage request (clamped to 5 min … 1 h).
pub(crate) const RAW_CHUNK_SCRAPES: i64 = 240;
/// Name of the raw export's pseudo-query.
pub(crate) const RAW: &str = "raw";

/// Knobs with sensible defaults; tests shrink the chunks to exercise merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub max_points_per_chunk: u64,
    pub concurrency: usize,
    /// Length of a raw-export / coverage chunk; `None`: 240 scrape intervals, 5 min to 1 h.
    pub raw_chunk_ms: Option<i64>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_points_per_chunk: MAX_POINTS_PER_CHUNK,
            concurrency: CONCURRENCY,
            raw_chunk_ms: None,
        }
    }
}

/// A checked plan with every choice made.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) step_ms: i64,
    pub(crate) step: PromDuration,
    /// `given`, `scrape_interval` or `default`.
    pub(crate) step_source: &'static str,
    /// The scrape interval as given, if it was.
    pub(crate) scrape_ms: Option<i64>,
    pub(crate) rate_window: PromDuration,
    pub(crate) queries: Vec<ResolvedQuery>,
    /// Length of one raw-export / coverage chunk.
    pub(crate) raw_chunk_ms: i64,
}

/// A query with the PromQL that is actually sent.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedQuery {
    pub(crate) query: NamedQuery,
    pub(crate) sent: String,
}

/// One `query_range` request: grid points `start_ms, start_ms+step, … ≤ end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RangeChunk {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
}

/// One instant query of a range vector `SEL[range_ms]` at `time_ms`, selecting the samples
/// with timestamps in `from_ms..=time_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InstantChunk {
    pub(crate) time_ms: i64,
    pub(crate) range_ms: i64,
    pub(crate) from_ms: i64,
}

/// Checks `plan` and makes the step, rate-window and chunk-size choices.
pub(crate) fn resolve(plan: &CollectionPlan) -> Result<Resolved, CollectError> {
    check_url(&plan.prometheus_url)?;
    check_bundle_name(&plan.bundle_name)?;
    if !plan.bundle_parent.is_dir() {
        return Err(CollectError::plan(
            "bundle_parent",
            format!("{} is not a directory", plan.bundle_parent.display()),
        ));
    }
    let (start_ms, end_ms) = (plan.start.unix_millis(), plan.end.unix_millis());
    if end_ms <= start_ms {
        return Err(CollectError::plan("end", "must be after start"));
    }
    let scrape_ms = plan.scrape_interval.as_ref().map(|d| d.as_millis() as i64);
    let (step_ms, step_source) = match (&plan.step, scrape_ms) {
        (Some(s), _) => (s.as_millis() as i64, "given"),
        (None, Some(s)) => (s, "scrape_interval"),
        (None, None) => (DEFAULT_STEP_MS, "default"),
    };
    if step_ms <= 0 {
        return Err(CollectError::plan("step", "must be at least 1ms"));
    }
    // A step far below the scrape interval only repeats the same samples.
    if let (Some(_), Some(scrape)) = (&plan.step, scrape_ms) {
        if step_ms.saturating_mul(10) < scrape {
            return Err(CollectError::plan(
                "step",
                format!(
                    "{step_ms}ms is less than a tenth of the scrape interval ({scrape}ms): it \
                     would only repeat samples; use at least {}ms",
                    (scrape + 9) / 10
                ),
            ));
        }
    }
    if (end_ms - start_ms) / step_ms >= MAX_POINTS_TOTAL {
        return Err(CollectError::plan(
            "step",
            format!(
                "{step_ms}ms over this window is more than {MAX_POINTS_TOTAL} points per series"
            ),
        ));
    }
    let step = millis(step_ms)?;
    let scrape_or_step = scrape_ms.unwrap_or(DEFAULT_STEP_MS.min(step_ms));
    let rate_window = millis((4 * scrape_or_step).max(step_ms + scrape_or_step))?;
    let queries = check_queries(&plan.queries, rate_window.as_str())?;
    if queries.is_empty() && plan.raw_selectors.is_empty() && plan.coverage_selector.is_none() {
        return Err(CollectError::plan("queries", "nothing to collect"));
    }
    let selectors = plan.raw_selectors.iter().map(|s| ("raw_selector", s));
    for (field, sel) in selectors.chain(
        plan.coverage_selector
            .iter()
            .map(|s| ("coverage_selector", s)),
    ) {
        if sel.trim().is_empty() {
            return Err(CollectError::plan(field, "must not be empty"));
        }
    }
    if plan.raw_selectors.len() > 1 && plan.raw_options.source == RawSource::Query {
        return Err(CollectError::plan(
            "raw_source",
            "several raw selectors are read through remote read only (a series two of them \
             match is written once); with raw_source query give one selector",
        ));
    }
    for w in &plan.windows {
        if w.end < w.start {
            return Err(CollectError::plan(
                "windows",
                format!("{:?} ends before it starts", w.name),
            ));
        }
    }
    // About 240 samples per series per request: a session of 50,000 series stays far below
    // Prometheus's default `--query.max-samples` (50 million).
    let raw_chunk_ms =
        (RAW_CHUNK_SCRAPES * scrape_ms.unwrap_or(DEFAULT_STEP_MS)).clamp(300_000, 3_600_000);
    Ok(Resolved {
        start_ms,
        end_ms,
        step_ms,
        step,
        step_source,
        scrape_ms,
        rate_window,
        queries,
        raw_chunk_ms,
    })
}

fn millis(ms: i64) -> Result<PromDuration, CollectError> {
    PromDuration::from_millis(ms.max(0) as u64).map_err(|e| CollectError::plan("step", e.0))
}

fn check_url(url: &str) -> Result<(), CollectError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(CollectError::plan(
            "prometheus_url",
            "must be an http(s) URL with a host",
        )),
        Err(e) => Err(CollectError::plan("prometheus_url", e.to_string())),
    }
}

/// Bundle names become directory names: no separators, no leading dot (temp dirs use one).
fn check_bundle_name(name: &str) -> Result<(), CollectError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CollectError::plan(
            "bundle_name",
            format!("{name:?} is not 1-100 of [A-Za-z0-9._-] without a leading dot"),
        ))
    }
}

/// True for a valid query name: `[A-Za-z0-9_.:-]{1,100}`.
pub(crate) fn valid_query_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

fn check_queries(queries: &[NamedQuery], rate: &str) -> Result<Vec<ResolvedQuery>, CollectError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let field = format!("queries.{}", q.name);
        if !valid_query_name(&q.name) {
            return Err(CollectError::plan(
                &field,
                "query names are 1-100 of [A-Za-z0-9_.:-]",
            ));
        }
        if q.name == RAW {
            return Err(CollectError::plan(
                &field,
                "the name `raw` is reserved for the raw export",
            ));
        }
        if !seen.insert(q.name.as_str()) {
            return Err(CollectError::plan(&field, "duplicate query name"));
        }
        if q.promql.trim().is_empty() {
            return Err(CollectError::plan(&field, "empty PromQL"));
        }
        out.push(ResolvedQuery {
            query: q.clone(),
            sent: q.promql.replace(RATE_INTERVAL, rate),
        });
    }
    Ok(out)
}

/// Cuts `[start, end]` into `query_range` chunks of at most `max_points` points on the grid
/// `start + i·step`.
pub(crate) fn range_chunks(
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    max_points: u64,
) -> Vec<RangeChunk> {
    let span = (max_points.max(1) as i64) * step_ms;
    let mut out = Vec::new();
    let mut s = start_ms;
    while s <= end_ms {
        out.push(RangeChunk {
            start_ms: s,
            end_ms: (s + span - step_ms).min(end_ms),
        });
        s += span;
    }
    out
}

/// Cuts `[start, end]` into range-vector chunks of about `chunk_ms` that together select every
/// sample exactly once. Before Prometheus 3 a range `[r]` at `t` selects `[t-r, t]`; from 3 on it
/// selects `(t-r, t]` (`left_open`).
pub(crate) fn instant_chunks(
    start_ms: i64,
    end_ms: i64,
    chunk_ms: i64,
    left_open: bool,
) -> Vec<InstantChunk> {
    let mut ends = Vec::new();
    let mut t = start_ms;
    while t < end_ms {
        t = (t + chunk_ms.max(2)).min(end_ms);
        ends.push(t);
    }
    // A 1ms last chunk would need a zero range in the closed form; fold it into the previous one.
    if ends.len() >= 2 && end_ms - ends[ends.len() - 2] < 2 {
        ends.remove(ends.len() - 2);
    }
    let mut out = Vec::with_capacity(ends.len());
    let mut from = start_ms;
    for &time in &ends {
        let range_ms = time - from + i64::from(left_open);
        out.push(InstantChunk {
            time_ms: time,
            range_ms,
            from_ms: from,
        });
        from = time + 1;
    }
    out
}

/// Unix seconds with millisecond precision, as Prometheus's API accepts them.
pub(crate) fn unix_text(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_chunks_cover_the_grid_once() {
        // 25 points at step 10 with 10 points per chunk: 10 + 10 + 5.
        let c = range_chunks(0, 240, 10, 10);
        assert_eq!(
            c,
            vec![
                RangeChunk {
                    start_ms: 0,
                    end_ms: 90
                },
                RangeChunk {
                    start_ms: 100,
                    end_ms: 190
                },
                RangeChunk {
                    start_ms: 200,
                    end_ms: 240
                },
            ]
        );
        // End off the grid: the last point is the last grid point before it.
        assert_eq!(
            range_chunks(0, 95, 10, 100),
            vec![RangeChunk {
                start_ms: 0,
                end_ms: 95
            }]
        );
        // 10,800 points (3h at 1s) → 2 chunks.
        assert_eq!(
            range_chunks(0, 10_799_000, 1000, MAX_POINTS_PER_CHUNK).len(),
            2
        );
    }

    #[test]
    fn instant_chunks_select_each_millisecond_once() {
        for left_open in [false, true] {
            for (start, end, len) in [(0, 100, 30), (0, 61, 30), (5, 6, 30), (0, 60, 30)] {
                let chunks = instant_chunks(start, end, len, left_open);
                let mut covered = Vec::new();
                for c in &chunks {
                    let lo = if left_open {
                        c.time_ms - c.range_ms + 1
                    } else {
                        c.time_ms - c.range_ms
                    };
                    assert_eq!(lo, c.from_ms);
                    assert!(c.range_ms > 0);
                    covered.extend(lo..=c.time_ms);
                }
                assert_eq!(
                    covered,
                    (start..=end).collect::<Vec<_>>(),
                    "{start} {end} {len} {left_open}"
                );
            }
        }
    }

    #[test]
    fn unix_text_keeps_milliseconds() {
        assert_eq!(unix_text(1_762_250_400_005), "1762250400.005");
    }
}
