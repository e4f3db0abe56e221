//! The raw export's range-vector query fallback, for a server without streamed remote read,
//! planned by series × time so that no request loads more than a sample budget.
//!
//! `series` counts the selector's series per metric name (a streamed `/api/v1/series`); `groups`
//! packs consecutive names into groups of at most `cap` series and splits a name with more by
//! the values of its other labels; `promql` writes each group's selector (the user's matchers
//! plus the group's). Each group's time chunks are then sized to its own series: series ×
//! samples per chunk ≤ the budget, at the scrape interval of the plan.
//!
//! The budget is [`FALLBACK_REQUEST_SAMPLES`], or half the server's `--query.max-samples` when
//! its `/api/v1/status/flags` tells a lower one. A request refused anyway (samples denser than
//! the plan's scrape interval) is halved in time when fetched (`schedule`). Groups are merged in batches (one batch per
//! name pack): the series of a batch are written sorted by labels, and batches in name order,
//! which is label order — unless a label name sorts before `__name__` (an upper-case one), in
//! which case everything is one batch. Memory is one batch's series index, not the session's.

mod groups;
mod promql;
mod series;

use super::plan::{instant_chunks, Resolved};
use super::CollectError;
use crate::prometheus::remote_read::selector::Matcher;
use crate::prometheus::PromClient;
use groups::{pack_names, split, NamePack};
use promql::{one_of, render, user_matchers};
use series::each_series;
use std::collections::{BTreeMap, HashMap};

/// Samples one range-vector request may load: a tenth of Prometheus's default
/// `--query.max-samples` (50 M), lowered to half the server's own limit when it says one.
pub(crate) const FALLBACK_REQUEST_SAMPLES: u64 = 5_000_000;
/// Scrape interval assumed when the plan does not say (Prometheus's default).
const DEFAULT_SCRAPE_MS: i64 = 15_000;

/// One request selector and the length of its time chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) selector: String,
    /// Series it had when planned.
    pub(crate) series: u64,
    pub(crate) chunk_ms: i64,
}

/// Groups whose series are merged together, in label order, before the next batch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) groups: Vec<Group>,
}

/// The fallback's plan, and what the manifest tells of it (`raw.query_plan`).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FallbackPlan {
    #[serde(skip)]
    pub(crate) batches: Vec<Batch>,
    /// Samples one request may load.
    pub(crate) request_samples: u64,
    /// The server's `--query.max-samples`, when its flags tell it.
    pub(crate) server_max_samples: Option<u64>,
    /// Series the selector had when planned.
    pub(crate) series: u64,
    /// Request selectors (series groups).
    pub(crate) groups: usize,
    /// Requests: every group's time chunks.
    pub(crate) requests: usize,
    /// Requests the server refused as too many samples (scraped more often than the plan's
    /// interval), fetched as two halves instead.
    pub(crate) refused_and_halved: u64,
}

/// Plans the fallback for `selector` over the window of `r`; chunks are at most `max_chunk_ms`.
pub(crate) async fn plan(
    http: &reqwest::Client,
    base: &str,
    selector: &str,
    r: &Resolved,
    max_chunk_ms: i64,
    left_open: bool,
) -> Result<FallbackPlan, CollectError> {
    let user = user_matchers(selector)
        .map_err(|e| CollectError::plan("raw_selector", format!("{selector}: {e}")))?;
    let server_max_samples = server_max_samples(http, base).await;
    let request_samples = server_max_samples
        .map_or(FALLBACK_REQUEST_SAMPLES, |m| {
            (m / 2).min(FALLBACK_REQUEST_SAMPLES)
        })
        .max(1);
    let window = (r.start_ms, r.end_ms);
    let census = each_series(http, base, selector, window, Census::default()).await?;
    let census = census.finish();
    let sizing = Sizing {
        budget: request_samples,
        scrape_ms: r.scrape_ms.unwrap_or(DEFAULT_SCRAPE_MS).max(1),
        max_chunk_ms,
    };
    let cap = (request_samples / 2).max(1);
    let mut batches = Vec::new();
    for pack in pack_names(&census.names, cap) {
        let groups = match pack {
            NamePack::Names { names, series } => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                vec![sizing.group(render(&user, &[one_of("__name__", &names)]), series)]
            }
            NamePack::Big { name, .. } => {
                let by_name = one_of("__name__", &[name.as_str()]);
                let sel = render(&user, std::slice::from_ref(&by_name));
                let series = each_series(http, base, &sel, window, Vec::new()).await?;
                split(&series, cap)
                    .into_iter()
                    .map(|g| {
                        let mut added: Vec<Matcher> = vec![by_name.clone()];
                        added.extend(g.matchers);
                        sizing.group(render(&user, &added), g.series)
                    })
                    .collect()
            }
        };
        batches.push(Batch { groups });
    }
    if batches.is_empty() {
        // Nothing matched: one request over the window, which answers no series.
        batches.push(Batch {
            groups: vec![sizing.group(render(&user, &[]), 0)],
        });
    }
    if !census.name_first {
        let groups = batches.drain(..).flat_map(|b| b.groups).collect();
        batches.push(Batch { groups });
    }
    let all_groups = || batches.iter().flat_map(|b| &b.groups);
    let requests = all_groups()
        .map(|g| instant_chunks(r.start_ms, r.end_ms, g.chunk_ms, left_open).len())
        .sum();
    Ok(FallbackPlan {
        groups: all_groups().count(),
        requests,
        series: census.names.iter().map(|(_, n)| n).sum(),
        request_samples,
        server_max_samples,
        batches,
        refused_and_halved: 0,
    })
}

/// Series per metric name, and whether every label name sorts after `__name__` (then label
/// order is name order, and batches by name keep it).
#[derive(Default)]
struct Census {
    per_name: HashMap<String, u64>,
    /// A label name sorting before `__name__` was seen.
    before_name: bool,
}

/// [`Census`] once every series is counted: names in order.
struct Counted {
    names: Vec<(String, u64)>,
    name_first: bool,
}

impl series::SeriesSink for Census {
    fn series(&mut self, labels: crate::export::matrix::Labels) {
        let mut name = None;
        for (k, v) in &labels {
            if k.as_str() < "__name__" {
                self.before_name = true;
            } else if k == "__name__" {
                name = Some(v);
            }
        }
        if let Some(n) = name {
            match self.per_name.get_mut(n.as_str()) {
                Some(c) => *c += 1,
                None => {
                    self.per_name.insert(n.clone(), 1);
                }
            }
        }
    }
}

impl Census {
    fn finish(self) -> Counted {
        let names: BTreeMap<String, u64> = self.per_name.into_iter().collect();
        Counted {
            names: names.into_iter().collect(),
            name_first: !self.before_name,
        }
    }
}

/// Sizes a group's time chunks.
struct Sizing {
    budget: u64,
    scrape_ms: i64,
    max_chunk_ms: i64,
}

impl Sizing {
    /// `series` × the samples of a chunk ≤ the budget: a chunk of `k` scrape intervals holds at
    /// most `k + 1` samples of a series (both ends, in the closed range of Prometheus 2).
    fn group(&self, selector: String, series: u64) -> Group {
        let chunk_ms = match series {
            0 => self.max_chunk_ms,
            n => {
                let scrapes = (self.budget / n).saturating_sub(1).max(1);
                i64::try_from(scrapes)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(self.scrape_ms)
                    .min(self.max_chunk_ms)
            }
        };
        Group {
            selector,
            series,
            chunk_ms: chunk_ms.max(2),
        }
    }
}

/// The server's `--query.max-samples`, from `/api/v1/status/flags` (not every server has it).
async fn server_max_samples(http: &reqwest::Client, base: &str) -> Option<u64> {
    let flags: HashMap<String, String> = PromClient::new(http.clone(), base)
        .get_api("/api/v1/status/flags", &[])
        .await
        .ok()?;
    flags.get("query.max-samples")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_chunks_hold_at_most_the_budget_of_samples() {
        let s = Sizing {
            budget: 100,
            scrape_ms: 15_000,
            max_chunk_ms: 3_600_000,
        };
        // 50 series: 1 scrape interval (≤ 2 samples each: 100).
        assert_eq!(s.group("x".into(), 50).chunk_ms, 15_000);
        // 10 series: 9 intervals (≤ 10 samples each).
        assert_eq!(s.group("x".into(), 10).chunk_ms, 9 * 15_000);
        // 1 series: 99 intervals.
        assert_eq!(s.group("x".into(), 1).chunk_ms, 99 * 15_000);
        // Never longer than the longest chunk.
        let wide = Sizing {
            budget: 5_000_000,
            ..s
        };
        assert_eq!(wide.group("x".into(), 10).chunk_ms, 3_600_000);
        // No series: one chunk as long as allowed.
        assert_eq!(s.group("x".into(), 0).chunk_ms, 3_600_000);
        // Over the budget (one series alone cannot be split): one interval.
        assert_eq!(s.group("x".into(), 500).chunk_ms, 15_000);
    }

    #[test]
    fn the_census_counts_per_name_and_notices_a_label_before_the_name() {
        let mut c = Census::default();
        let l = |pairs: &[(&str, &str)]| -> crate::export::matrix::Labels {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        use series::SeriesSink;
        c.series(l(&[("__name__", "b"), ("i", "1")]));
        c.series(l(&[("__name__", "a")]));
        c.series(l(&[("__name__", "b"), ("i", "2")]));
        let counted = c.finish();
        assert_eq!(counted.names, vec![("a".into(), 1), ("b".into(), 2)]);
        assert!(counted.name_first);
        let mut c = Census::default();
        c.series(l(&[("Zone", "x"), ("__name__", "a")]));
        assert!(!c.finish().name_first);
    }
}
