//! Logging setup and benchmon's own metrics (`GET /metrics`, Prometheus text format).
//!
//! The metrics live in one process-wide registry: they are recorded from deep inside launchers
//! and collectors, and threading a handle through every call would buy nothing — there is
//! exactly one exposition endpoint per process.

mod process;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub command: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template (`/api/v1/sessions/{id}`), never the raw path, so the
    /// number of series stays bounded whatever ids clients send.
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// All of benchmon's own metrics.
pub struct Metrics {
    registry: Registry,
    pub commands: HistogramFamily<CommandLabels>,
    pub http: HistogramFamily<HttpLabels>,
    pub sessions: Family<StateLabels, Gauge>,
    pub registrations: Family<KindLabels, Counter>,
    pub collections: HistogramFamily<OutcomeLabels>,
    pub collected_bytes: Counter,
    pub collected_samples: Counter,
    pub process: process::ProcessMetrics,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let commands: HistogramFamily<CommandLabels> = Family::new_with_constructor(seconds_histogram);
    registry.register(
        "benchmon_scheduler_command_duration_seconds",
        "Duration of scheduler commands (sbatch, squeue, scancel) by outcome",
        commands.clone(),
    );
    let http: HistogramFamily<HttpLabels> = Family::new_with_constructor(seconds_histogram);
    registry.register(
        "benchmon_http_request_duration_seconds",
        "HTTP requests by method, route template and status",
        http.clone(),
    );
    let sessions = Family::<StateLabels, Gauge>::default();
    registry.register("benchmon_sessions", "Sessions by state", sessions.clone());
    let registrations = Family::<KindLabels, Counter>::default();
    registry.register(
        "benchmon_registrations",
        "Target registrations by kind (client, service)",
        registrations.clone(),
    );
    let collections: HistogramFamily<OutcomeLabels> =
        Family::new_with_constructor(seconds_histogram);
    registry.register(
        "benchmon_collection_duration_seconds",
        "Collections by outcome",
        collections.clone(),
    );
    let collected_bytes = Counter::default();
    registry.register(
        "benchmon_collected_bytes",
        "Bytes written into artifact bundles",
        collected_bytes.clone(),
    );
    let collected_samples = Counter::default();
    registry.register(
        "benchmon_collected_samples",
        "Samples written into artifact bundles",
        collected_samples.clone(),
    );
    let process = process::ProcessMetrics::register(&mut registry);
    Metrics {
        registry,
        process,
        commands,
        http,
        sessions,
        registrations,
        collections,
        collected_bytes,
        collected_samples,
    }
});

/// Records one scheduler command.
pub fn record_command(program: &str, took: Duration, ok: bool) {
    let labels = CommandLabels {
        command: program.to_owned(),
        outcome: if ok { "ok" } else { "error" }.to_owned(),
    };
    METRICS
        .commands
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
}

/// Records one HTTP request; `route` is the matched route template, never the raw path.
pub fn record_http(method: &str, route: &str, status: u16, took: Duration) {
    let labels = HttpLabels {
        method: method.to_owned(),
        route: route.to_owned(),
        status: status.to_string(),
    };
    METRICS
        .http
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
}

/// The registry in OpenMetrics text format.
pub fn encode_openmetrics() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

/// The registry in the classic Prometheus text format (0.0.4), for clients that do not ask
/// for OpenMetrics (curl, `promtool check metrics`). The two differ in what matters here only
/// by counter family names (OpenMetrics names the family `x`, its sample `x_total`; the classic
/// format names both `x_total`) and the `# EOF` line.
pub fn encode_classic_text() -> String {
    let om = encode_openmetrics();
    let counters: std::collections::HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
