//! The report's tables as strings ready to print: the KPI table (per query, the whole
//! collection's aggregates and then each named window's) and the coverage table.

use crate::export::coverage::CoverageReport;
use crate::export::kpi::Kpi;
use crate::export::windowed::{WindowSummary, WHOLE};
use crate::export::{QueryReport, QueryStatus};

/// One row of the KPI table.
pub(crate) struct KpiRow {
    pub(crate) query: String,
    /// `collection`, or a named window.
    pub(crate) window: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) absent: bool,
    /// Rows of a named window (set off in the table).
    pub(crate) named: bool,
    pub(crate) series: u64,
    pub(crate) samples: u64,
    pub(crate) cells: [String; 9],
}

/// One row of the coverage table.
pub(crate) struct CovRow {
    pub(crate) target: String,
    pub(crate) scrapes: u64,
    pub(crate) expected: String,
    pub(crate) coverage: String,
    pub(crate) up: String,
    pub(crate) gaps: usize,
    pub(crate) max_gap: String,
    pub(crate) flagged: bool,
}

/// Compact number for tables and axes: 4 significant digits, exponent when large or tiny.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

fn cells(k: &Kpi) -> [String; 9] {
    [
        opt(k.min),
        opt(k.max),
        opt(k.mean),
        opt(k.p50),
        opt(k.p95),
        opt(k.p99),
        opt(k.increase),
        opt(k.rate_per_second),
        opt(k.observations),
    ]
}

/// The KPI rows and the methods they use (each once).
pub(crate) fn kpi_rows(
    queries: &[QueryReport],
    windows: &[WindowSummary],
) -> (Vec<KpiRow>, Vec<String>) {
    let mut rows = Vec::new();
    let mut methods: Vec<String> = Vec::new();
    for q in queries {
        let absent = q.status == QueryStatus::Absent;
        let status = if absent { "absent" } else { "ok" }.to_owned();
        let row = |window: &str, kind: String, series: u64, samples: u64, cells| KpiRow {
            query: q.name.clone(),
            window: window.to_owned(),
            kind,
            status: status.clone(),
            absent,
            named: window != WHOLE,
            series,
            samples,
            cells,
        };
        if q.aggregate.is_empty() {
            let kind = serde_json::to_value(q.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            rows.push(row(WHOLE, kind, q.series, q.samples, Default::default()));
            continue;
        }
        for k in &q.aggregate {
            if !methods.contains(&k.method) {
                methods.push(k.method.clone());
            }
            let kind = k.kind.as_str().to_owned();
            rows.push(row(WHOLE, kind, q.series, k.samples, cells(k)));
        }
        for w in windows {
            let Some(wq) = w.queries.iter().find(|x| x.name == q.name) else {
                continue;
            };
            for k in &wq.aggregate {
                let kind = k.kind.as_str().to_owned();
                let n = wq.series.len() as u64;
                rows.push(row(&w.name, kind, n, k.samples, cells(k)));
            }
        }
    }
    (rows, methods)
}

fn pct(x: Option<f64>) -> String {
    x.map(|c| format!("{:.1}%", c * 100.0)).unwrap_or_default()
}

/// One row per target.
pub(crate) fn coverage_rows(coverage: Option<&CoverageReport>) -> Vec<CovRow> {
    let Some(c) = coverage else {
        return Vec::new();
    };
    c.targets
        .iter()
        .map(|t| CovRow {
            target: t.target.clone(),
            scrapes: t.scrapes,
            expected: opt(t.expected_scrapes),
            coverage: pct(t.coverage),
            up: pct(t.up_fraction),
            gaps: t.gaps.len(),
            max_gap: t
                .max_gap_seconds
                .map(|s| format!("{s}s"))
                .unwrap_or_default(),
            flagged: t.flagged,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(50.5), "50.5");
        assert_eq!(num(95.049999999), "95.05");
        assert_eq!(num(1234567.0), "1.235e6");
        assert_eq!(num(0.0), "0");
    }
}
