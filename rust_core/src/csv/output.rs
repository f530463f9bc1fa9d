//! Per-chunk work (tokenize, convert, quarantine, encode a row group) and the ordered
//! writer that assembles the Parquet file and the rejects file atomically.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, StringArray, UInt64Array,
};
use arrow::compute::filter;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::chunker::Chunk;
use super::convert::{build_columns, RowError};
use super::dialect::ValueFormat;
use super::pipeline::Pipeline;
use super::prepare::{prepare, Prepared};
use super::source::Source;
use super::tokenize::{tokenize_into, Records};
use super::{Compression, ConvertOptions, ConvertStats, OnError, Progress, Tuning};
use crate::error::{KernelError, Location, Result};

/// A rejected row: where, why, and its raw text.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u64,
    pub column: Option<u64>,
    pub column_name: Option<String>,
    pub reason: String,
    pub record: String,
}

/// Shared, read-only state of the workers.
pub struct WorkerContext {
    path: PathBuf,
    delimiter: u8,
    has_header: bool,
    schema: SchemaRef,
    /// The schema of the batches: `schema` and then the constant columns.
    output_schema: SchemaRef,
    /// Values of the constant columns, one per column after `schema`'s.
    constants: Vec<String>,
    values: ValueFormat,
    on_error: OnError,
    factory: Option<ArrowRowGroupWriterFactory>,
}

impl WorkerContext {
    pub fn new(
        source: &Source,
        prepared: Prepared,
        constants: &[(String, String)],
        on_error: OnError,
        factory: Option<ArrowRowGroupWriterFactory>,
    ) -> Self {
        WorkerContext {
            path: source.path().to_path_buf(),
            delimiter: source.delimiter(),
            values: source.dialect().values.clone(),
            has_header: prepared.has_header,
            output_schema: with_constants(&prepared.schema, constants),
            constants: constants.iter().map(|(_, v)| v.clone()).collect(),
            schema: prepared.schema,
            on_error,
            factory,
        }
    }
}

/// `schema` followed by one non-null string column per constant.
pub fn with_constants(schema: &SchemaRef, constants: &[(String, String)]) -> SchemaRef {
    if constants.is_empty() {
        return Arc::clone(schema);
    }
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    fields.extend(
        constants
            .iter()
            .map(|(name, _)| Arc::new(Field::new(name, DataType::Utf8, false))),
    );
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Refuse constant columns whose names the file's own columns (or each other) take.
pub fn check_constants(path: &Path, schema: &Schema, constants: &[(String, String)]) -> Result<()> {
    for (i, (name, _)) in constants.iter().enumerate() {
        let taken = schema.fields().iter().any(|f| f.name() == name)
            || constants[..i].iter().any(|(n, _)| n == name);
        if taken {
            return Err(KernelError::format(
                path,
                None,
                format!("the file has a column named {name:?}, a name the lake reserves for its own column"),
            ));
        }
    }
    Ok(())
}

/// A chunk's rows (bad ones removed in quarantine mode) and its rejects.
pub struct Parsed {
    pub batch: RecordBatch,
    pub rejects: Vec<Reject>,
}

const UNTERMINATED: &str = "unterminated quoted field: no closing quote before end of file";

fn location(ctx: &WorkerContext, chunk: &Chunk, rec: &Records, err: &RowError) -> Location {
    let line = chunk.line_of(err.at.unwrap_or_else(|| rec.span(err.record).0));
    let column_name = err
        .column
        .and_then(|c| ctx.schema.fields().get(c))
        .map(|f| f.name().clone());
    Location {
        line,
        column: err.column.map_or(0, |c| c as u64 + 1),
        column_name,
    }
}

thread_local! {
    /// Each worker's tokenizer buffers, reused from chunk to chunk (fewer page faults).
    static SPARE: std::cell::RefCell<(Vec<u8>, Vec<u32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Tokenize and convert one chunk.
pub fn parse_chunk(ctx: &WorkerContext, chunk: Chunk) -> Result<Parsed> {
    let (data, ends) = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let rec = tokenize_into(&chunk.data, ctx.delimiter, data, ends).map_err(|e| {
        KernelError::format(
            &ctx.path,
            Some(Location {
                line: chunk.first_line,
                column: 0,
                column_name: None,
            }),
            e,
        )
    })?;
    let result = convert_records(ctx, &chunk, &rec);
    let buffers = rec.into_buffers();
    SPARE.with(|s| *s.borrow_mut() = buffers);
    result
}

fn convert_records(ctx: &WorkerContext, chunk: &Chunk, rec: &Records) -> Result<Parsed> {
    let from = if chunk.seq == 0 && ctx.has_header {
        rec.len().min(1)
    } else {
        0
    };
    let (cols, mut errors) = build_columns(rec, from, ctx.schema.fields(), &ctx.values);
    if let (Some(quote), true) = (chunk.unterminated_quote, rec.len() > from) {
        let last = rec.len() - 1;
        errors.retain(|e| e.record != last);
        let column = Some(rec.num_fields(last).saturating_sub(1));
        errors.push(RowError {
            record: last,
            column,
            reason: UNTERMINATED.into(),
            // Report the line of the opening quote, not of the record's start.
            at: Some(quote),
        });
    }
    let rows = rec.len() - from;
    if errors.is_empty() {
        return Ok(Parsed {
            batch: make_batch(ctx, cols, rows)?,
            rejects: Vec::new(),
        });
    }
    if ctx.on_error == OnError::Fail {
        let first = &errors[0];
        let loc = location(ctx, chunk, rec, first);
        return Err(KernelError::format(
            &ctx.path,
            Some(loc),
            first.reason.clone(),
        ));
    }
    let mut keep = vec![true; rows];
    let mut rejects = Vec::new();
    for err in &errors {
        let i = err.record - from;
        if !keep[i] {
            continue; // one reject per row: its first error
        }
        keep[i] = false;
        let (s, e) = rec.span(err.record);
        let loc = location(ctx, chunk, rec, err);
        rejects.push(Reject {
            line: loc.line,
            column: err.column.map(|c| c as u64 + 1),
            column_name: loc.column_name,
            reason: err.reason.clone(),
            record: String::from_utf8_lossy(&chunk.data[s..e]).into_owned(),
        });
    }
    let mask = BooleanArray::from(keep);
    let kept = mask.true_count();
    let cols = cols
        .iter()
        .map(|c| filter(c, &mask))
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()
        .map_err(|e| KernelError::Internal(e.to_string()))?;
    Ok(Parsed {
        batch: make_batch(ctx, cols, kept)?,
        rejects,
    })
}

fn make_batch(ctx: &WorkerContext, mut cols: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    for value in &ctx.constants {
        let col: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            value.as_str(),
            rows,
        )));
        cols.push(col);
    }
    let opts = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::clone(&ctx.output_schema), cols, &opts)
        .map_err(|e| KernelError::Internal(format!("building a batch: {e}")))
}

/// One chunk, converted and encoded as a Parquet row group (if it has rows).
pub struct Encoded {
    rows: u64,
    null_counts: Vec<u64>,
    row_group: Option<Vec<ArrowColumnChunk>>,
    rejects: Vec<Reject>,
    end_offset: u64,
}

fn pq_err(e: impl std::fmt::Display) -> KernelError {
    KernelError::Internal(format!("parquet: {e}"))
}

fn encode_chunk(ctx: &WorkerContext, chunk: Chunk) -> Result<Encoded> {
    let seq = chunk.seq;
    let end_offset = chunk.offset + chunk.data.len() as u64;
    let parsed = parse_chunk(ctx, chunk)?;
    let batch = parsed.batch;
    let null_counts = batch
        .columns()
        .iter()
        .map(|c| c.null_count() as u64)
        .collect();
    let rows = batch.num_rows() as u64;
    let row_group = if rows == 0 {
        None
    } else {
        let factory = ctx
            .factory
            .as_ref()
            .ok_or_else(|| KernelError::Internal("no writer factory".into()))?;
        let mut writers = factory
            .create_column_writers(seq as usize)
            .map_err(pq_err)?;
        let mut slots = writers.iter_mut();
        for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, col).map_err(pq_err)? {
                let w = slots
                    .next()
                    .ok_or_else(|| KernelError::Internal("column writer missing".into()))?;
                w.write(&leaf).map_err(pq_err)?;
            }
        }
        Some(
            writers
                .into_iter()
                .map(|w| w.close().map_err(pq_err))
                .collect::<Result<Vec<_>>>()?,
        )
    };
    Ok(Encoded {
        rows,
        null_counts,
        row_group,
        rejects: parsed.rejects,
        end_offset,
    })
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file written under a temporary name beside its destination and renamed into
/// place on commit; removed if dropped uncommitted.
struct TempFile {
    tmp: PathBuf,
    committed: bool,
}

impl TempFile {
    fn create(dst: &Path) -> Result<(Self, File)> {
        let name = dst
            .file_name()
            .ok_or_else(|| KernelError::Invalid(format!("{}: not a file path", dst.display())))?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_name = format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            n
        );
        let tmp = dst.with_file_name(tmp_name);
        let file = File::create(&tmp).map_err(|e| KernelError::io(dst, e))?;
        Ok((
            TempFile {
                tmp,
                committed: false,
            },
            file,
        ))
    }

    fn commit(mut self, dst: &Path) -> Result<()> {
        std::fs::rename(&self.tmp, dst).map_err(|e| KernelError::io(dst, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn writer_properties(
    compression: Compression,
    schema: &Schema,
    dictionary: &[bool],
) -> Result<WriterProperties> {
    let codec = match compression {
        Compression::Zstd => PqCompression::ZSTD(ZstdLevel::try_new(1).map_err(pq_err)?),
        Compression::Snappy => PqCompression::SNAPPY,
        Compression::Lz4 => PqCompression::LZ4_RAW,
        Compression::None => PqCompression::UNCOMPRESSED,
    };
    let mut builder = WriterProperties::builder();
    for (field, &dict) in schema.fields().iter().zip(dictionary) {
        builder =
            builder.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), dict);
    }
    let mut props = builder
        .set_compression(codec)
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_created_by(format!("aerofs-pipelines {}", env!("CARGO_PKG_VERSION")))
        .build();
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    Ok(props)
}

/// Rejected rows, as CSV (`line,column,column_name,reason,record`) or Parquet.
enum RejectsSink {
    Csv(BufWriter<File>),
    Parquet(Box<ArrowWriter<File>>),
}

struct RejectsWriter {
    dst: PathBuf,
    temp: TempFile,
    sink: RejectsSink,
}

fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("line", DataType::UInt64, false),
        Field::new("column", DataType::UInt64, true),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
    ]))
}

fn csv_quote(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

impl RejectsWriter {
    fn create(dst: &Path) -> Result<Self> {
        let (temp, file) = TempFile::create(dst)?;
        let is_parquet = dst
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        let sink = if is_parquet {
            let props = writer_properties(Compression::Zstd, &rejects_schema(), &[])?;
            RejectsSink::Parquet(Box::new(
                ArrowWriter::try_new(file, rejects_schema(), Some(props)).map_err(pq_err)?,
            ))
        } else {
            let mut w = BufWriter::new(file);
            w.write_all(b"line,column,column_name,reason,record\n")
                .map_err(|e| KernelError::io(dst, e))?;
            RejectsSink::Csv(w)
        };
        Ok(RejectsWriter {
            dst: dst.to_path_buf(),
            temp,
            sink,
        })
    }

    fn write(&mut self, rejects: &[Reject]) -> Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            RejectsSink::Csv(w) => {
                let mut buf = Vec::new();
                for r in rejects {
                    buf.extend_from_slice(r.line.to_string().as_bytes());
                    buf.push(b',');
                    if let Some(c) = r.column {
                        buf.extend_from_slice(c.to_string().as_bytes());
                    }
                    buf.push(b',');
                    csv_quote(&mut buf, r.column_name.as_deref().unwrap_or(""));
                    buf.push(b',');
                    csv_quote(&mut buf, &r.reason);
                    buf.push(b',');
                    csv_quote(&mut buf, &r.record);
                    buf.push(b'\n');
                }
                w.write_all(&buf).map_err(|e| KernelError::io(&self.dst, e))
            }
            RejectsSink::Parquet(w) => {
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(UInt64Array::from_iter_values(
                        rejects.iter().map(|r| r.line),
                    )),
                    Arc::new(UInt64Array::from_iter(rejects.iter().map(|r| r.column))),
                    Arc::new(StringArray::from_iter(
                        rejects.iter().map(|r| r.column_name.as_deref()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        rejects.iter().map(|r| r.reason.as_str()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        rejects.iter().map(|r| r.record.as_str()),
                    )),
                ];
                let batch = RecordBatch::try_new(rejects_schema(), cols).map_err(pq_err)?;
                w.write(&batch).map_err(pq_err)
            }
        }
    }

    fn commit(self) -> Result<()> {
        match self.sink {
            RejectsSink::Csv(w) => {
                w.into_inner()
                    .map_err(|e| KernelError::io(&self.dst, e.into_error()))?;
            }
            RejectsSink::Parquet(w) => {
                w.close().map_err(pq_err)?;
            }
        }
        self.temp.commit(&self.dst)
    }
}

const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Tell the caller how far the conversion is; its `false` aborts it.
fn report(progress: &mut Option<Progress>, stats: &ConvertStats) -> Result<()> {
    if let Some(progress) = progress.as_mut() {
        if !progress(stats.bytes_read, stats.rows) {
            return Err(KernelError::Invalid("conversion interrupted".into()));
        }
    }
    Ok(())
}

/// The whole conversion: prepare, run the pipeline, write row groups in order.
pub fn convert(
    src: &Path,
    dst: &Path,
    mut options: ConvertOptions,
    tuning: Tuning,
) -> Result<ConvertStats> {
    let started = Instant::now();
    let source = Source::new(src, Arc::new(std::mem::take(&mut options.dialect)));
    let prepared = prepare(&source, options.schema.clone(), tuning.sample_bytes)?;
    check_constants(src, &prepared.schema, &options.constants)?;
    let schema = with_constants(&prepared.schema, &options.constants);
    let mut dictionary = prepared.dictionary.clone();
    dictionary.resize(schema.fields().len(), true); // one value: a one-entry dictionary
    let props = writer_properties(options.compression, &schema, &dictionary)?;
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(&schema)
        .map_err(pq_err)?;
    let (temp, file) = TempFile::create(dst)?;
    let mut writer = SerializedFileWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        parquet_schema.root_schema_ptr(),
        Arc::new(props),
    )
    .map_err(pq_err)?;
    let factory = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&schema));
    let mut rejects = match (options.on_error, &options.rejects) {
        (OnError::Quarantine, Some(path)) => Some(RejectsWriter::create(path)?),
        _ => None,
    };
    let ctx = Arc::new(WorkerContext::new(
        &source,
        prepared,
        &options.constants,
        options.on_error,
        Some(factory),
    ));
    let pipeline = Pipeline::start(&source, tuning.chunk_bytes, tuning.workers, move |chunk| {
        encode_chunk(&ctx, chunk)
    })?;
    let mut stats = ConvertStats {
        rows: 0,
        rejected_rows: 0,
        bytes_read: 0,
        bytes_written: 0,
        null_counts: vec![0; schema.fields().len()],
        schema: Arc::clone(&schema),
        row_groups: 0,
        seconds: 0.0,
    };
    let mut last_report = Instant::now();
    for item in pipeline {
        let out = item?;
        if let Some(chunks) = out.row_group {
            let mut rg = writer.next_row_group().map_err(|e| write_err(dst, e))?;
            for c in chunks {
                c.append_to_row_group(&mut rg)
                    .map_err(|e| write_err(dst, e))?;
            }
            rg.close().map_err(|e| write_err(dst, e))?;
            stats.row_groups += 1;
        }
        stats.rows += out.rows;
        stats.rejected_rows += out.rejects.len() as u64;
        stats.bytes_read = stats.bytes_read.max(out.end_offset);
        for (total, n) in stats.null_counts.iter_mut().zip(&out.null_counts) {
            *total += n;
        }
        if let Some(r) = rejects.as_mut() {
            r.write(&out.rejects)?;
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            report(&mut options.progress, &stats)?;
        }
    }
    if !source.is_raw() {
        // Offsets count the transcoded text; report the file's own size.
        stats.bytes_read = std::fs::metadata(src).map_or(stats.bytes_read, |m| m.len());
    }
    let inner = writer.into_inner().map_err(|e| write_err(dst, e))?;
    inner
        .into_inner()
        .map_err(|e| KernelError::io(dst, e.into_error()))?;
    stats.bytes_written = std::fs::metadata(&temp.tmp).map(|m| m.len()).unwrap_or(0);
    // The last report comes before the rename, so an abort still leaves nothing behind.
    report(&mut options.progress, &stats)?;
    if let Some(r) = rejects {
        r.commit()?;
    }
    temp.commit(dst)?;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

fn write_err(dst: &Path, e: parquet::errors::ParquetError) -> KernelError {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => KernelError::io(dst, *io),
                Err(other) => KernelError::io(dst, std::io::Error::other(other.to_string())),
            }
        }
        other => KernelError::io(dst, std::io::Error::other(other.to_string())),
    }
}
