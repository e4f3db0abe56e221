//! Which way is better for a query's KPIs when no rule says: from the profile query names
//! benchmon itself ships (`export::profiles`), then from the unit suffixes Prometheus naming
//! conventions put on user queries. `None` means a change is only reported, never judged.

use super::tolerance::Direction;

/// Profile queries with a known better direction.
const PROFILE: [(&str, Direction); 14] = [
    ("node_network_receive_bytes_per_second", Direction::Higher),
    ("node_network_transmit_bytes_per_second", Direction::Higher),
    ("node_disk_read_bytes_per_second", Direction::Higher),
    ("node_disk_written_bytes_per_second", Direction::Higher),
    ("gpu_power_watts", Direction::Lower),
    ("gpu_temperature_celsius", Direction::Lower),
    ("target_up", Direction::Higher),
    ("scrape_duration_seconds", Direction::Lower),
    ("vllm_requests_waiting", Direction::Lower),
    ("vllm_request_rate", Direction::Higher),
    ("vllm_prompt_tokens_per_second", Direction::Higher),
    ("vllm_generation_tokens_per_second", Direction::Higher),
    ("vllm_e2e_latency_seconds", Direction::Lower),
    ("vllm_ttft_seconds", Direction::Lower),
];

/// The default direction of `kpi` of query `query`.
pub fn default_direction(query: &str, kpi: &str) -> Option<Direction> {
    // energy.csv: energy and power are costs, tokens and tokens per joule the work done.
    if query == super::bundle::ENERGY_QUERY {
        return Some(match kpi {
            "tokens" | "tokens_per_joule" => Direction::Higher,
            _ => Direction::Lower,
        });
    }
    if let Some((_, d)) = PROFILE.iter().find(|(q, _)| *q == query) {
        return Some(*d);
    }
    // `vllm_e2e_latency_seconds_p95` and other quantile companions follow their base.
    if let Some((_, d)) = PROFILE
        .iter()
        .find(|(q, _)| query.strip_prefix(q).is_some_and(|r| r.starts_with("_p")))
    {
        return Some(*d);
    }
    let q = query.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| q.contains(w));
    if has(&[
        "throughput",
        "per_second",
        "_rate",
        "tokens_per",
        "bandwidth",
        "flops",
    ]) {
        return Some(Direction::Higher);
    }
    if has(&[
        "latency",
        "duration",
        "ttft",
        "_seconds",
        "power",
        "watts",
        "energy",
        "joules",
        "temperature",
    ]) {
        return Some(Direction::Lower);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_power_and_energy_are_lower_throughput_higher() {
        use Direction::*;
        assert_eq!(default_direction("vllm_ttft_seconds", "mean"), Some(Lower));
        assert_eq!(
            default_direction("vllm_ttft_seconds_p95", "mean"),
            Some(Lower)
        );
        assert_eq!(default_direction("gpu_power_watts", "mean"), Some(Lower));
        assert_eq!(default_direction("energy_per_token_j", "mean"), Some(Lower));
        assert_eq!(
            default_direction("vllm_generation_tokens_per_second", "mean"),
            Some(Higher)
        );
        assert_eq!(default_direction("my_throughput", "mean"), Some(Higher));
        assert_eq!(default_direction("node_cpu_utilisation", "mean"), None);
        assert_eq!(default_direction("energy", "joules_per_token"), Some(Lower));
        assert_eq!(
            default_direction("energy", "tokens_per_joule"),
            Some(Higher)
        );
    }
}
