//! The process metrics every Prometheus client library exports (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, …), read from `/proc/self` at each scrape, and
//! `benchmon_build_info`: what an operator looks at first when a shared server misbehaves.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

/// Gauges and the CPU counter, registered once.
pub struct ProcessMetrics {
    cpu_seconds: Counter<f64, AtomicU64>,
    /// CPU seconds already added to the counter (it only moves forward by the difference).
    cpu_counted: Mutex<f64>,
    resident_bytes: Gauge,
    virtual_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge<f64, AtomicU64>,
}

impl ProcessMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = ProcessMetrics {
            cpu_seconds: Counter::default(),
            cpu_counted: Mutex::new(0.0),
            resident_bytes: Gauge::default(),
            virtual_bytes: Gauge::default(),
            open_fds: Gauge::default(),
            max_fds: Gauge::default(),
            start_time: Gauge::default(),
        };
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("benchmon_build_info", "benchmon's version, always 1", build);
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            m.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            m.resident_bytes.clone(),
        );
        registry.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            m.virtual_bytes.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors",
            m.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "Maximum number of open file descriptors",
            m.max_fds.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            m.start_time.clone(),
        );
        m
    }

    /// Reads `/proc/self` into the metrics; what cannot be read keeps its last value.
    pub fn update(&self) {
        let ticks = clock_ticks();
        if let Some(stat) = read_stat() {
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            if let Ok(mut counted) = self.cpu_counted.lock() {
                if cpu > *counted {
                    self.cpu_seconds.inc_by(cpu - *counted);
                    *counted = cpu;
                }
            }
            self.virtual_bytes.set(stat.vsize as i64);
            self.resident_bytes
                .set((stat.rss_pages * page_size()) as i64);
            if let Some(boot) = boot_time() {
                self.start_time
                    .set(boot as f64 + stat.start_ticks as f64 / ticks);
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as i64);
        }
        if let Some(max) = max_open_files() {
            self.max_fds.set(max as i64);
        }
    }
}

struct Stat {
    utime: u64,
    stime: u64,
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
}

/// `/proc/self/stat`, whose second field (the command) may hold spaces: fields are counted
/// after its closing parenthesis.
fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &text[text.rfind(')')? + 1..];
    // `after` starts at field 3 (state); field n is at index n - 3.
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: num(14)?,
        stime: num(15)?,
        start_ticks: num(22)?,
        vsize: num(23)?,
        rss_pages: num(24)?,
    })
}

fn boot_time() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_open_files() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn clock_ticks() -> f64 {
    use nix::unistd::{sysconf, SysconfVar};
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

fn page_size() -> u64 {
    use nix::unistd::{sysconf, SysconfVar};
    match sysconf(SysconfVar::PAGE_SIZE) {
        Ok(Some(p)) if p > 0 => p as u64,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_reads_and_the_exposition_names_them_as_client_libraries_do() {
        let mut registry = Registry::default();
        let m = ProcessMetrics::register(&mut registry);
        // Enough CPU for a few clock ticks.
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        m.update();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains(&format!(
            "benchmon_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
                .parse()
                .unwrap()
        };
        // This test process: some MB resident, a few fds, started within the last day.
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
        assert!(value("process_cpu_seconds_total") > 0.0);
    }
}
