//! Samples as Parquet: one file per bundle table (`raw.parquet`, `samples.parquet`), written
//! through the parquet crate's low-level column writers so that memory stays bounded by one
//! row group whatever the number of series or the length of the window.
//!
//! Why it exists: CSV spells out the timestamp and the series key as text in every row and
//! must be parsed again by every reader; Parquet with the encodings chosen here costs ~1.5 bytes
//! per sample of node-exporter-like data (see `measure.rs`) and opens in pandas, polars, DuckDB
//! and Spark as typed columns.
//!
//! Layout (format `benchmon.samples/v1`, stored under the key-value metadata key
//! `benchmon.format`):
//!
//! | column      | physical / logical                         | repetition | encoding                   |
//! |-------------|--------------------------------------------|------------|----------------------------|
//! | `timestamp` | INT64 / TIMESTAMP(MILLIS, UTC)             | required   | DELTA_BINARY_PACKED        |
//! | `value`     | DOUBLE (NaN and ±Inf bit-exact)            | required   | PLAIN                      |
//! | `query`     | BYTE_ARRAY / STRING                        | required   | dictionary (RLE indices)   |
//! | `series`    | BYTE_ARRAY / STRING                        | required   | dictionary (RLE indices)   |
//! | per label   | BYTE_ARRAY / STRING, null where not set    | optional   | dictionary (RLE indices)   |
//!
//! All pages are zstd-compressed, pages hold up to 128 Ki rows (1 MiB of doubles) so that zstd
//! sees repeats across series. PLAIN beat BYTE_STREAM_SPLIT and dictionary for values once
//! compressed (repeated and slowly changing values leave whole 8-byte patterns for zstd to
//! match); page-level statistics cost under 0.5 % and let readers skip pages by time.
//!
//! Rows come out in the order they were written; writing each series' samples in time order,
//! series after series, gives the long runs that make the string columns nearly free and the
//! timestamp deltas small.
//!
//! Label columns and their names: see [`label_column_names`].

use parquet::basic::{
    Compression, Encoding, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel,
};
use parquet::data_type::{DataType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::{ColumnPath, Type};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

mod columns;
mod dictionary;
#[cfg(test)]
mod measure;
mod schema;
mod series_table;
#[cfg(test)]
mod tests;

use columns::write_required;
use dictionary::{write_dictionary_column, Dictionary, PageCompressor};
use parquet::schema::types::ColumnDescPtr;
pub use schema::label_column_names;
use schema::{properties, schema};
use series_table::SeriesTable;

/// Key of the file's key-value metadata entry that names the layout.
pub const FORMAT_KEY: &str = "benchmon.format";
/// The layout this module writes; bump the suffix when a column changes meaning.
pub const FORMAT: &str = "benchmon.samples/v1";
/// Names of the fixed columns, in file order; label columns follow them.
pub const FIXED_COLUMNS: [&str; 4] = ["timestamp", "value", "query", "series"];
/// Index of the first string column (`query`): after `timestamp` and `value`.
const STRING_COLUMNS_FROM: usize = 2;
/// Prefix put before a label's column name when it would collide (see [`label_column_names`]).
pub const LABEL_PREFIX: &str = "label_";

/// Values handed to one `write_batch` call: bounds the scratch buffers used to expand
/// per-series runs into string columns, whatever the row group size.
const BATCH_ROWS: usize = 64 * 1024;

/// Knobs of a writer. The defaults are what measured best on node-exporter-like data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Rows per row group: the writer buffers this many samples (16 bytes each, plus 8 bytes
    /// per series run) before encoding them, so this is the memory bound. Readers also get
    /// one min/max statistics entry per row group to skip on.
    pub row_group_rows: usize,
    /// Distinct series per row group: a row group also ends when this many series are in it.
    /// Each series keeps its strings (and the parquet crate's dictionaries a copy) until the
    /// row group is written, so with many short series (a 500-node session, a one-minute
    /// window) this, not `row_group_rows`, is what bounds memory.
    pub row_group_series: usize,
    /// zstd level for every page (1–22). On the synthetic node-exporter data 1 writes 33 %
    /// more bytes, 6 and 9 save 3–4 % for 5–10 % more CPU; 3 is the default.
    pub zstd_level: i32,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            row_group_rows: 1 << 20,
            row_group_series: 16 * 1024,
            zstd_level: 3,
        }
    }
}

/// What a finished file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetSummary {
    /// Samples written.
    pub rows: u64,
    /// Row groups written (0 for an empty file).
    pub row_groups: usize,
    /// Bytes of the file, footer included.
    pub bytes: u64,
}

/// Why writing samples as Parquet failed.
#[derive(Debug, thiserror::Error)]
pub enum SampleParquetError {
    /// The same label name was declared twice at creation.
    #[error("label name {name:?} is declared twice")]
    DuplicateLabelName { name: String },
    /// `row_group_rows` or `row_group_series` is 0 or above what a run length can count.
    #[error("{knob} must be between 1 and {max}, not {rows}")]
    RowGroupRows {
        knob: &'static str,
        rows: usize,
        max: usize,
    },
    /// zstd does not know that level.
    #[error("zstd level {level} is not supported: {source}")]
    ZstdLevel { level: i32, source: ParquetError },
    /// A series carries a label whose column was not declared when the file was created.
    #[error(
        "series {series} of query {query:?} has label {label:?}, which was not among the label \
         names declared when the Parquet file was created"
    )]
    UndeclaredLabel {
        query: String,
        series: String,
        label: String,
    },
    /// A series gives the same label twice.
    #[error("series {series} of query {query:?} gives label {label:?} twice")]
    RepeatedLabel {
        query: String,
        series: String,
        label: String,
    },
    /// The parquet crate or the sink under it failed.
    #[error("writing Parquet failed while {stage}: {source}")]
    Parquet {
        stage: &'static str,
        source: ParquetError,
    },
}

fn pq(stage: &'static str) -> impl FnOnce(ParquetError) -> SampleParquetError {
    move |source| SampleParquetError::Parquet { stage, source }
}

/// One label of a series: lets `write_series` take `&[(&str, &str)]`, `&Vec<(String, String)>`,
/// `&BTreeMap<String, String>` or any iterator of pairs without copying.
pub trait LabelPair {
    /// Label name.
    fn name(&self) -> &str;
    /// Label value.
    fn value(&self) -> &str;
}

impl<K: AsRef<str>, V: AsRef<str>> LabelPair for (K, V) {
    fn name(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> LabelPair for &(K, V) {
    fn name(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
}

/// The caller's sink, counting bytes so that the summary can tell the file size.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A consecutive stretch of buffered rows that belong to one series.
#[derive(Debug, Clone, Copy)]
struct Run {
    series: u32,
    len: u32,
}

/// Writes samples into one Parquet file, one row group at a time.
///
/// Memory: the current row group's timestamps and values (16 bytes a sample), one 8-byte run
/// per `write_series` call, and the strings of each series seen in the row group; string
/// columns are expanded from the runs in slices of 64 Ki values when the row group is encoded.
pub struct SampleParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<Counted<W>>,
    label_columns: Vec<String>,
    label_index: HashMap<String, usize>,
    /// The string columns' descriptors (`query`, `series`, then the labels), for the chunks
    /// [`dictionary`] encodes itself.
    string_columns: Vec<ColumnDescPtr>,
    zstd: PageCompressor,
    row_group_rows: usize,
    row_group_series: usize,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    runs: Vec<Run>,
    series: SeriesTable,
    rows: u64,
    row_groups: usize,
}

impl<W: Write + Send> std::fmt::Debug for SampleParquetWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleParquetWriter")
            .field("label_columns", &self.label_columns)
            .field("row_group_rows", &self.row_group_rows)
            .field("buffered", &self.timestamps.len())
            .field("rows", &self.rows)
            .field("row_groups", &self.row_groups)
            .finish()
    }
}

impl<W: Write + Send> SampleParquetWriter<W> {
    /// Starts a file on `out` with one optional string column per label name, in this order
    /// (names as mapped by [`label_column_names`]). The parquet crate buffers writes itself,
    /// so a plain `File` is fine.
    pub fn new(
        out: W,
        label_names: &[String],
        options: ParquetOptions,
    ) -> Result<Self, SampleParquetError> {
        let max = u32::MAX as usize;
        for (knob, rows) in [
            ("row_group_rows", options.row_group_rows),
            ("row_group_series", options.row_group_series),
        ] {
            if rows == 0 || rows > max {
                return Err(SampleParquetError::RowGroupRows { knob, rows, max });
            }
        }
        let label_columns = label_column_names(label_names)?;
        let props = properties(&options)?;
        let schema = schema(&label_columns).map_err(pq("building the schema"))?;
        let file = SerializedFileWriter::new(
            Counted {
                inner: out,
                bytes: 0,
            },
            schema,
            Arc::new(props),
        )
        .map_err(pq("starting the file"))?;
        let string_columns = file.schema_descr().columns()[STRING_COLUMNS_FROM..].to_vec();
        Ok(Self {
            file,
            string_columns,
            zstd: PageCompressor::new(options.zstd_level)?,
            label_columns,
            label_index: label_names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            row_group_rows: options.row_group_rows,
            row_group_series: options.row_group_series,
            timestamps: Vec::new(),
            values: Vec::new(),
            runs: Vec::new(),
            series: SeriesTable::new(label_names.len()),
            rows: 0,
            row_groups: 0,
        })
    }

    /// Column names of the label columns, in file order (see [`label_column_names`]).
    pub fn label_columns(&self) -> &[String] {
        &self.label_columns
    }

    /// Appends samples `(unix milliseconds, value)` of one series, or a consecutive piece of
    /// it. `labels` are `(name, value)` pairs, each name declared at creation and given at most
    /// once; labels not given are null. A rejected call writes nothing.
    pub fn write_series<L: LabelPair>(
        &mut self,
        query: &str,
        series: &str,
        labels: impl IntoIterator<Item = L>,
        samples: &[(i64, f64)],
    ) -> Result<(), SampleParquetError> {
        let mut resolved: Vec<Option<L>> = Vec::new();
        resolved.resize_with(self.label_columns.len(), || None);
        for label in labels {
            let Some(&i) = self.label_index.get(label.name()) else {
                return Err(SampleParquetError::UndeclaredLabel {
                    query: query.to_owned(),
                    series: series.to_owned(),
                    label: label.name().to_owned(),
                });
            };
            if resolved[i].is_some() {
                return Err(SampleParquetError::RepeatedLabel {
                    query: query.to_owned(),
                    series: series.to_owned(),
                    label: label.name().to_owned(),
                });
            }
            resolved[i] = Some(label);
        }
        let label_values: Vec<Option<&str>> = resolved
            .iter()
            .map(|l| l.as_ref().map(|l| l.value()))
            .collect();
        let mut rest = samples;
        while !rest.is_empty() {
            if self.series.len() >= self.row_group_series && !self.holds(query, series) {
                self.flush_row_group()?;
            }
            let room = self.row_group_rows - self.timestamps.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            let index = self.intern(query, series, &label_values);
            self.reserve(now.len());
            self.timestamps.extend(now.iter().map(|s| s.0));
            self.values.extend(now.iter().map(|s| s.1));
            // `now.len() <= row_group_rows <= u32::MAX`, checked at creation.
            let len = u32::try_from(now.len()).unwrap_or(u32::MAX);
            match self.runs.last_mut() {
                Some(run) if run.series == index => run.len += len,
                _ => self.runs.push(Run { series: index, len }),
            }
            if self.timestamps.len() == self.row_group_rows {
                self.flush_row_group()?;
            }
            rest = later;
        }
        Ok(())
    }

    /// Writes the last row group and the footer; the sink is flushed but not synced.
    pub fn finish(self) -> Result<ParquetSummary, SampleParquetError> {
        self.finish_into_inner().map(|(summary, _)| summary)
    }

    /// Like [`Self::finish`], and hands back the sink (to sync or rename a temporary file).
    pub fn finish_into_inner(mut self) -> Result<(ParquetSummary, W), SampleParquetError> {
        self.flush_row_group()?;
        // `into_inner` writes the footer and flushes the parquet crate's buffer.
        let counted = self.file.into_inner().map_err(pq("writing the footer"))?;
        Ok((
            ParquetSummary {
                rows: self.rows,
                row_groups: self.row_groups,
                bytes: counted.bytes,
            },
            counted.inner,
        ))
    }

    /// Grows the sample buffers to fit `more`, never past one row group.
    fn reserve(&mut self, more: usize) {
        let need = self.timestamps.len() + more;
        if need > self.timestamps.capacity() {
            let target = need
                .max(self.timestamps.capacity() * 2)
                .min(self.row_group_rows);
            self.timestamps
                .reserve_exact(target - self.timestamps.len());
            self.values.reserve_exact(target - self.values.len());
        }
    }

    /// Whether the last series written to this row group is `(query, series)`: a piece that
    /// continues it adds no strings, so it never starts a row group of its own.
    fn holds(&self, query: &str, series: &str) -> bool {
        self.runs
            .last()
            .is_some_and(|run| self.series.is(run.series, query, series))
    }

    /// Index of the series in this row group's table, adding it if new.
    fn intern(&mut self, query: &str, series: &str, labels: &[Option<&str>]) -> u32 {
        self.series.intern(query, series, labels)
    }

    /// Encodes the buffered rows as one row group and empties the buffers (keeping capacity).
    fn flush_row_group(&mut self) -> Result<(), SampleParquetError> {
        if self.timestamps.is_empty() {
            return Ok(());
        }
        let mut rg = self
            .file
            .next_row_group()
            .map_err(pq("starting a row group"))?;
        write_required::<Int64Type>(&mut rg, "timestamp", &self.timestamps)?;
        write_required::<DoubleType>(&mut rg, "value", &self.values)?;
        // Every string column's dictionary in one pass over the series' values.
        let series = &self.series;
        let mut dictionaries: Vec<Dictionary<'_>> = (0..self.string_columns.len())
            .map(|_| Dictionary::new(series.len()))
            .collect();
        series.for_each_value(|index, column, value| {
            if let Some(d) = dictionaries.get_mut(column) {
                d.set(index, value);
            }
        });
        for (descr, dictionary) in self.string_columns.iter().zip(&dictionaries) {
            write_dictionary_column(
                &mut rg,
                descr.clone(),
                &self.runs,
                dictionary,
                &mut self.zstd,
            )?;
        }
        rg.close().map_err(pq("closing a row group"))?;
        self.rows += self.timestamps.len() as u64;
        self.row_groups += 1;
        self.timestamps.clear();
        self.values.clear();
        self.runs.clear();
        self.series.clear();
        Ok(())
    }
}
