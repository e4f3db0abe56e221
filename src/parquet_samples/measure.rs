//! Size on synthetic node-exporter-like data: prints bytes per sample with `--nocapture` and
//! asserts a generous bound, so it cannot flake (`cargo test --lib parquet_samples::measure --
//! --nocapture`). Speed and memory are measured by `examples/bench-scale.sh`, not here.

use super::*;
use std::time::Instant;

/// One synthetic series: what `write_series` takes.
pub(super) struct Synthetic {
    pub query: String,
    pub key: String,
    pub labels: Vec<(&'static str, String)>,
    pub samples: Vec<(i64, f64)>,
}

pub(super) const LABELS: [&str; 8] = [
    "__name__",
    "instance",
    "job",
    "cpu",
    "mode",
    "device",
    "fstype",
    "mountpoint",
];

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Node-exporter-like series of one node, series after series, each in time order.
///
/// All series of the node share one scrape's timestamp (as in Prometheus), scrapes `interval_ms`
/// apart with 0–3 ms of jitter. The mix, by share of series:
/// 30 % constant (sizes, info metrics), 15 % counters that rarely move (errors, drops),
/// 20 % CPU-seconds counters (irregular increments, 2 decimals), 15 % byte counters
/// (irregular integer increments, sometimes none), 10 % gauges with few values (load, procs),
/// 10 % noisy gauges (memory in pages of 4096, temperatures with 1 decimal).
pub(super) fn node_exporter_like(
    series: usize,
    scrapes: usize,
    interval_ms: i64,
) -> impl Iterator<Item = Synthetic> {
    let mut rng = Rng(42);
    let t0 = 1_700_000_000_000i64;
    let times: Vec<i64> = (0..scrapes as i64)
        .map(|k| t0 + k * interval_ms + rng.below(4) as i64)
        .collect();
    let interval_s = interval_ms as f64 / 1000.0;
    (0..series).map(move |i| {
        let mut rng = Rng(1000 + i as u64);
        let kind = i % 20;
        let (family, mut labels): (&str, Vec<(&'static str, String)>) = match kind {
            0..=5 => (
                "node_filesystem_size_bytes",
                vec![
                    ("device", format!("/dev/sd{}", i % 7)),
                    ("fstype", "xfs".into()),
                    ("mountpoint", format!("/mnt/{i}")),
                ],
            ),
            6..=8 => (
                "node_network_receive_errs_total",
                vec![("device", format!("eth{i}"))],
            ),
            9..=12 => (
                "node_cpu_seconds_total",
                vec![
                    ("cpu", (i / 20).to_string()),
                    (
                        "mode",
                        ["user", "system", "idle", "iowait"][kind - 9].into(),
                    ),
                ],
            ),
            13..=15 => (
                "node_network_receive_bytes_total",
                vec![("device", format!("eth{i}"))],
            ),
            16..=17 => ("node_load1", vec![]),
            _ => ("node_memory_MemAvailable_bytes", vec![]),
        };
        labels.push(("__name__", family.into()));
        labels.push(("instance", "cn0042:9100".into()));
        labels.push(("job", "node".into()));
        let mut v = match kind {
            0..=5 => (1u64 << 30) as f64 * (1 + rng.below(500)) as f64,
            6..=8 => rng.below(5) as f64,
            9..=12 => (rng.below(10_000_000) as f64 / 100.0).round(),
            13..=15 => rng.below(1 << 40) as f64,
            16..=17 => 1.0,
            _ => 4096.0 * (1_000_000 + rng.below(1_000_000)) as f64,
        };
        let samples = times
            .iter()
            .map(|&t| {
                match kind {
                    0..=5 => {}
                    6..=8 => {
                        if rng.below(100) == 0 {
                            v += 1.0;
                        }
                    }
                    9..=12 => {
                        let inc = interval_s * rng.unit();
                        v = ((v + inc) * 100.0).round() / 100.0;
                    }
                    13..=15 => {
                        if rng.below(10) >= 3 {
                            v += rng.below(100_000) as f64;
                        }
                    }
                    16..=17 => {
                        if i % 2 == 0 {
                            v = rng.below(9) as f64; // procs_running
                        } else if rng.below(4) == 0 {
                            v = (rng.unit() * 400.0).round() / 100.0; // load1
                        }
                    }
                    _ => {
                        if i % 2 == 0 {
                            v += 4096.0 * (rng.below(2001) as f64 - 1000.0);
                        } else {
                            v = (400.0 + rng.unit() * 200.0).round() / 10.0; // °C
                        }
                    }
                }
                (t, v)
            })
            .collect();
        Synthetic {
            query: family.replace("node_", "").replace("_total", ""),
            key: format!("s{:016x}", Rng(i as u64).next()),
            labels,
            samples,
        }
    })
}

struct Measured {
    rows: u64,
    bytes: u64,
    seconds: f64,
    /// Compressed bytes per column, in file order.
    columns: Vec<(String, i64)>,
}

fn measure(series: usize, scrapes: usize, interval_ms: i64, options: ParquetOptions) -> Measured {
    let labels: Vec<String> = LABELS.iter().map(|l| (*l).to_owned()).collect();
    let data: Vec<Synthetic> = node_exporter_like(series, scrapes, interval_ms).collect();
    let started = Instant::now();
    let mut w = SampleParquetWriter::new(tempfile::tempfile().unwrap(), &labels, options).unwrap();
    for s in &data {
        w.write_series(&s.query, &s.key, &s.labels, &s.samples)
            .unwrap();
    }
    let (summary, file) = w.finish_into_inner().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    let meta = reader.metadata();
    let mut columns: Vec<(String, i64)> = Vec::new();
    for rg in meta.row_groups() {
        for (i, c) in rg.columns().iter().enumerate() {
            if columns.len() <= i {
                columns.push((c.column_path().string(), 0));
            }
            columns[i].1 += c.compressed_size();
        }
    }
    Measured {
        rows: summary.rows,
        bytes: summary.bytes,
        seconds,
        columns,
    }
}

fn report(name: &str, m: &Measured) -> f64 {
    let per = m.bytes as f64 / m.rows as f64;
    let cols: Vec<String> = m
        .columns
        .iter()
        .map(|(n, b)| format!("{n} {:.3}", *b as f64 / m.rows as f64))
        .collect();
    println!(
        "{name:<34} {:>9} rows {:>10} B  {per:.3} B/sample  {:>9.0} rows/s  [{}]",
        m.rows,
        m.bytes,
        m.rows as f64 / m.seconds,
        cols.join(", ")
    );
    per
}

/// 1000 series of one node over 600 scrapes, at 1 s, 5 s and 15 s scrape intervals.
#[test]
fn node_exporter_like_raw_data_takes_under_six_bytes_a_sample() {
    for interval in [1_000, 5_000, 15_000] {
        let m = measure(1000, 600, interval, ParquetOptions::default());
        let per = report(&format!("defaults, scrape every {} s", interval / 1000), &m);
        assert!(per <= 6.0, "{per} bytes a sample");
    }
}
