//! Writing one row group's fixed-width columns from their buffers (the string columns are
//! encoded in [`super::dictionary`]).

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
