//! Reading a bundle back: its window from `MANIFEST.json` and its KPIs from `summary.csv`
//! (or `summary.json` when the CSV is absent), one [`KpiRow`] per number.
//!
//! The reader is lenient about the summary's evolution: a row without a `window` is a
//! whole-collection row (`"collection"`), a row without a `unit` has none, and any numeric
//! column or field that is not one of the bookkeeping ones below is a KPI, so a KPI added to
//! the writer later (`energy_j`) is compared without a change here. Times and spans
//! (`start`, `window_end`, `…_ms`, `…_at`, `…_seconds`) describe a row, so they are never KPIs.

use super::labels::parse_label_string;
use super::CompareError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The window name of whole-collection rows.
pub const COLLECTION_WINDOW: &str = "collection";

/// Columns and fields that describe a row rather than measure something.
const NOT_KPIS: [&str; 11] = [
    "query",
    "scope",
    "series",
    "labels",
    "kind",
    "samples",
    "nonfinite",
    "resets",
    "method",
    "window",
    "unit",
];

/// Whether a column or field holds a KPI (rather than describing its row).
fn is_kpi(name: &str) -> bool {
    !NOT_KPIS.contains(&name)
        && !["start", "end", "seconds"].contains(&name)
        && !["_start", "_end", "_ms", "_at", "_seconds"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// One KPI value of one bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    pub window: String,
    pub query: String,
    /// `aggregate` (the query over all its series) or `series`.
    pub scope: String,
    pub kind: String,
    pub labels: BTreeMap<String, String>,
    pub kpi: String,
    pub value: f64,
    pub unit: Option<String>,
}

/// A bundle directory as comparison and history read it.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    /// The directory's name (the collection's `run_id`).
    pub id: String,
    /// Window start and end, unix seconds.
    pub start: f64,
    pub end: f64,
    pub manifest: serde_json::Value,
    pub rows: Vec<KpiRow>,
}

impl Bundle {
    /// Reads `dir`: a complete bundle (its manifest says `"complete": true`) with a summary.
    pub fn read(dir: &Path) -> Result<Bundle, CompareError> {
        let not_bundle = |why: String| CompareError::NotABundle {
            dir: dir.to_owned(),
            why,
        };
        let manifest_path = dir.join("MANIFEST.json");
        let bytes = std::fs::read(&manifest_path)
            .map_err(|e| not_bundle(format!("cannot read MANIFEST.json: {e}")))?;
        let manifest: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| not_bundle(format!("MANIFEST.json is not JSON: {e}")))?;
        if manifest.get("complete") != Some(&serde_json::Value::Bool(true)) {
            return Err(not_bundle("MANIFEST.json does not say complete".into()));
        }
        let time = |key: &str| -> Result<f64, CompareError> {
            manifest
                .pointer(&format!("/window/{key}"))
                .and_then(|v| v.as_str())
                .and_then(|s| crate::domain::Timestamp::parse(s).ok())
                .map(|t| t.unix_secs_f64())
                .ok_or_else(|| not_bundle(format!("MANIFEST.json has no window.{key}")))
        };
        let (start, end) = (time("start")?, time("end")?);
        let csv_path = dir.join("summary.csv");
        let rows = if csv_path.exists() {
            let text = std::fs::read(&csv_path)
                .map_err(|e| not_bundle(format!("cannot read summary.csv: {e}")))?;
            rows_from_csv(&text).map_err(|e| not_bundle(format!("summary.csv: {e}")))?
        } else {
            let text = std::fs::read(dir.join("summary.json"))
                .map_err(|e| not_bundle(format!("no summary.csv, and summary.json: {e}")))?;
            let doc: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| not_bundle(format!("summary.json is not JSON: {e}")))?;
            rows_from_json(&doc)
        };
        let mut rows = rows;
        let energy = dir.join("energy.csv");
        if energy.exists() {
            let text = std::fs::read(&energy)
                .map_err(|e| not_bundle(format!("cannot read energy.csv: {e}")))?;
            rows.extend(
                rows_from_energy_csv(&text).map_err(|e| not_bundle(format!("energy.csv: {e}")))?,
            );
        }
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Bundle {
            dir: dir.to_owned(),
            id,
            start,
            end,
            manifest,
            rows,
        })
    }
}

/// Rows of `summary.csv`, by column name (columns may be added or reordered).
pub fn rows_from_csv(text: &[u8]) -> Result<Vec<KpiRow>, String> {
    let mut r = csv::Reader::from_reader(text);
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let query = col("query").ok_or("no query column")?;
    let (scope, kind, labels) = (col("scope"), col("kind"), col("labels"));
    let (window, unit) = (col("window"), col("unit"));
    let kpis: Vec<(usize, &str)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| is_kpi(h))
        .collect();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("");
        let label_text = get(labels);
        let parsed = if label_text.is_empty() {
            BTreeMap::new()
        } else {
            parse_label_string(label_text)?
        };
        for &(i, name) in &kpis {
            let Some(value) = rec.get(i).and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            out.push(KpiRow {
                window: non_empty(get(window))
                    .unwrap_or(COLLECTION_WINDOW)
                    .to_owned(),
                query: get(Some(query)).to_owned(),
                scope: non_empty(get(scope)).unwrap_or("aggregate").to_owned(),
                kind: get(kind).to_owned(),
                labels: parsed.clone(),
                kpi: name.to_owned(),
                value,
                unit: non_empty(get(unit)).map(str::to_owned),
            });
        }
    }
    Ok(out)
}

/// The query name energy rows are compared under.
pub const ENERGY_QUERY: &str = "energy";

/// Rows of `energy.csv` (`window,scope,target,metric,value,unit,method`, newer bundles): each
/// metric (`energy`, `mean_power`, `joules_per_token`, …) a KPI of query [`ENERGY_QUERY`], its
/// scope (`gpu`, `node`, `work`, …) the scope and its target the one label.
pub fn rows_from_energy_csv(text: &[u8]) -> Result<Vec<KpiRow>, String> {
    let mut r = csv::Reader::from_reader(text);
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(metric), Some(value)) = (col("metric"), col("value")) else {
        return Err("no metric or value column".into());
    };
    let (window, scope, target, unit) = (col("window"), col("scope"), col("target"), col("unit"));
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("");
        let Ok(v) = get(Some(value)).parse::<f64>() else {
            continue;
        };
        let labels = non_empty(get(target))
            .map(|t| BTreeMap::from([("target".to_owned(), t.to_owned())]))
            .unwrap_or_default();
        out.push(KpiRow {
            window: non_empty(get(window))
                .unwrap_or(COLLECTION_WINDOW)
                .to_owned(),
            query: ENERGY_QUERY.to_owned(),
            scope: non_empty(get(scope)).unwrap_or("aggregate").to_owned(),
            kind: "energy".to_owned(),
            labels,
            kpi: get(Some(metric)).to_owned(),
            value: v,
            unit: non_empty(get(unit)).map(str::to_owned),
        });
    }
    Ok(out)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Rows of `summary.json`: `window` and `unit` may sit on a KPI, its series entry or its
/// query; a query's `windows: [{window, aggregate, series}]` and a top-level
/// `windows: [{name, queries}]` add per-window rows.
pub fn rows_from_json(doc: &serde_json::Value) -> Vec<KpiRow> {
    let mut out = Vec::new();
    let empty = Vec::new();
    let queries = doc
        .get("queries")
        .and_then(|q| q.as_array())
        .unwrap_or(&empty);
    json_queries(queries, None, &mut out);
    // Per query, each named window's KPIs: read as the same query in that window.
    for q in queries {
        for w in q
            .get("windows")
            .and_then(|w| w.as_array())
            .into_iter()
            .flatten()
        {
            let mut wq = w.clone();
            if let (Some(obj), Some(name)) = (wq.as_object_mut(), q.get("name")) {
                obj.insert("name".into(), name.clone());
                if let Some(unit) = q.get("unit") {
                    obj.entry("unit").or_insert(unit.clone());
                }
            }
            json_queries(std::slice::from_ref(&wq), None, &mut out);
        }
    }
    for w in doc
        .get("windows")
        .and_then(|w| w.as_array())
        .unwrap_or(&empty)
    {
        let name = w.get("name").and_then(|n| n.as_str());
        let qs = w
            .get("queries")
            .and_then(|q| q.as_array())
            .unwrap_or(&empty);
        json_queries(qs, name, &mut out);
    }
    out
}

fn str_field<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(|x| x.as_str())
        .filter(|s| !s.is_empty())
}

fn json_queries(queries: &[serde_json::Value], window: Option<&str>, out: &mut Vec<KpiRow>) {
    for q in queries {
        let name = str_field(q, "name").unwrap_or_default();
        let q_window = str_field(q, "window").or(window);
        let q_unit = str_field(q, "unit");
        let push = |kpi: &serde_json::Value,
                    outer: Option<&serde_json::Value>,
                    scope: &str,
                    labels: BTreeMap<String, String>,
                    out: &mut Vec<KpiRow>| {
            let pick =
                |key: &str| str_field(kpi, key).or_else(|| outer.and_then(|o| str_field(o, key)));
            let window = pick("window").or(q_window).unwrap_or(COLLECTION_WINDOW);
            let unit = pick("unit").or(q_unit);
            let Some(fields) = kpi.as_object() else {
                return;
            };
            for (k, v) in fields {
                let (true, Some(value)) = (is_kpi(k), v.as_f64()) else {
                    continue;
                };
                out.push(KpiRow {
                    window: window.to_owned(),
                    query: name.to_owned(),
                    scope: scope.to_owned(),
                    kind: str_field(kpi, "kind").unwrap_or_default().to_owned(),
                    labels: labels.clone(),
                    kpi: k.clone(),
                    value,
                    unit: unit.map(str::to_owned),
                });
            }
        };
        for a in q
            .get("aggregate")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            push(a, None, "aggregate", BTreeMap::new(), out);
        }
        for s in q
            .get("series")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            let labels = s
                .get("labels")
                .and_then(|l| l.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(k) = s.get("kpi") {
                push(k, Some(s), "series", labels, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todays_summary_csv_rows_are_collection_rows_without_unit() {
        let text = "query,scope,series,labels,kind,samples,nonfinite,min,max,mean,p50,p95,p99,increase,rate_per_second,resets,observations,method\n\
            g,aggregate,,,gauge,20,0,1,20,10.5,10.5,19.05,19.81,,,,,gauge\n\
            g,series,s1,\"{a=\"\"x\"\"}\",gauge,20,0,1,20,10.5,10.5,19.05,19.81,,,,,gauge\n";
        let rows = rows_from_csv(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 12);
        let kpis: Vec<&str> = rows[..6].iter().map(|r| r.kpi.as_str()).collect();
        assert_eq!(kpis, ["min", "max", "mean", "p50", "p95", "p99"]);
        assert!(rows
            .iter()
            .all(|r| r.window == "collection" && r.unit.is_none()));
        assert_eq!(rows[6].labels["a"], "x");
        assert_eq!((rows[2].value, rows[8].scope.as_str()), (10.5, "series"));
    }

    #[test]
    fn window_and_unit_columns_and_fields_are_read_when_present() {
        let text = "window,window_start_ms,query,scope,series,labels,kind,samples,mean,energy_j,unit,method\n\
            collection,1000,p,aggregate,,,gauge,3,250,,W,m\n\
            decode,2000,p,aggregate,,,gauge,2,300,42.5,W,m\n";
        let rows = rows_from_csv(text.as_bytes()).unwrap();
        let got: Vec<(&str, &str, f64, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.window.as_str(),
                    r.kpi.as_str(),
                    r.value,
                    r.unit.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("collection", "mean", 250.0, Some("W")),
                ("decode", "mean", 300.0, Some("W")),
                ("decode", "energy_j", 42.5, Some("W")),
            ]
        );
        let doc = serde_json::json!({"queries": [{
            "name": "p", "unit": "W",
            "aggregate": [{"kind": "gauge", "samples": 3, "mean": 250.0, "method": "m"},
                          {"kind": "gauge", "samples": 2, "mean": 300.0, "window": "decode"}],
            "series": [{"series": "s1", "labels": {"gpu": "0"}, "window": "decode",
                        "kpi": {"kind": "gauge", "samples": 2, "max": 310.0, "unit": "kW"}}]
        }]});
        let rows = rows_from_json(&doc);
        let got: Vec<(&str, &str, &str, f64, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.window.as_str(),
                    r.scope.as_str(),
                    r.kpi.as_str(),
                    r.value,
                    r.unit.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("collection", "aggregate", "mean", 250.0, Some("W")),
                ("decode", "aggregate", "mean", 300.0, Some("W")),
                ("decode", "series", "max", 310.0, Some("kW")),
            ]
        );
        assert_eq!(rows[2].labels["gpu"], "0");
        // Issue 11's shape: named windows under each query.
        let doc = serde_json::json!({"queries": [{"name": "p", "unit": "W", "window": "collection",
            "aggregate": [{"kind": "gauge", "samples": 3, "mean": 250.0}], "series": [],
            "windows": [{"window": "decode", "start": "x", "end": "y",
                "aggregate": [{"kind": "gauge", "samples": 2, "mean": 300.0}], "series": []}]}]});
        let got: Vec<(String, f64, Option<String>)> = rows_from_json(&doc)
            .into_iter()
            .map(|r| (r.window, r.value, r.unit))
            .collect();
        assert_eq!(
            got,
            [
                ("collection".into(), 250.0, Some("W".into())),
                ("decode".into(), 300.0, Some("W".into()))
            ]
        );
    }

    #[test]
    fn energy_rows_are_kpis_of_the_energy_query() {
        let text = "window,scope,target,metric,value,unit,method\n\
            collection,gpu,\"{gpu=\"\"0\"\"}\",energy,1200.5,J,m\n\
            decode,work,total,joules_per_token,0.25,J/token,m\n";
        let rows = rows_from_energy_csv(text.as_bytes()).unwrap();
        let got: Vec<(&str, &str, &str, f64, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.window.as_str(),
                    r.scope.as_str(),
                    r.kpi.as_str(),
                    r.value,
                    r.unit.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("collection", "gpu", "energy", 1200.5, Some("J")),
                ("decode", "work", "joules_per_token", 0.25, Some("J/token"))
            ]
        );
        assert_eq!(rows[0].labels["target"], r#"{gpu="0"}"#);
    }
}
