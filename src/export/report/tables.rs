//! The report's tables as strings ready to print: the KPI table (per query, the whole
//! collection's aggregates and then each named window's) and the coverage table.

use crate::export::coverage::CoverageReport;
use crate::export::kpi::Kpi;
use crate::export::unit::{human, Unit};
use crate::export::windowed::{WindowSummary, WHOLE};
use crate::export::{QueryReport, QueryStatus};

/// One row of the KPI table.
pub(crate) struct KpiRow {
    pub(crate) query: String,
    /// `collection`, or a named window.
    pub(crate) window: String,
    pub(crate) kind: String,
    /// The unit's symbol (`B`, `W`), empty when none was declared.
    pub(crate) unit: String,
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

fn opt(x: Option<f64>) -> String {
    x.map(|v| human(v, None)).unwrap_or_default()
}

/// The KPI cells for people, in the query's unit (the rate per second of it).
fn cells(k: &Kpi, unit: Option<Unit>) -> [String; 9] {
    let u = |x: Option<f64>| x.map(|v| human(v, unit)).unwrap_or_default();
    let rate = |x: Option<f64>| {
        x.map(|v| match unit {
            Some(Unit::Bytes) => human(v, Some(Unit::BytesPerSecond)),
            Some(Unit::Tokens) => human(v, Some(Unit::TokensPerSecond)),
            Some(other) => format!("{}/s", human(v, Some(other))),
            None => human(v, None),
        })
        .unwrap_or_default()
    };
    [
        u(k.min),
        u(k.max),
        u(k.mean),
        u(k.p50),
        u(k.p95),
        u(k.p99),
        u(k.increase),
        rate(k.rate_per_second),
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
        let unit = q.unit.map(|u| u.symbol().to_owned()).unwrap_or_default();
        let row = |window: &str, kind: String, series: u64, samples: u64, cells| KpiRow {
            query: q.name.clone(),
            window: window.to_owned(),
            kind,
            unit: unit.clone(),
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
            rows.push(row(WHOLE, kind, q.series, k.samples, cells(k, q.unit)));
        }
        for w in windows {
            let Some(wq) = w.queries.iter().find(|x| x.name == q.name) else {
                continue;
            };
            for k in &wq.aggregate {
                let kind = k.kind.as_str().to_owned();
                let n = wq.series.len() as u64;
                rows.push(row(&w.name, kind, n, k.samples, cells(k, q.unit)));
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
    fn kpi_cells_carry_the_unit_and_rates_per_second() {
        let mut k = crate::export::kpi::CounterAcc::default();
        k.push(0, 0.0);
        k.push(10_000, 5.0 * 1073741824.0);
        let c = cells(&k.kpi(), Some(Unit::Bytes));
        assert_eq!((c[6].as_str(), c[7].as_str()), ("5 GiB", "512 MiB/s"));
        let c = cells(&k.kpi(), Some(Unit::Joules));
        assert_eq!((c[6].as_str(), c[7].as_str()), ("5.369 GJ", "536.9 MJ/s"));
        assert_eq!(cells(&k.kpi(), None)[6], "5.369e9");
    }
}
