//! Streaming CSV parsing (quote-aware chunking, parallel tokenizing and typed
//! conversion) and CSV → Parquet conversion with parallel row-group encoding.
mod chunker;
mod convert;
pub mod dialect;
mod infer;
mod output;
mod pipeline;
mod prepare;
mod source;
mod tokenize;
pub mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchReader};

use crate::error::{KernelError, Result};
pub use dialect::{Dialect, DialectOverrides, Ragged};
pub use prepare::SAMPLE_BYTES;
use source::Source;

/// What to do with a row that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Stop with an error naming file, line and column.
    Fail,
    /// Leave the row out and record it, with its reason, in the rejects file.
    Quarantine,
}

/// Parquet page compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Snappy,
    Lz4,
    None,
}

impl Compression {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "zstd" => Some(Compression::Zstd),
            "snappy" => Some(Compression::Snappy),
            "lz4" => Some(Compression::Lz4),
            "none" | "uncompressed" => Some(Compression::None),
            _ => None,
        }
    }
}

/// Called with (bytes read, rows written) a few times a second; `false` aborts.
pub type Progress = Box<dyn FnMut(u64, u64) -> bool + Send>;

/// Options of [`csv_to_parquet`].
pub struct ConvertOptions {
    pub dialect: Dialect,
    pub schema: Option<SchemaRef>,
    pub on_error: OnError,
    pub rejects: Option<PathBuf>,
    pub compression: Compression,
    pub progress: Option<Progress>,
    /// Columns appended to every row with one value each (e.g. the lake's `batch_id`).
    pub constants: Vec<(String, String)>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            dialect: Dialect::default(),
            schema: None,
            on_error: OnError::Fail,
            rejects: None,
            compression: Compression::Zstd,
            progress: None,
            constants: Vec::new(),
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone)]
pub struct ConvertStats {
    pub rows: u64,
    pub rejected_rows: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub schema: SchemaRef,
    pub null_counts: Vec<u64>,
    pub row_groups: u64,
    pub seconds: f64,
}

/// Short type name for stats and manifests (`int64`, `timestamp[us, tz=UTC]`, ...).
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 => "string".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date32".into(),
        DataType::Timestamp(unit, tz) => {
            let unit = match unit {
                arrow::datatypes::TimeUnit::Second => "s",
                arrow::datatypes::TimeUnit::Millisecond => "ms",
                arrow::datatypes::TimeUnit::Microsecond => "us",
                arrow::datatypes::TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp[{unit}, tz={tz}]"),
                None => format!("timestamp[{unit}]"),
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

/// Bytes per chunk: the unit of parallel work and of a Parquet row group.
pub const CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Internal knobs, exposed for tests (small chunks exercise the chunk boundaries).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub chunk_bytes: usize,
    pub workers: usize,
    /// Bytes read from the start of the file to infer the schema.
    pub sample_bytes: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            chunk_bytes: CHUNK_BYTES,
            workers: pipeline::default_workers(),
            sample_bytes: SAMPLE_BYTES,
        }
    }
}

/// Convert `src` (CSV/TSV) to Parquet at `dst`; `dst` (and the rejects file) appear
/// atomically, and nothing is left behind on failure.
pub fn csv_to_parquet(src: &Path, dst: &Path, options: ConvertOptions) -> Result<ConvertStats> {
    csv_to_parquet_tuned(src, dst, options, Tuning::default())
}

/// [`csv_to_parquet`] with explicit chunk size and worker count.
pub fn csv_to_parquet_tuned(
    src: &Path,
    dst: &Path,
    options: ConvertOptions,
    tuning: Tuning,
) -> Result<ConvertStats> {
    options.dialect.validate().map_err(KernelError::Invalid)?;
    if options.on_error == OnError::Quarantine && options.rejects.is_none() {
        return Err(KernelError::Invalid(
            "on_error=\"quarantine\" needs a rejects path: rejected rows are never dropped silently".into(),
        ));
    }
    output::convert(src, dst, options, tuning)
}

/// A streaming reader of typed record batches, in file order.
pub struct CsvBatchReader {
    schema: SchemaRef,
    inner: Option<pipeline::Pipeline<RecordBatch>>,
}

impl Iterator for CsvBatchReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.as_mut()?.next();
        match item {
            None => {
                self.inner = None;
                None
            }
            Some(Ok(batch)) => Some(Ok(batch)),
            Some(Err(e)) => {
                self.inner = None;
                Some(Err(ArrowError::ParseError(e.to_string())))
            }
        }
    }
}

impl RecordBatchReader for CsvBatchReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Open `src` as a stream of typed record batches (schema inferred unless given).
/// Problems in the inference sample are reported here; later ones by the iterator.
pub fn read_csv(src: &Path, dialect: Dialect, schema: Option<SchemaRef>) -> Result<CsvBatchReader> {
    read_csv_tuned(src, dialect, schema, Tuning::default())
}

/// [`read_csv`] with explicit chunk size and worker count.
pub fn read_csv_tuned(
    src: &Path,
    dialect: Dialect,
    schema: Option<SchemaRef>,
    tuning: Tuning,
) -> Result<CsvBatchReader> {
    dialect.validate().map_err(KernelError::Invalid)?;
    let source = Source::new(src, Arc::new(dialect));
    let prepared = prepare::prepare(&source, schema, tuning.sample_bytes)?;
    let schema = Arc::clone(&prepared.schema);
    let ctx = Arc::new(output::WorkerContext::new(
        &source,
        prepared,
        &[],
        OnError::Fail,
        None,
    ));
    let work = move |chunk| output::parse_chunk(&ctx, chunk).map(|parsed| parsed.batch);
    let inner = pipeline::Pipeline::start(&source, tuning.chunk_bytes, tuning.workers, work)?;
    Ok(CsvBatchReader {
        schema,
        inner: Some(inner),
    })
}

#[cfg(test)]
mod tests;
