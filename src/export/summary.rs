//! The small bundle files: `series.csv`, `summary.csv`, `summary.json`, and the manifest's
//! description of the formats.

use super::energy::EnergyRow;
use super::kpi::Kpi;
use super::manifest::Window;
use super::matrix::Labels;
use super::merge::SeriesOut;
use super::quality::Verdict;
use super::series::label_string;
use super::windowed::{WindowSummary, WHOLE};
use super::QueryReport;
use serde_json::json;
use std::collections::BTreeSet;

/// KPIs of one query: per series and aggregated.
pub(crate) struct QuerySummary {
    pub(crate) report: QueryReport,
    pub(crate) series: Vec<SeriesOut>,
}

/// `series.csv`: `query,series,labels` and one column per label name seen.
pub(crate) fn series_csv(rows: &[(String, String, Labels)]) -> Result<Vec<u8>, csv::Error> {
    let names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|(_, _, l)| l.iter().map(|(k, _)| k.as_str()))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["query", "series", "labels"];
    header.extend(names.iter().copied());
    w.write_record(&header)?;
    for (query, key, labels) in rows {
        let mut rec: Vec<String> = vec![query.clone(), key.clone(), label_string(labels)];
        let mut it = labels.iter().peekable();
        for name in &names {
            match it.peek() {
                Some((k, v)) if k == name => {
                    rec.push(v.clone());
                    it.next();
                }
                _ => rec.push(String::new()),
            }
        }
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

const SUMMARY_COLUMNS: [&str; 21] = [
    "query",
    "window",
    "scope",
    "series",
    "labels",
    "kind",
    "unit",
    "samples",
    "nonfinite",
    "min",
    "max",
    "mean",
    "p50",
    "p95",
    "p99",
    "increase",
    "rate_per_second",
    "resets",
    "observations",
    "integral",
    "method",
];

/// Which rows: a query in a window.
struct RowKey<'a> {
    query: &'a str,
    window: &'a str,
    unit: &'a str,
}

fn kpi_record(at: &RowKey<'_>, scope: &str, series: &str, labels: &str, k: &Kpi) -> Vec<String> {
    let f = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    vec![
        at.query.to_owned(),
        at.window.to_owned(),
        scope.to_owned(),
        series.to_owned(),
        labels.to_owned(),
        k.kind.as_str().to_owned(),
        at.unit.to_owned(),
        k.samples.to_string(),
        k.nonfinite.to_string(),
        f(k.min),
        f(k.max),
        f(k.mean),
        f(k.p50),
        f(k.p95),
        f(k.p99),
        f(k.increase),
        f(k.rate_per_second),
        k.resets.map(|r| r.to_string()).unwrap_or_default(),
        f(k.observations),
        f(k.integral),
        k.method.clone(),
    ]
}

/// The aggregate rows, then the series rows, of one query in one window.
fn write_rows(
    w: &mut csv::Writer<Vec<u8>>,
    at: &RowKey<'_>,
    aggregate: &[Kpi],
    series: &[SeriesOut],
) -> Result<(), csv::Error> {
    for k in aggregate {
        w.write_record(kpi_record(at, "aggregate", "", "", k))?;
    }
    for s in series {
        if let Some(k) = &s.kpi {
            w.write_record(kpi_record(
                at,
                "series",
                &s.key,
                &label_string(&s.labels),
                k,
            ))?;
        }
    }
    Ok(())
}

/// `summary.csv`: per query, the whole collection's rows (`window=collection`), then each
/// named window's; in each, one row per aggregate (`scope=aggregate`) and per series.
pub(crate) fn summary_csv(
    queries: &[QuerySummary],
    windows: &[WindowSummary],
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(SUMMARY_COLUMNS)?;
    for q in queries {
        let name = q.report.name.as_str();
        let unit = q.report.unit.map_or("", |u| u.as_str());
        let at = RowKey {
            query: name,
            window: WHOLE,
            unit,
        };
        write_rows(&mut w, &at, &q.report.aggregate, &q.series)?;
        for win in windows {
            if let Some(wq) = win.queries.iter().find(|x| x.name == name) {
                let at = RowKey {
                    query: name,
                    window: &win.name,
                    unit,
                };
                write_rows(&mut w, &at, &wq.aggregate, &wq.series)?;
            }
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn series_json(series: &[SeriesOut]) -> Vec<serde_json::Value> {
    series
        .iter()
        .filter_map(|s| {
            let labels: serde_json::Map<String, serde_json::Value> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            s.kpi
                .as_ref()
                .map(|k| json!({"series": s.key, "labels": labels, "kpi": k}))
        })
        .collect()
}

/// `summary.json`.
///
/// Per query: the whole collection's KPIs (`"window": "collection"`) and `windows`, the same
/// for each named window overlapping the collection.
pub(crate) fn summary_json(
    queries: &[QuerySummary],
    window: &Window,
    verdict: &Verdict,
    windows: &[WindowSummary],
    energy: &[EnergyRow],
) -> serde_json::Value {
    let qs: Vec<serde_json::Value> = queries
        .iter()
        .map(|q| {
            let name = q.report.name.as_str();
            let per_window: Vec<serde_json::Value> = windows
                .iter()
                .filter_map(|win| {
                    let wq = win.queries.iter().find(|x| x.name == name)?;
                    Some(json!({
                        "window": win.name,
                        "start": win.start,
                        "end": win.end,
                        "aggregate": wq.aggregate,
                        "series": series_json(&wq.series),
                    }))
                })
                .collect();
            json!({
                "name": name,
                "kind": q.report.kind,
                "unit": q.report.unit,
                "status": q.report.status,
                "series_count": q.report.series,
                "samples": q.report.samples,
                "window": WHOLE,
                "aggregate": q.report.aggregate,
                "series": series_json(&q.series),
                "windows": per_window,
            })
        })
        .collect();
    json!({
        "format": "benchmon.summary/v1",
        "quality": verdict.quality,
        "quality_reasons": verdict.reasons,
        "quality_notes": verdict.notes,
        "window": window,
        "queries": qs,
        "energy": energy,
    })
}

/// What each file holds, for the manifest.
pub(crate) fn formats() -> serde_json::Value {
    json!({
        "samples.csv": "timestamp_ms,query,series,value — timestamp_ms: unix milliseconds, integer (exact); series: key into series.csv; value: Prometheus's value text (NaN, +Inf kept). Grouped by query, series (label order), time. pandas: df = pd.read_csv('samples.csv'); pd.to_datetime(df.timestamp_ms, unit='ms', utc=True)",
        "series.csv": "query,series,labels,<label columns>: join samples.csv on (query, series); label values are strings: pd.read_csv('series.csv', dtype=str, keep_default_na=False)",
        "samples.json": "{format: benchmon.samples/v2, series:[{query, series, labels, values:[[unix_ms, \"value\"], …]}]}: the same samples as samples.csv",
        "raw.csv": "as samples.csv, query 'raw', real scrape timestamps; labels in raw_series.csv",
        "raw.json": "as samples.json for the raw export",
        "summary.csv": "query,window,scope(aggregate|series),series,labels,kind,unit,samples,nonfinite,min,max,mean,p50,p95,p99,increase,rate_per_second,resets,observations,integral,method — integral: gauges, trapezoid over time in unit x seconds (W → J); window: 'collection' for the whole collection, else the named window (clipped to the collection) the row is computed over; unit: of min…p99 and increase (rate_per_second is the unit per second), empty when the query declared none; numbers are exact, in that unit",
        "summary.json": "the same KPIs, structured per query: the whole collection's (window 'collection') and, under windows, each named window's",
        "energy.csv": "window,scope(gpu|cpu_package|node|work),target(label set or total),metric(energy|mean_power|peak_power|tokens|joules_per_token|tokens_per_joule),value,unit,method — written when an energy query returned data; also under energy in summary.json",
        "events.csv": "timestamp_ms,time,kind(phase|progress|note|alert),name,severity,progress(percent),message,windows(named windows holding it, ';'-separated) — the session's events inside the collection's window; absent when there are none",
        "coverage.csv": "per target: scrapes, expected, coverage, up/down, gaps, flagged",
        "report.html": "self-contained report with tables and one chart per query",
    })
}
