//! `benchmon history`: the KPIs of many bundles as one tidy table, oldest window first —
//! `history.csv` and `history.parquet`, one row per (bundle, window, query, series, KPI).
//!
//! This is the input change-point tools read: Apache Otava (formerly hunter, used by Orion)
//! takes a CSV with a time column and one column per metric, i.e. this table pivoted on
//! `start` × (query, kpi); pandas does it in one line (see the README).

use super::bundle::Bundle;
use super::labels::Identity;
use super::CompareError;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One KPI value of one bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub bundle: String,
    pub start_ms: i64,
    pub session: String,
    /// The session's labels, `{k="v",…}`.
    pub session_labels: String,
    pub window: String,
    pub query: String,
    pub scope: String,
    /// Identifying labels (run labels dropped, as `compare` matches them).
    pub series: String,
    pub kpi: String,
    pub value: f64,
    pub unit: Option<String>,
}

/// The bundles named by `paths`: each a bundle, or a directory whose subdirectories are.
pub fn find_bundles(paths: &[PathBuf]) -> Result<Vec<Bundle>, CompareError> {
    let mut out = Vec::new();
    for p in paths {
        if p.join("MANIFEST.json").exists() {
            out.push(Bundle::read(p)?);
            continue;
        }
        let entries = std::fs::read_dir(p).map_err(|e| CompareError::NotABundle {
            dir: p.clone(),
            why: format!("neither a bundle nor a readable directory: {e}"),
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|d| d.join("MANIFEST.json").exists())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(CompareError::NotABundle {
                dir: p.clone(),
                why: "no bundle in it (no MANIFEST.json)".into(),
            });
        }
        for d in dirs {
            out.push(Bundle::read(&d)?);
        }
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

fn session_of(b: &Bundle) -> (String, String) {
    let s = b.manifest.pointer("/context/session");
    let id = s
        .and_then(|s| s.get("session_id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let labels = s
        .and_then(|s| s.get("labels"))
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let keep_all = Identity {
        ignored: Vec::new(),
        strip_instance_port: false,
    };
    (id, format!("{{{}}}", keep_all.key(&labels)))
}

/// The table's rows, bundles in window order.
pub fn rows(bundles: &[Bundle]) -> Vec<HistoryRow> {
    let identity = Identity::default();
    let mut out = Vec::new();
    for b in bundles {
        let (session, session_labels) = session_of(b);
        for r in &b.rows {
            out.push(HistoryRow {
                bundle: b.id.clone(),
                start_ms: (b.start * 1000.0).round() as i64,
                session: session.clone(),
                session_labels: session_labels.clone(),
                window: r.window.clone(),
                query: r.query.clone(),
                scope: r.scope.clone(),
                series: identity.key(&r.labels),
                kpi: r.kpi.clone(),
                value: r.value,
                unit: r.unit.clone(),
            });
        }
    }
    out
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `history.csv`.
pub fn csv_bytes(rows: &[HistoryRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "bundle",
        "start",
        "session",
        "session_labels",
        "window",
        "query",
        "scope",
        "series",
        "kpi",
        "value",
        "unit",
    ])?;
    for r in rows {
        w.write_record([
            r.bundle.as_str(),
            &rfc3339(r.start_ms),
            &r.session,
            &r.session_labels,
            &r.window,
            &r.query,
            &r.scope,
            &r.series,
            &r.kpi,
            &r.value.to_string(),
            r.unit.as_deref().unwrap_or(""),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

const SCHEMA: &str = "message benchmon_history {
  REQUIRED BYTE_ARRAY bundle (STRING);
  REQUIRED INT64 start (TIMESTAMP(MILLIS,true));
  REQUIRED BYTE_ARRAY session (STRING);
  REQUIRED BYTE_ARRAY session_labels (STRING);
  REQUIRED BYTE_ARRAY window (STRING);
  REQUIRED BYTE_ARRAY query (STRING);
  REQUIRED BYTE_ARRAY scope (STRING);
  REQUIRED BYTE_ARRAY series (STRING);
  REQUIRED BYTE_ARRAY kpi (STRING);
  REQUIRED DOUBLE value;
  OPTIONAL BYTE_ARRAY unit (STRING);
}";

/// `history.parquet`: the same table, typed (`start` a UTC timestamp), zstd, one row group.
pub fn parquet_bytes(rows: &[HistoryRow]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .build();
    let mut w = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props))?;
    let mut rg = w.next_row_group()?;
    let strings = |f: fn(&HistoryRow) -> &str| -> Vec<ByteArray> {
        rows.iter().map(|r| ByteArray::from(f(r))).collect()
    };
    let columns: [Box<dyn Fn() -> Column>; 11] = [
        Box::new(|| Column::Str(strings(|r| &r.bundle))),
        Box::new(|| Column::I64(rows.iter().map(|r| r.start_ms).collect())),
        Box::new(|| Column::Str(strings(|r| &r.session))),
        Box::new(|| Column::Str(strings(|r| &r.session_labels))),
        Box::new(|| Column::Str(strings(|r| &r.window))),
        Box::new(|| Column::Str(strings(|r| &r.query))),
        Box::new(|| Column::Str(strings(|r| &r.scope))),
        Box::new(|| Column::Str(strings(|r| &r.series))),
        Box::new(|| Column::Str(strings(|r| &r.kpi))),
        Box::new(|| Column::F64(rows.iter().map(|r| r.value).collect())),
        Box::new(|| {
            Column::OptStr(
                rows.iter()
                    .filter_map(|r| r.unit.as_deref().map(ByteArray::from))
                    .collect(),
                rows.iter().map(|r| i16::from(r.unit.is_some())).collect(),
            )
        }),
    ];
    for make in columns {
        let Some(mut col) = rg.next_column()? else {
            break;
        };
        match make() {
            Column::Str(v) => col.typed::<ByteArrayType>().write_batch(&v, None, None)?,
            Column::OptStr(v, d) => col
                .typed::<ByteArrayType>()
                .write_batch(&v, Some(&d), None)?,
            Column::I64(v) => col.typed::<Int64Type>().write_batch(&v, None, None)?,
            Column::F64(v) => col.typed::<DoubleType>().write_batch(&v, None, None)?,
        };
        col.close()?;
    }
    rg.close()?;
    w.into_inner()
}

enum Column {
    Str(Vec<ByteArray>),
    OptStr(Vec<ByteArray>, Vec<i16>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

/// Writes `history.csv` and `history.parquet` into `dir` (created if missing), atomically.
pub fn write(dir: &Path, rows: &[HistoryRow]) -> Result<Vec<PathBuf>, CompareError> {
    let fail = |path: &Path, e: std::io::Error| CompareError::Write {
        path: path.to_owned(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let csv = csv_bytes(rows).map_err(|e| CompareError::Render(e.to_string()))?;
    let pq = parquet_bytes(rows).map_err(|e| CompareError::Render(e.to_string()))?;
    Ok(vec![
        super::files::write(dir, "history.csv", &csv)?,
        super::files::write(dir, "history.parquet", &pq)?,
    ])
}
