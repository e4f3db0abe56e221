//! The raw tables of a bundle, written one series at a time as the series arrive:
//! `raw.parquet`, `raw.csv` + `raw_series.csv`, `raw.json` — whichever the formats ask for.
//!
//! Memory is one series plus the Parquet row group being filled; `raw_series.csv` needs every
//! label name for its header, so its rows are spilled to a temp file and copied under the header
//! at the end.

use super::text::value_text;
use crate::export::bundle::HashedFile;
use crate::export::formats::Formats;
use crate::export::matrix::Labels;
use crate::export::part::write_ms;
use crate::export::plan::RAW;
use crate::export::series::{label_string, series_key};
use crate::export::{Artifact, CollectError};
use crate::parquet_samples::{ParquetOptions, SampleParquetWriter};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes buffered before a write to a CSV or JSON file.
const FLUSH_AT: usize = 1 << 20;

/// What [`RawFiles::finish`] wrote.
#[derive(Debug, Default)]
pub struct RawWritten {
    pub artifacts: Vec<Artifact>,
    pub series: u64,
    pub samples: u64,
}

/// The raw tables being written.
pub struct RawFiles {
    parquet: Option<SampleParquetWriter<HashedFile>>,
    csv: Option<HashedFile>,
    json: Option<HashedFile>,
    /// `raw_series.csv` rows until the header is known.
    series_spill: Option<SeriesSpill>,
    buf: Vec<u8>,
    json_buf: Vec<u8>,
    series: u64,
    samples: u64,
}

fn task_err(e: impl std::fmt::Display) -> CollectError {
    CollectError::Task(e.to_string())
}

impl RawFiles {
    /// `label_names` are the Parquet columns: every label a series may carry.
    pub fn create(
        dir: &Path,
        label_names: &[String],
        formats: Formats,
    ) -> Result<Self, CollectError> {
        let parquet = match formats.parquet {
            true => Some(
                SampleParquetWriter::new(
                    HashedFile::create(dir, "raw.parquet")?,
                    label_names,
                    ParquetOptions::default(),
                )
                .map_err(task_err)?,
            ),
            false => None,
        };
        let csv = match formats.csv {
            true => {
                let mut f = HashedFile::create(dir, "raw.csv")?;
                f.write(b"timestamp_ms,query,series,value\n")?;
                Some(f)
            }
            false => None,
        };
        let series_spill = match formats.csv {
            true => Some(SeriesSpill::create(dir)?),
            false => None,
        };
        let json = match formats.json {
            true => {
                let mut f = HashedFile::create(dir, "raw.json")?;
                f.write(b"{\"format\":\"benchmon.samples/v2\",\"series\":[\n")?;
                Some(f)
            }
            false => None,
        };
        Ok(RawFiles {
            parquet,
            csv,
            json,
            series_spill,
            buf: Vec::new(),
            json_buf: Vec::new(),
            series: 0,
            samples: 0,
        })
    }

    /// All samples of one series (labels sorted by name), in time order; values written in
    /// CSV and JSON as Prometheus's JSON API writes them.
    pub fn write_series(
        &mut self,
        labels: &Labels,
        samples: &[(i64, f64)],
    ) -> Result<(), CollectError> {
        self.write_series_as(labels, samples, |_, v, out| value_text(v, out))
    }

    /// [`write_series`](Self::write_series) with the CSV and JSON text of sample `k` (value
    /// `v`) written by `text`: a store's own text, as its query API sends it too.
    pub fn write_series_as(
        &mut self,
        labels: &Labels,
        samples: &[(i64, f64)],
        mut text: impl FnMut(usize, f64, &mut Vec<u8>),
    ) -> Result<(), CollectError> {
        if samples.is_empty() {
            return Ok(());
        }
        let key = series_key(RAW, labels);
        self.series += 1;
        self.samples += samples.len() as u64;
        if let Some(p) = self.parquet.as_mut() {
            let pairs = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            p.write_series(RAW, &key, pairs, samples)
                .map_err(task_err)?;
        }
        if let Some(csv) = self.csv.as_mut() {
            for (k, &(ms, v)) in samples.iter().enumerate() {
                write_ms(&mut self.buf, ms);
                self.buf.extend_from_slice(b",raw,");
                self.buf.extend_from_slice(key.as_bytes());
                self.buf.push(b',');
                text(k, v, &mut self.buf);
                self.buf.push(b'\n');
                if self.buf.len() >= FLUSH_AT {
                    csv.write(&self.buf)?;
                    self.buf.clear();
                }
            }
        }
        if let Some(spill) = self.series_spill.as_mut() {
            spill.push(&key, labels)?;
        }
        if let Some(json) = self.json.as_mut() {
            let b = &mut self.json_buf;
            if self.series > 1 {
                b.extend_from_slice(b",\n");
            }
            let map: BTreeMap<&str, &str> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            b.extend_from_slice(b"{\"query\":\"raw\",\"series\":\"");
            b.extend_from_slice(key.as_bytes());
            b.extend_from_slice(b"\",\"labels\":");
            serde_json::to_writer(&mut *b, &map).map_err(task_err)?;
            b.extend_from_slice(b",\"values\":[");
            for (i, &(ms, v)) in samples.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                b.push(b'[');
                write_ms(b, ms);
                b.extend_from_slice(b",\"");
                text(i, v, b);
                b.extend_from_slice(b"\"]");
            }
            b.extend_from_slice(b"]}");
            if b.len() >= FLUSH_AT {
                json.write(b)?;
                b.clear();
            }
        }
        Ok(())
    }

    /// Finishes every file; the artifacts come in a fixed order (parquet, csv, series, json).
    pub fn finish(mut self) -> Result<RawWritten, CollectError> {
        let mut artifacts = Vec::new();
        if let Some(p) = self.parquet.take() {
            let (_, file) = p.finish_into_inner().map_err(task_err)?;
            artifacts.push(file.finish()?);
        }
        if let Some(mut csv) = self.csv.take() {
            csv.write(&self.buf)?;
            artifacts.push(csv.finish()?);
        }
        if let Some(spill) = self.series_spill.take() {
            artifacts.push(spill.finish()?);
        }
        if let Some(mut json) = self.json.take() {
            json.write(&self.json_buf)?;
            json.write(b"\n]}\n")?;
            artifacts.push(json.finish()?);
        }
        Ok(RawWritten {
            artifacts,
            series: self.series,
            samples: self.samples,
        })
    }
}

/// `raw_series.csv` rows spilled to a temp file (JSON lines: key, labels) until every label name
/// is known for the header, so memory is the label names, not the series.
pub(crate) struct SeriesSpill {
    dir: PathBuf,
    path: PathBuf,
    w: BufWriter<File>,
    label_names: BTreeSet<String>,
}

impl SeriesSpill {
    /// A spill in `dir`, where `raw_series.csv` is written at the end.
    pub(crate) fn create(dir: &Path) -> Result<Self, CollectError> {
        let path = dir.join(".raw_series.spill");
        let f = File::create(&path).map_err(|e| CollectError::io(&path, e))?;
        Ok(SeriesSpill {
            dir: dir.to_owned(),
            path,
            w: BufWriter::new(f),
            label_names: BTreeSet::new(),
        })
    }

    /// One series' row.
    pub(crate) fn push(&mut self, key: &str, labels: &Labels) -> Result<(), CollectError> {
        for (k, _) in labels {
            if !self.label_names.contains(k) {
                self.label_names.insert(k.clone());
            }
        }
        serde_json::to_writer(&mut self.w, &(key, labels)).map_err(task_err)?;
        self.w
            .write_all(b"\n")
            .map_err(|e| CollectError::io(&self.path, e))
    }

    /// `raw_series.csv`: `query,series,labels,<one column per label name>`, from the spill.
    pub(crate) fn finish(self) -> Result<Artifact, CollectError> {
        let path = self.path;
        let io = |e| CollectError::io(&path, e);
        self.w.into_inner().map_err(|e| io(e.into_error()))?;
        let out = HashedFile::create(&self.dir, "raw_series.csv")?;
        let mut w = csv::Writer::from_writer(out);
        let mut header = vec!["query", "series", "labels"];
        header.extend(self.label_names.iter().map(String::as_str));
        w.write_record(&header).map_err(task_err)?;
        let reader = BufReader::new(File::open(&path).map_err(io)?);
        for line in reader.lines() {
            let line = line.map_err(io)?;
            let (key, labels): (String, Labels) = serde_json::from_str(&line).map_err(task_err)?;
            let mut rec: Vec<&str> = vec![RAW, &key];
            let text = label_string(&labels);
            rec.push(&text);
            let mut it = labels.iter().peekable();
            for name in &self.label_names {
                match it.peek() {
                    Some((k, v)) if k == name => {
                        rec.push(v);
                        it.next();
                    }
                    _ => rec.push(""),
                }
            }
            w.write_record(&rec).map_err(task_err)?;
        }
        let out = w.into_inner().map_err(|e| task_err(e.error()))?;
        let _ = std::fs::remove_file(&path);
        out.finish()
    }
}
