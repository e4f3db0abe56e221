//! String columns encoded by benchmon itself, straight from the per-series runs.
//!
//! Why: every row of a string column repeats its series' value, and the parquet crate's
//! dictionary encoder interns each row (a `Bytes` clone, a hash and a compare per row and per
//! column): about 30 % of a raw export's CPU on node-exporter data. Here a value is interned
//! once per series, and a run of rows becomes one RLE run, so a string column costs per
//! series, not per sample.
//!
//! What is written is what the parquet crate writes for a dictionary column in format v1: one
//! PLAIN dictionary page, then data pages of at most [`PAGE_ROWS`] rows holding the definition
//! levels (optional columns, RLE with a 4-byte length) and the dictionary indices (a bit width
//! byte, then the RLE/bit-packed hybrid, here only RLE runs), every page zstd-compressed. The
//! chunk is built in memory (dictionary plus a few bytes per run) and spliced into the row
//! group with [`SerializedRowGroupWriter::append_column`].

use super::schema::PAGE_ROWS;
use super::{pq, Run, SampleParquetError};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder};
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use rustc_hash::FxHashMap;
use std::io::Write;

/// Encodings a chunk written here uses: PLAIN (the dictionary), RLE (levels), RLE_DICTIONARY.
const ENCODINGS: [Encoding; 3] = [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];

/// zstd for every page of the string columns, one context reused for the whole file.
pub(super) struct PageCompressor {
    zstd: zstd::bulk::Compressor<'static>,
    level: i32,
}

impl PageCompressor {
    pub(super) fn new(level: i32) -> Result<Self, SampleParquetError> {
        let zstd = zstd::bulk::Compressor::new(level).map_err(|e| SampleParquetError::Parquet {
            stage: "starting zstd",
            source: ParquetError::External(Box::new(e)),
        })?;
        Ok(Self { zstd, level })
    }

    fn compress(&mut self, page: &[u8]) -> Result<Bytes, SampleParquetError> {
        self.zstd
            .compress(page)
            .map(Bytes::from)
            .map_err(|e| SampleParquetError::Parquet {
                stage: "compressing a page",
                source: ParquetError::External(Box::new(e)),
            })
    }

    fn codec(&self) -> Result<Compression, SampleParquetError> {
        ZstdLevel::try_new(self.level)
            .map(Compression::ZSTD)
            .map_err(|source| SampleParquetError::ZstdLevel {
                level: self.level,
                source,
            })
    }
}

/// Writes the next column of `rg`, a string column whose values per series are `dictionary`'s
/// (a series without one is null: only for optional columns), with `runs` giving the rows in
/// order.
pub(super) fn write_dictionary_column<W: Write + Send>(
    rg: &mut SerializedRowGroupWriter<'_, W>,
    descr: ColumnDescPtr,
    runs: &[Run],
    dictionary: &Dictionary<'_>,
    zstd: &mut PageCompressor,
) -> Result<(), SampleParquetError> {
    let optional = descr.max_def_level() > 0;
    if !optional && dictionary.has_null {
        return Err(SampleParquetError::Parquet {
            stage: "writing a column",
            source: ParquetError::General(format!("no value for required column {}", descr.name())),
        });
    }

    let mut chunk = TrackedWrite::new(Vec::new());
    let mut totals = Totals::default();
    let mut pages_index = OffsetIndexBuilder::new();
    {
        let mut pages = SerializedPageWriter::new(&mut chunk);
        let plain = dictionary.plain();
        let dict_page = Page::DictionaryPage {
            buf: zstd.compress(&plain)?,
            num_values: dictionary.len(),
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        totals.add(
            pages
                .write_page(CompressedPage::new(dict_page, plain.len()))
                .map_err(pq("writing a dictionary page"))?,
        );
        for page in data_pages(runs, dictionary, optional) {
            let rows = page.rows;
            let buf = page.bytes;
            let data_page = Page::DataPage {
                buf: zstd.compress(&buf)?,
                num_values: rows,
                encoding: Encoding::RLE_DICTIONARY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            let spec = pages
                .write_page(CompressedPage::new(data_page, buf.len()))
                .map_err(pq("writing a data page"))?;
            totals.data_offset.get_or_insert(spec.offset);
            // Every chunk of a file has an offset index or none has (the crate's footer
            // writer requires it); readers use it to find pages by row.
            pages_index.append_row_count(i64::from(rows));
            pages_index.append_offset_and_size(
                i64::try_from(spec.offset).unwrap_or(i64::MAX),
                i32::try_from(spec.compressed_size).unwrap_or(i32::MAX),
            );
            totals.add(spec);
            totals.rows += u64::from(rows);
        }
        pages.close().map_err(pq("closing a column"))?;
    }
    let bytes = Bytes::from(chunk.into_inner().map_err(pq("closing a column"))?);
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let metadata = ColumnChunkMetaData::builder(descr)
        .set_compression(zstd.codec()?)
        .set_encodings_mask(EncodingMask::new_from_encodings(ENCODINGS.iter()))
        .set_total_compressed_size(to_i64(totals.compressed))
        .set_total_uncompressed_size(to_i64(totals.uncompressed))
        .set_num_values(to_i64(totals.rows))
        .set_dictionary_page_offset(Some(0))
        .set_data_page_offset(to_i64(totals.data_offset.unwrap_or(0)))
        .build()
        .map_err(pq("describing a column"))?;
    let close = ColumnCloseResult {
        bytes_written: bytes.len() as u64,
        rows_written: totals.rows,
        metadata,
        bloom_filter: None,
        column_index: None,
        offset_index: Some(pages_index.build()),
    };
    rg.append_column(&bytes, close)
        .map_err(pq("appending a column"))
}

#[derive(Default)]
struct Totals {
    compressed: u64,
    uncompressed: u64,
    rows: u64,
    data_offset: Option<u64>,
}

impl Totals {
    fn add(&mut self, spec: parquet::column::page::PageWriteSpec) {
        self.compressed += spec.compressed_size as u64;
        self.uncompressed += spec.uncompressed_size as u64;
    }
}

/// The distinct values of one column in one row group, and each series' index into them.
pub(super) struct Dictionary<'s> {
    values: Vec<&'s [u8]>,
    seen: FxHashMap<&'s [u8], u32>,
    /// Per series: its value's index, `None` for null.
    index_of: Vec<Option<u32>>,
    /// Series given a value so far.
    set: usize,
    has_null: bool,
}

impl<'s> Dictionary<'s> {
    /// A column of `series_count` series, all null until [`Self::set`].
    pub(super) fn new(series_count: usize) -> Self {
        Self {
            values: Vec::new(),
            seen: FxHashMap::default(),
            index_of: vec![None; series_count],
            set: 0,
            has_null: series_count > 0,
        }
    }

    /// Series `series` has `value` in this column (given once per series).
    pub(super) fn set(&mut self, series: u32, value: &'s [u8]) {
        let Some(slot) = self.index_of.get_mut(series as usize) else {
            return;
        };
        let values = &mut self.values;
        let index = *self.seen.entry(value).or_insert_with(|| {
            values.push(value);
            // Distinct values ≤ series in a row group ≤ u32::MAX (checked at creation).
            u32::try_from(values.len() - 1).unwrap_or(u32::MAX)
        });
        if slot.replace(index).is_none() {
            self.set += 1;
        }
        self.has_null = self.set < self.index_of.len();
    }

    fn len(&self) -> u32 {
        u32::try_from(self.values.len()).unwrap_or(u32::MAX)
    }

    /// The dictionary page, PLAIN: each value as a 4-byte little-endian length and its bytes.
    fn plain(&self) -> Vec<u8> {
        let size = self.values.iter().map(|v| 4 + v.len()).sum();
        let mut out = Vec::with_capacity(size);
        for v in &self.values {
            // Label values and series keys are far below 4 GiB.
            out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    /// Bits per index: enough for the largest, and at least 1 (some readers dislike 0).
    fn bit_width(&self) -> u8 {
        let max = self.values.len().saturating_sub(1) as u64;
        (64 - max.leading_zeros()).max(1) as u8
    }
}

/// One encoded (uncompressed) v1 data page.
struct EncodedPage {
    rows: u32,
    bytes: Vec<u8>,
}

/// The data pages of a column: rows taken from `runs` in order, [`PAGE_ROWS`] at most a page.
fn data_pages(runs: &[Run], dictionary: &Dictionary<'_>, optional: bool) -> Vec<EncodedPage> {
    let bit_width = dictionary.bit_width();
    let mut pages = Vec::new();
    let mut levels = RleRuns::new(1);
    let mut indices = RleRuns::new(bit_width);
    let mut rows: u32 = 0;
    let mut finish_page = |levels: &mut RleRuns, indices: &mut RleRuns, rows: &mut u32| {
        let levels = levels.take();
        let indices = indices.take();
        let mut bytes = Vec::with_capacity(levels.len() + indices.len() + 5);
        if optional {
            // The levels' byte length fits easily: a page has at most PAGE_ROWS rows.
            let len = u32::try_from(levels.len()).unwrap_or(u32::MAX);
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&levels);
        }
        bytes.push(bit_width);
        bytes.extend_from_slice(&indices);
        pages.push(EncodedPage { rows: *rows, bytes });
        *rows = 0;
    };
    let page_rows = u32::try_from(PAGE_ROWS).unwrap_or(u32::MAX);
    for run in runs {
        let index = dictionary
            .index_of
            .get(run.series as usize)
            .copied()
            .flatten();
        let mut left = run.len;
        while left > 0 {
            let n = left.min(page_rows - rows);
            levels.push(u32::from(index.is_some()), n);
            if let Some(i) = index {
                indices.push(i, n);
            }
            rows += n;
            left -= n;
            if rows == page_rows {
                finish_page(&mut levels, &mut indices, &mut rows);
            }
        }
    }
    if rows > 0 {
        finish_page(&mut levels, &mut indices, &mut rows);
    }
    pages
}

/// The RLE half of Parquet's RLE/bit-packed hybrid: each run is a ULEB128 header
/// `count << 1` and the value in ⌈bit width / 8⌉ little-endian bytes. Adjacent pushes of the
/// same value join one run.
struct RleRuns {
    out: Vec<u8>,
    value_bytes: usize,
    current: Option<(u32, u32)>,
}

impl RleRuns {
    fn new(bit_width: u8) -> Self {
        Self {
            out: Vec::new(),
            value_bytes: usize::from(bit_width).div_ceil(8),
            current: None,
        }
    }

    fn push(&mut self, value: u32, count: u32) {
        match &mut self.current {
            Some((v, c)) if *v == value => *c += count,
            _ => {
                self.flush();
                self.current = Some((value, count));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((value, count)) = self.current.take() {
            let mut header = u64::from(count) << 1;
            loop {
                let byte = (header & 0x7f) as u8;
                header >>= 7;
                if header == 0 {
                    self.out.push(byte);
                    break;
                }
                self.out.push(byte | 0x80);
            }
            self.out
                .extend_from_slice(&value.to_le_bytes()[..self.value_bytes]);
        }
    }

    /// The runs so far, and a fresh start for the next page.
    fn take(&mut self) -> Vec<u8> {
        self.flush();
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rle_runs_join_equal_values_and_write_uleb128_headers() {
        let mut r = RleRuns::new(9);
        r.push(5, 3);
        r.push(5, 2);
        r.push(300, 200);
        // 5 × 5: header 10; value 5 in two bytes. 300 × 200: header 400 = 0x90 0x03.
        assert_eq!(r.take(), vec![10, 5, 0, 0x90, 0x03, 0x2c, 0x01]);
        assert!(r.take().is_empty());
    }

    #[test]
    fn values_are_interned_once_and_unset_series_are_null() {
        let mut d = Dictionary::new(3);
        assert!(d.has_null);
        d.set(0, b"a");
        d.set(2, b"a");
        assert_eq!(
            (d.len(), d.index_of.clone(), d.has_null),
            (1, vec![Some(0), None, Some(0)], true)
        );
        d.set(1, b"b");
        assert_eq!(
            (d.len(), d.index_of.clone(), d.has_null),
            (2, vec![Some(0), Some(1), Some(0)], false)
        );
        assert!(!Dictionary::new(0).has_null);
    }

    #[test]
    fn bit_width_covers_the_largest_index_and_is_never_zero() {
        let d = |n: usize| Dictionary {
            values: vec![b"x".as_slice(); n],
            ..Dictionary::new(0)
        };
        assert_eq!(d(1).bit_width(), 1);
        assert_eq!(d(2).bit_width(), 1);
        assert_eq!(d(3).bit_width(), 2);
        assert_eq!(d(256).bit_width(), 8);
        assert_eq!(d(257).bit_width(), 9);
    }
}
