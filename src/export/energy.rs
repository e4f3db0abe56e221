//! Energy, from the KPIs of the energy profile queries, for the whole collection and each named
//! window: joules per GPU, CPU package and node and in total, mean and peak power, and energy per
//! unit of work (vLLM's generated tokens). Every row states its scope and its method.
//!
//! - GPU: `gpu_energy_joules` (DCGM's total-energy counter, mJ / 1000) — the counter increase,
//!   a drop being a reset (the board restarted counting), so the new value is added; without the
//!   counter, `gpu_power_watts` (DCGM's power gauge) integrated by the trapezoid rule.
//! - CPU package: `cpu_package_energy_joules` (RAPL `node_rapl_package_joules_total`): the
//!   counter increase.
//! - Node: `node_power_watts` (IPMI DCMI) integrated by the trapezoid rule.
//! - Work: the increase of `vllm_generation_tokens`, divided into (and by) the GPU energy, else
//!   the node's, else the CPU packages'.

use super::kpi::{Kpi, KpiKind};
use super::merge::SeriesOut;
use super::series::label_string;
use super::summary::QuerySummary;
use super::unit::Unit;
use super::windowed::{WindowSummary, WHOLE};
use serde::Serialize;

/// One energy figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct EnergyRow {
    /// `collection` or a named window.
    pub(crate) window: String,
    /// `gpu`, `cpu_package`, `node` or `work`.
    pub(crate) scope: &'static str,
    /// The series' label set, or `total`.
    pub(crate) target: String,
    /// `energy`, `mean_power`, `peak_power`, `tokens`, `joules_per_token`, `tokens_per_joule`.
    pub(crate) metric: &'static str,
    pub(crate) value: f64,
    pub(crate) unit: Unit,
    pub(crate) method: String,
}

/// One query's KPIs in one window.
struct View<'a> {
    series: &'a [SeriesOut],
    aggregate: &'a [Kpi],
}

const COUNTER: &str = "counter increase over the window: sum of consecutive differences, a drop is a reset so the new value is added; mean power = increase / seconds between the first and last sample";
const INTEGRAL: &str = "power gauge integrated over time by the trapezoid rule (linear between samples); mean and peak of the samples";

/// The energy rows of the collection, then of each named window.
pub(crate) fn energy_rows(queries: &[QuerySummary], windows: &[WindowSummary]) -> Vec<EnergyRow> {
    let whole = |name: &str| {
        queries
            .iter()
            .find(|q| q.report.name == name)
            .map(|q| View {
                series: &q.series,
                aggregate: &q.report.aggregate,
            })
    };
    let mut rows = one_window(WHOLE, &whole);
    for w in windows {
        let named = |name: &str| {
            w.queries.iter().find(|q| q.name == name).map(|q| View {
                series: &q.series,
                aggregate: &q.aggregate,
            })
        };
        rows.extend(one_window(&w.name, &named));
    }
    rows
}

fn kpi(v: &View<'_>, kind: KpiKind) -> Option<Kpi> {
    v.aggregate.iter().find(|k| k.kind == kind).cloned()
}

/// Rows for one window; `find` gives a query's KPIs in it.
fn one_window<'a>(window: &str, find: &dyn Fn(&str) -> Option<View<'a>>) -> Vec<EnergyRow> {
    let mut rows = Vec::new();
    let mut row = |scope, target: String, metric, value: f64, unit, method: &str| {
        rows.push(EnergyRow {
            window: window.to_owned(),
            scope,
            target,
            metric,
            value,
            unit,
            method: method.to_owned(),
        })
    };
    let mut totals: Vec<(&str, f64)> = Vec::new();
    let gpu_counter = find("gpu_energy_joules").filter(|v| kpi(v, KpiKind::Counter).is_some());
    let gpu_power = find("gpu_power_watts").filter(|v| kpi(v, KpiKind::Gauge).is_some());
    let gpu_counter_method = format!("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ) / 1000: {COUNTER}");
    let gpu_power_method = format!("DCGM_FI_DEV_POWER_USAGE: {INTEGRAL}");
    let node_method = format!("ipmi_dcmi_power_consumption_watts: {INTEGRAL}");
    let cpu_method = format!("node_rapl_package_joules_total: {COUNTER}");
    let cpu = find("cpu_package_energy_joules");
    let node = find("node_power_watts");
    // Counters: energy and mean power per series and in total.
    for (scope, view, method) in [
        ("gpu", gpu_counter.as_ref(), &gpu_counter_method),
        ("cpu_package", cpu.as_ref(), &cpu_method),
    ] {
        let Some(v) = view else { continue };
        let Some(total) = kpi(v, KpiKind::Counter) else {
            continue;
        };
        for s in v.series {
            let Some(k) = s.kpi.as_ref() else { continue };
            let target = label_string(&s.labels);
            if let Some(j) = k.increase {
                row(scope, target.clone(), "energy", j, Unit::Joules, method);
            }
            if let Some(w) = k.rate_per_second {
                row(scope, target, "mean_power", w, Unit::Watts, method);
            }
        }
        if let Some(j) = total.increase {
            row(scope, "total".into(), "energy", j, Unit::Joules, method);
            totals.push((scope, j));
        }
        if let Some(w) = total.rate_per_second {
            row(scope, "total".into(), "mean_power", w, Unit::Watts, method);
        }
    }
    // Power gauges: integrated (the GPU's only without its counter), mean and peak.
    let gauges = [
        (
            "gpu",
            gpu_power.as_ref(),
            &gpu_power_method,
            gpu_counter.is_none(),
        ),
        ("node", node.as_ref(), &node_method, true),
    ];
    for (scope, view, method, integrate) in gauges {
        let Some(v) = view else { continue };
        let Some(total) = kpi(v, KpiKind::Gauge) else {
            continue;
        };
        for s in v.series {
            let Some(k) = s.kpi.as_ref() else { continue };
            let target = label_string(&s.labels);
            if let (true, Some(j)) = (integrate, k.integral) {
                row(scope, target.clone(), "energy", j, Unit::Joules, method);
            }
            if let (true, Some(w)) = (integrate, k.mean) {
                row(scope, target.clone(), "mean_power", w, Unit::Watts, method);
            }
            if let Some(w) = k.max {
                row(scope, target, "peak_power", w, Unit::Watts, method);
            }
        }
        if let (true, Some(j)) = (integrate, total.integral) {
            row(scope, "total".into(), "energy", j, Unit::Joules, method);
            totals.push((scope, j));
        }
    }
    // Work: tokens generated, per joule of the most direct energy measured.
    let tokens = find("vllm_generation_tokens")
        .and_then(|v| kpi(&v, KpiKind::Counter))
        .and_then(|k| k.increase);
    let basis = ["gpu", "node", "cpu_package"]
        .iter()
        .find_map(|s| totals.iter().find(|(t, _)| t == s).copied());
    if let Some(t) = tokens {
        let m = "increase of vllm:generation_tokens_total (counter rules)";
        row("work", "total".into(), "tokens", t, Unit::Tokens, m);
        if let Some((scope, j)) = basis.filter(|&(_, j)| j > 0.0 && t > 0.0) {
            let m = format!("{scope} energy (total) / generated tokens");
            row(
                "work",
                "total".into(),
                "joules_per_token",
                j / t,
                Unit::JoulesPerToken,
                &m,
            );
            let m = format!("generated tokens / {scope} energy (total)");
            row(
                "work",
                "total".into(),
                "tokens_per_joule",
                t / j,
                Unit::TokensPerJoule,
                &m,
            );
        }
    }
    rows
}

/// `energy.csv`: `window,scope,target,metric,value,unit,method`, values exact in their unit.
pub(crate) fn to_csv(rows: &[EnergyRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "window", "scope", "target", "metric", "value", "unit", "method",
    ])?;
    for r in rows {
        w.write_record([
            r.window.as_str(),
            r.scope,
            &r.target,
            r.metric,
            &r.value.to_string(),
            r.unit.as_str(),
            &r.method,
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
