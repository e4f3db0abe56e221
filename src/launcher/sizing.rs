//! How big a session's Prometheus job should be: CPUs and memory from the targets it will
//! scrape, so a 256-node session is not submitted with one CPU and the partition's default
//! memory.
//!
//! Costs measured on the dev machine (README, "Sizing"), per kind of job: Prometheus 2.42 ≈
//! 3.6 KB of RSS per active series and ≈ 2 µs of CPU per ingested sample; a Prometheus agent
//! (a sharded session's scraper) the same memory but ≈ 3 µs per sample (it also encodes and
//! sends every sample); VictoriaMetrics (the store) ≈ 1.5 KB per series and ≈ 3 µs per sample
//! (`examples/bench-ingest.sh`, marginal costs between load steps). A job gets twice each —
//! compaction or merges, WAL replay after a restart and the collection's own queries run on
//! top of ingestion — plus a fixed base for the process itself.

use crate::domain::{CpuCount, MemMb, SlurmOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Series one target of an exporter kind is expected to expose, when nothing better is known:
/// node exporter on a 2-socket server ≈ 1,000; DCGM with 8 GPUs ≈ 330 (≈ 40 fields × 8);
/// anything else (a service's `/metrics`, vLLM) ≈ 500.
pub fn expected_series_per_target(exporter: &str) -> u64 {
    match exporter {
        "node" | "node_exporter" => 1_000,
        "dcgm" | "dcgm_exporter" => 330,
        _ => 500,
    }
}

/// What one kind of job costs per active series and per ingested sample, doubled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobCosts {
    /// RSS per active series, bytes.
    pub bytes_per_series: u64,
    /// CPU per ingested sample, nanoseconds.
    pub ns_per_sample: f64,
}

impl JobCosts {
    /// A session's single Prometheus (measured 3.6 KB, 2 µs).
    pub const PROMETHEUS: JobCosts = JobCosts {
        bytes_per_series: 7_200,
        ns_per_sample: 4_000.0,
    };
    /// A scraper of a sharded session: Prometheus in agent mode (measured 3.6 KB, 3 µs).
    pub const AGENT: JobCosts = JobCosts {
        bytes_per_series: 7_200,
        ns_per_sample: 6_000.0,
    };
    /// The store of a `victoriametrics` session (measured 1.5 KB, 3 µs).
    pub const VICTORIAMETRICS: JobCosts = JobCosts {
        bytes_per_series: 3_000,
        ns_per_sample: 6_000.0,
    };
}

/// A job's own memory before any series, MiB.
const BASE_MB: u64 = 512;

/// What a session's job was sized for; kept in the session record and shown in its view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobSizing {
    /// Targets registered when the job was submitted.
    pub targets: u64,
    /// Series those targets are expected to expose (per exporter kind, see the README).
    pub expected_series: u64,
    /// Samples per second at the session's scrape interval.
    pub samples_per_second: f64,
    /// CPUs and MiB the sizing asks for (a request or site default may have overridden them).
    pub cpus_per_task: u16,
    pub mem_mb: u32,
    /// In a view of a live session: the series its targets are expected to expose now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_series_now: Option<u64>,
    /// In a view: set when targets registered since the start expect more series than the job
    /// was sized for (restart the session, or give `cpus_per_task` / `mem_mb`, to resize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outgrown: Option<String>,
}

impl JobSizing {
    /// Notes in a view how `now` (the targets registered now) compares with the sizing.
    pub fn compare_with(&mut self, now: &ExpectedTargets) {
        let series = now.series();
        self.expected_series_now = Some(series);
        self.outgrown = (series > self.expected_series).then(|| {
            format!(
                "the job was sized for {} expected series ({} targets); its targets now expect \
                 {series}",
                self.expected_series, self.targets
            )
        });
    }
}

/// The targets a job will scrape: exporter kind (or `service`) → count.
#[derive(Debug, Clone, Default)]
pub struct ExpectedTargets(pub BTreeMap<String, u64>);

impl ExpectedTargets {
    pub fn series(&self) -> u64 {
        self.0
            .iter()
            .map(|(kind, n)| n.saturating_mul(expected_series_per_target(kind)))
            .sum()
    }
}

/// Sizes a single Prometheus for `targets` scraped every `scrape_interval_s` seconds.
pub fn size_job(targets: &ExpectedTargets, scrape_interval_s: f64) -> JobSizing {
    size_job_with(targets, scrape_interval_s, JobCosts::PROMETHEUS)
}

/// Sizes a job of the kind `costs` describes for `targets` every `scrape_interval_s` seconds.
pub fn size_job_with(
    targets: &ExpectedTargets,
    scrape_interval_s: f64,
    costs: JobCosts,
) -> JobSizing {
    let series = targets.series();
    let samples_per_second = series as f64 / scrape_interval_s.max(0.001);
    let cpus = (samples_per_second * costs.ns_per_sample / 1e9).ceil() as u64;
    let cpus = cpus.clamp(1, u64::from(CpuCount::MAX)) as u16;
    let mem = BASE_MB
        + series
            .saturating_mul(costs.bytes_per_series)
            .div_ceil(1 << 20);
    // Whole 256 MiB steps: a request that moves with every registration is noise in squeue.
    let mem = mem.div_ceil(256) * 256;
    JobSizing {
        targets: targets.0.values().sum(),
        expected_series: series,
        samples_per_second,
        cpus_per_task: cpus,
        mem_mb: mem.min(u64::from(MemMb::MAX)) as u32,
        expected_series_now: None,
        outgrown: None,
    }
}

/// `options` with CPUs and memory from `sizing` where neither the request nor the site gave
/// them.
pub fn apply_sizing(options: SlurmOptions, sizing: &JobSizing) -> SlurmOptions {
    SlurmOptions {
        cpus_per_task: options
            .cpus_per_task
            .or(CpuCount::new(sizing.cpus_per_task.into()).ok()),
        mem_mb: options.mem_mb.or(MemMb::new(sizing.mem_mb.into()).ok()),
        ..options
    }
}

/// Scrapers of a sharded session when none were asked for: one per CPU of agent work for the
/// whole session (one per ≈ 167 k samples/s), 1 to 64.
pub fn default_scrapers(sizing: &JobSizing) -> u16 {
    let cpus = (sizing.samples_per_second * JobCosts::AGENT.ns_per_sample / 1e9).ceil();
    (cpus as u64).clamp(1, 64) as u16
}

/// One scraper's job, sized for its `1/scrapers` share of the session's series.
pub fn scraper_sizing(sizing: &JobSizing, scrapers: u16) -> JobSizing {
    let n = u64::from(scrapers.max(1));
    let share = ExpectedTargets(
        [(
            "share".to_owned(),
            sizing.expected_series.div_ceil(n).div_ceil(500),
        )]
        .into(),
    );
    let interval_s = match sizing.samples_per_second {
        r if r > 0.0 => sizing.expected_series as f64 / r,
        _ => 15.0,
    };
    size_job_with(&share, interval_s, JobCosts::AGENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u64) -> ExpectedTargets {
        ExpectedTargets([("node".to_owned(), n)].into())
    }

    #[test]
    fn an_empty_or_small_session_gets_one_cpu_and_the_base_memory() {
        let s = size_job(&ExpectedTargets::default(), 15.0);
        assert_eq!((s.cpus_per_task, s.mem_mb, s.expected_series), (1, 512, 0));
        let s = size_job(&nodes(10), 15.0);
        // 10,000 series × 7,200 B = 68.7 MiB over the base: 768 MiB in 256 MiB steps.
        assert_eq!((s.cpus_per_task, s.mem_mb), (1, 768));
    }

    #[test]
    fn a_thousand_nodes_with_gpus_at_one_second_get_cpus_and_memory_for_it() {
        let mut t = nodes(1000);
        t.0.insert("dcgm".into(), 1000);
        let s = size_job(&t, 1.0);
        assert_eq!(s.expected_series, 1_330_000);
        assert_eq!(s.samples_per_second, 1_330_000.0);
        // 1.33 M samples/s × 4 µs = 5.32 → 6 CPUs; 512 + 9,133 MiB → 9,728 MiB.
        assert_eq!((s.cpus_per_task, s.mem_mb), (6, 9728));
    }

    #[test]
    fn scrapers_default_to_one_per_cpu_of_agent_work_and_share_the_series() {
        let mut t = nodes(1000);
        t.0.insert("dcgm".into(), 1000);
        let s = size_job(&t, 1.0);
        // 1.33 M samples/s × 6 µs = 7.98 → 8 scrapers.
        assert_eq!(default_scrapers(&s), 8);
        assert_eq!(default_scrapers(&size_job(&nodes(10), 15.0)), 1);
        // 1.33 M series over 8 scrapers: 166,250 each (rounded up to 500s) → 166,500 series,
        // 166,500 samples/s × 6 µs = 1 CPU; 512 + 1,144 MiB → 1,792 MiB.
        let one = scraper_sizing(&s, 8);
        assert_eq!(one.expected_series, 166_500);
        assert_eq!((one.cpus_per_task, one.mem_mb), (1, 1792));
    }

    #[test]
    fn a_victoriametrics_store_is_sized_by_its_own_costs() {
        let mut t = nodes(1000);
        t.0.insert("dcgm".into(), 1000);
        let s = size_job_with(&t, 1.0, JobCosts::VICTORIAMETRICS);
        // 1.33 M samples/s × 6 µs = 7.98 → 8 CPUs; 512 + 3,806 MiB → 4,352 MiB (a single
        // Prometheus: 6 CPUs, 9,728 MiB).
        assert_eq!((s.cpus_per_task, s.mem_mb), (8, 4352));
    }

    #[test]
    fn a_view_says_when_targets_outgrew_the_sizing() {
        let mut sizing = size_job(&nodes(10), 15.0);
        sizing.compare_with(&nodes(10));
        assert_eq!(sizing.outgrown, None);
        sizing.compare_with(&nodes(11));
        assert_eq!(sizing.expected_series_now, Some(11_000));
        assert_eq!(
            sizing.outgrown.as_deref(),
            Some("the job was sized for 10000 expected series (10 targets); its targets now expect 11000")
        );
    }

    #[test]
    fn a_request_or_site_value_wins_over_the_sizing() {
        let sizing = size_job(&nodes(1000), 1.0);
        let given = SlurmOptions {
            cpus_per_task: Some(CpuCount::new(3).unwrap()),
            ..SlurmOptions::default()
        };
        let o = apply_sizing(given, &sizing);
        assert_eq!(o.cpus_per_task.map(CpuCount::get), Some(3));
        assert_eq!(o.mem_mb.map(MemMb::get), Some(sizing.mem_mb));
    }
}
