//! `samples.parquet`: the query samples of `samples.csv` as typed Parquet columns (the same
//! layout as `raw.parquet`), written from the finished CSV in one streaming pass, so the merge
//! stays as it is and memory is one series plus a row group.

use super::bundle::HashedFile;
use super::matrix::Labels;
use super::{Artifact, CollectError};
use crate::parquet_samples::{ParquetOptions, SampleParquetWriter};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

fn task_err(e: impl std::fmt::Display) -> CollectError {
    CollectError::Task(format!("samples.parquet: {e}"))
}

/// Writes `samples.parquet` in `dir` from its `samples.csv`; `series` are the `series.csv` rows
/// (query, series key, labels).
pub(crate) fn write(
    dir: &Path,
    series: &[(String, String, Labels)],
) -> Result<Artifact, CollectError> {
    let names: Vec<String> = series
        .iter()
        .flat_map(|(_, _, l)| l.iter().map(|(k, _)| k.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labels: HashMap<(&str, &str), &Labels> = series
        .iter()
        .map(|(q, k, l)| ((q.as_str(), k.as_str()), l))
        .collect();
    let out = HashedFile::create(dir, "samples.parquet")?;
    let mut w =
        SampleParquetWriter::new(out, &names, ParquetOptions::default()).map_err(task_err)?;
    let path = dir.join("samples.csv");
    let mut csv = csv::Reader::from_path(&path).map_err(task_err)?;
    let mut record = csv::StringRecord::new();
    let (mut query, mut key) = (String::new(), String::new());
    let mut samples: Vec<(i64, f64)> = Vec::new();
    let flush =
        |w: &mut SampleParquetWriter<HashedFile>, q: &str, k: &str, s: &mut Vec<(i64, f64)>| {
            if s.is_empty() {
                return Ok(());
            }
            let l = labels.get(&(q, k)).map_or(&[][..], |l| l.as_slice());
            let pairs = l.iter().map(|(a, b)| (a.as_str(), b.as_str()));
            let r = w.write_series(q, k, pairs, s).map_err(task_err);
            s.clear();
            r
        };
    while csv.read_record(&mut record).map_err(task_err)? {
        let (Some(ts), Some(q), Some(k), Some(v)) =
            (record.get(0), record.get(1), record.get(2), record.get(3))
        else {
            return Err(task_err("a samples.csv row without four fields"));
        };
        if q != query || k != key {
            flush(&mut w, &query, &key, &mut samples)?;
            (query, key) = (q.to_owned(), k.to_owned());
        }
        let ms: i64 = ts
            .parse()
            .map_err(|_| task_err(format!("timestamp_ms {ts:?}")))?;
        let value: f64 = v.parse().map_err(|_| task_err(format!("value {v:?}")))?;
        samples.push((ms, value));
    }
    flush(&mut w, &query, &key, &mut samples)?;
    let (_, file) = w.finish_into_inner().map_err(task_err)?;
    file.finish()
}
