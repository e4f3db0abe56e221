//! Writing one row group's buffered columns: the fixed ones from their buffers, the string
//! ones expanded from per-series runs in bounded slices.

use super::*;

pub(super) fn next_column<'a, 'b, W: Write + Send>(
    rg: &'a mut SerializedRowGroupWriter<'b, W>,
    column: &'static str,
) -> Result<parquet::file::writer::SerializedColumnWriter<'a>, SampleParquetError> {
    rg.next_column()
        .map_err(pq("starting a column"))?
        .ok_or_else(|| SampleParquetError::Parquet {
            stage: "starting a column",
            source: ParquetError::General(format!("the schema has no column left for {column}")),
        })
}

/// Writes a required fixed-width column in bounded batches.
pub(super) fn write_required<T: DataType>(
    rg: &mut SerializedRowGroupWriter<'_, impl Write + Send>,
    column: &'static str,
    values: &[T::T],
) -> Result<(), SampleParquetError> {
    let mut col = next_column(rg, column)?;
    for chunk in values.chunks(BATCH_ROWS) {
        col.typed::<T>()
            .write_batch(chunk, None, None)
            .map_err(pq("writing a column"))?;
    }
    col.close().map_err(pq("closing a column"))
}

/// Writes a string column from the runs: `pick(series)` is the series' value, `None` for null
/// (only ever `None` for label columns, which are the optional ones).
pub(super) fn write_strings<'s>(
    rg: &mut SerializedRowGroupWriter<'_, impl Write + Send>,
    column: &'static str,
    runs: &[Run],
    pick: impl Fn(u32) -> Option<&'s ByteArray>,
) -> Result<(), SampleParquetError> {
    let mut col = next_column(rg, column)?;
    let typed: &mut ColumnWriterImpl<'_, ByteArrayType> = col.typed::<ByteArrayType>();
    let optional = typed.get_descriptor().max_def_level() > 0;
    let mut values: Vec<ByteArray> = Vec::with_capacity(BATCH_ROWS);
    let mut levels: Vec<i16> = Vec::with_capacity(if optional { BATCH_ROWS } else { 0 });
    let mut pending = 0usize;
    for run in runs {
        let value = pick(run.series);
        let mut left = run.len as usize;
        while left > 0 {
            let n = left.min(BATCH_ROWS - pending);
            match value {
                Some(v) => values.extend(std::iter::repeat_n(v, n).cloned()),
                None if optional => {}
                None => {
                    return Err(SampleParquetError::Parquet {
                        stage: "writing a column",
                        source: ParquetError::General(format!(
                            "no value for required column {column}"
                        )),
                    })
                }
            }
            if optional {
                levels.extend(std::iter::repeat_n(i16::from(value.is_some()), n));
            }
            pending += n;
            left -= n;
            if pending == BATCH_ROWS {
                flush_strings(typed, &mut values, &mut levels, optional)?;
                pending = 0;
            }
        }
    }
    if pending > 0 {
        flush_strings(typed, &mut values, &mut levels, optional)?;
    }
    col.close().map_err(pq("closing a column"))
}

pub(super) fn flush_strings(
    col: &mut ColumnWriterImpl<'_, ByteArrayType>,
    values: &mut Vec<ByteArray>,
    levels: &mut Vec<i16>,
    optional: bool,
) -> Result<(), SampleParquetError> {
    col.write_batch(values, optional.then_some(levels.as_slice()), None)
        .map_err(pq("writing a column"))?;
    values.clear();
    levels.clear();
    Ok(())
}
