//! Python bindings (`aerofs_pipelines._rust_core`): argument conversion, GIL release,
//! panic containment and error mapping. No kernel logic lives here.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::datatypes::Schema;
use arrow::pyarrow::{FromPyArrow, IntoPyArrow};
use arrow::record_batch::RecordBatchReader;
use pyo3::exceptions::{
    PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyDict, PyList};

use crate::csv::dialect::sniffer::{self, Sniffed};
use crate::csv::dialect::{encoding_for, DateFormat};
use crate::csv::{
    self, Compression, ConvertOptions, Dialect, DialectOverrides, OnError, Progress, Ragged,
};
use crate::error::KernelError;
use crate::file::BegunFile as FileBegun;

type BegunFileCore = FileBegun<PyBackedBytes>;
use crate::{digest as content_digest, text};

/// Run a kernel without the GIL; a panic becomes `KernelInternalError`, never crosses.
fn run_detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, KernelError> + Send,
) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_py_err(py, err)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            Err(to_py_err(py, KernelError::Internal(msg)))
        }
    }
}

fn errors_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("aerofs_pipelines.kernels.errors")?.getattr(name)
}

/// Map a kernel error onto the Python exception a user expects.
pub(crate) fn to_py_err(py: Python<'_>, err: KernelError) -> PyErr {
    match err {
        KernelError::Io { path, source } => {
            let filename = path.display().to_string();
            let args = (
                source.raw_os_error().unwrap_or(0),
                source.to_string(),
                filename,
            );
            match source.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(args),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(args),
                std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(args),
                _ => PyOSError::new_err(args),
            }
        }
        KernelError::Format {
            path,
            location,
            reason,
        } => {
            let (line, column, name) = match location {
                Some(l) => (Some(l.line), Some(l.column), l.column_name),
                None => (None, None, None),
            };
            let path = path.display().to_string();
            match errors_class(py, "InputFormatError")
                .and_then(|cls| cls.call1((reason.clone(), path, line, column, name)))
            {
                Ok(exc) => PyErr::from_value(exc),
                Err(e) => e,
            }
        }
        KernelError::Invalid(msg) => PyValueError::new_err(msg),
        KernelError::Internal(msg) => {
            match errors_class(py, "KernelInternalError").and_then(|cls| cls.call1((msg,))) {
                Ok(exc) => PyErr::from_value(exc),
                Err(e) => e,
            }
        }
    }
}

fn parse_compression(name: &str) -> PyResult<Compression> {
    Compression::parse(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown compression {name:?}")))
}

fn parse_schema(schema: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Arc<Schema>>> {
    schema
        .map(|s| Schema::from_pyarrow_bound(s).map(Arc::new))
        .transpose()
}

/// Progress reporting that also lets Ctrl-C (or an exception in the callback) stop a
/// conversion: the first Python error is kept and re-raised after the kernel returns.
fn progress_hook(callback: Option<Py<PyAny>>, failure: Arc<Mutex<Option<PyErr>>>) -> Progress {
    Box::new(move |bytes_read: u64, rows: u64| -> bool {
        Python::attach(|py| {
            let result = py.check_signals().and_then(|_| match &callback {
                Some(cb) => cb.call1(py, (bytes_read, rows)).map(|_| ()),
                None => Ok(()),
            });
            match result {
                Ok(()) => true,
                Err(err) => {
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(err);
                    }
                    false
                }
            }
        })
    })
}

const DIALECT_KEYS: &[&str] = &[
    "encoding",
    "delimiter",
    "quote",
    "escape",
    "skip_rows",
    "header_rows",
    "comment",
    "skip_footer",
    "trim",
    "null_values",
    "decimal",
    "thousands",
    "date_format",
    "timestamp_format",
    "ragged",
];

fn bad(key: &str, why: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("dialect option {key}: {why}"))
}

/// One ASCII character, or `None` when the value is None (or the empty string).
fn one_char(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<u8>> {
    if v.is_none() {
        return Ok(None);
    }
    let s: String = v
        .extract()
        .map_err(|_| bad(key, "expected a string or None"))?;
    match s.as_bytes() {
        [] => Ok(None),
        [c] if c.is_ascii() => Ok(Some(*c)),
        _ => Err(bad(key, format!("expected one ASCII character, got {s:?}"))),
    }
}

fn optional_string(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if v.is_none() {
        return Ok(None);
    }
    v.extract::<String>()
        .map(Some)
        .map_err(|_| bad(key, "expected a string or None"))
}

fn count(key: &str, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(bad(key, "expected a non-negative integer, got a bool"));
    }
    v.extract::<usize>()
        .map_err(|_| bad(key, "expected a non-negative integer"))
}

fn date_format(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<DateFormat>> {
    optional_string(key, v)?
        .map(|s| DateFormat::new(&s).map_err(|e| bad(key, e)))
        .transpose()
}

/// The fields a dialect mapping sets (unknown keys are refused by name).
fn parse_overrides(dialect: Option<&Bound<'_, PyDict>>) -> PyResult<DialectOverrides> {
    let mut o = DialectOverrides::default();
    let Some(dict) = dialect else {
        return Ok(o);
    };
    for (k, v) in dict.iter() {
        let key: String = k.extract()?;
        let key = key.as_str();
        match key {
            "encoding" => {
                let label: String = v.extract().map_err(|_| bad(key, "expected a string"))?;
                o.encoding = Some(encoding_for(&label).map_err(|e| bad(key, e))?);
            }
            "delimiter" => {
                let d: String = v.extract().map_err(|_| bad(key, "expected a string"))?;
                o.delimiter = Some(d.into_bytes());
            }
            "quote" => o.quote = Some(one_char(key, &v)?),
            "escape" => o.escape = Some(one_char(key, &v)?),
            "skip_rows" => o.skip_rows = Some(count(key, &v)?),
            "header_rows" => o.header_rows = Some(count(key, &v)?),
            "comment" => o.comment = Some(optional_string(key, &v)?.map(String::into_bytes)),
            "skip_footer" => o.skip_footer = Some(count(key, &v)?),
            "trim" => o.trim = Some(v.extract().map_err(|_| bad(key, "expected a bool"))?),
            "null_values" => {
                let values: Vec<String> = v
                    .extract()
                    .map_err(|_| bad(key, "expected a list of strings"))?;
                // The empty string is null anyway.
                o.null_values = Some(
                    values
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .map(String::into_bytes)
                        .collect(),
                );
            }
            "decimal" => {
                o.decimal = Some(one_char(key, &v)?.ok_or_else(|| bad(key, "must not be None"))?)
            }
            "thousands" => o.thousands = Some(one_char(key, &v)?),
            "date_format" => o.date_format = Some(date_format(key, &v)?),
            "timestamp_format" => o.timestamp_format = Some(date_format(key, &v)?),
            "ragged" => {
                let name: String = v.extract().map_err(|_| bad(key, "expected a string"))?;
                o.ragged = Some(Ragged::parse(&name).ok_or_else(|| {
                    bad(
                        key,
                        format!("expected 'reject', 'pad' or 'truncate', got {name:?}"),
                    )
                })?);
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown dialect option {other:?} (known: {})",
                    DIALECT_KEYS.join(", ")
                )))
            }
        }
    }
    Ok(o)
}

/// The dialect to read `src` in: sniffed (honouring `overrides`) or the defaults with
/// `overrides` applied. Runs without the GIL.
fn resolve(
    src: &std::path::Path,
    overrides: &DialectOverrides,
    auto: bool,
) -> Result<Sniffed, KernelError> {
    if auto {
        return sniffer::sniff_file(src, overrides);
    }
    let dialect = Dialect::default().with(overrides);
    dialect.validate().map_err(KernelError::Invalid)?;
    Ok(Sniffed {
        dialect,
        confidence: 1.0,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn chr(c: Option<u8>) -> Option<String> {
    c.map(|c| char::from(c).to_string())
}

/// A dialect as the mapping `kernels.Dialect` describes.
fn dialect_dict<'py>(py: Python<'py>, d: &Dialect) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("encoding", d.encoding.name().to_ascii_lowercase())?;
    out.set_item("delimiter", text(&d.delimiter))?;
    out.set_item("quote", chr(d.quote))?;
    out.set_item("escape", chr(d.escape))?;
    out.set_item("skip_rows", d.skip_rows)?;
    out.set_item("header_rows", d.header_rows)?;
    out.set_item("comment", d.comment.as_deref().map(text))?;
    out.set_item("skip_footer", d.skip_footer)?;
    out.set_item("trim", d.trim)?;
    let nulls: Vec<String> = d.null_values.iter().map(|v| text(v)).collect();
    out.set_item("null_values", PyList::new(py, &nulls)?)?;
    out.set_item("decimal", char::from(d.values.decimal).to_string())?;
    out.set_item("thousands", chr(d.values.thousands))?;
    out.set_item("date_format", d.values.date.as_ref().map(DateFormat::spec))?;
    out.set_item(
        "timestamp_format",
        d.values.timestamp.as_ref().map(DateFormat::spec),
    )?;
    out.set_item("ragged", d.ragged.name())?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (src, dst, schema, dialect, auto, on_error, rejects, compression, progress, constant_columns=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn csv_to_parquet<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    schema: Option<Bound<'py, PyAny>>,
    dialect: Option<Bound<'py, PyDict>>,
    auto: bool,
    on_error: &str,
    rejects: Option<PathBuf>,
    compression: &str,
    progress: Option<Py<PyAny>>,
    constant_columns: Vec<(String, String)>,
) -> PyResult<Bound<'py, PyDict>> {
    let on_error = match on_error {
        "fail" => OnError::Fail,
        "quarantine" => OnError::Quarantine,
        other => return Err(PyValueError::new_err(format!("unknown on_error {other:?}"))),
    };
    let overrides = parse_overrides(dialect.as_ref())?;
    let failure = Arc::new(Mutex::new(None));
    let schema = parse_schema(schema.as_ref())?;
    let compression = parse_compression(compression)?;
    let hook = progress_hook(progress, Arc::clone(&failure));
    let result = run_detached(py, move || {
        let sniffed = resolve(&src, &overrides, auto)?;
        let options = ConvertOptions {
            dialect: sniffed.dialect.clone(),
            schema,
            on_error,
            rejects,
            compression,
            progress: Some(hook),
            constants: constant_columns,
        };
        csv::csv_to_parquet(&src, &dst, options).map(|stats| (stats, sniffed))
    });
    if let Some(err) = failure.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(err);
    }
    let (stats, sniffed) = result?;
    let out = PyDict::new(py);
    out.set_item("rows", stats.rows)?;
    out.set_item("rejected_rows", stats.rejected_rows)?;
    out.set_item("bytes_read", stats.bytes_read)?;
    out.set_item("bytes_written", stats.bytes_written)?;
    let names: Vec<String> = stats
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    out.set_item("columns", PyList::new(py, &names)?)?;
    let nulls = PyDict::new(py);
    let types = PyDict::new(py);
    for (i, field) in stats.schema.fields().iter().enumerate() {
        nulls.set_item(field.name(), stats.null_counts.get(i).copied().unwrap_or(0))?;
        types.set_item(field.name(), csv::type_name(field.data_type()))?;
    }
    out.set_item("null_counts", nulls)?;
    out.set_item("schema", types)?;
    out.set_item("row_groups", stats.row_groups)?;
    out.set_item("seconds", stats.seconds)?;
    let dialect = dialect_dict(py, &sniffed.dialect)?;
    dialect.set_item("confidence", sniffed.confidence)?;
    out.set_item("dialect", dialect)?;
    out.set_item("dialect_sniffed", auto)?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (src, schema, dialect, auto))]
fn read_csv<'py>(
    py: Python<'py>,
    src: PathBuf,
    schema: Option<Bound<'py, PyAny>>,
    dialect: Option<Bound<'py, PyDict>>,
    auto: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let schema = parse_schema(schema.as_ref())?;
    let overrides = parse_overrides(dialect.as_ref())?;
    let reader = run_detached(py, move || {
        let sniffed = resolve(&src, &overrides, auto)?;
        csv::read_csv(&src, sniffed.dialect, schema)
    })?;
    let boxed: Box<dyn RecordBatchReader + Send> = Box::new(reader);
    boxed.into_pyarrow(py)
}

/// The complete dialect `options` describe over the defaults (ValueError if invalid).
#[pyfunction]
fn check_dialect<'py>(
    py: Python<'py>,
    options: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let overrides = parse_overrides(options.as_ref())?;
    let dialect = Dialect::default().with(&overrides);
    dialect.validate().map_err(PyValueError::new_err)?;
    let out = dialect_dict(py, &dialect)?;
    out.set_item("confidence", 1.0)?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (src, pinned))]
fn sniff<'py>(
    py: Python<'py>,
    src: PathBuf,
    pinned: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let overrides = parse_overrides(pinned.as_ref())?;
    let sniffed = run_detached(py, move || sniffer::sniff_file(&src, &overrides))?;
    let out = dialect_dict(py, &sniffed.dialect)?;
    out.set_item("confidence", sniffed.confidence)?;
    Ok(out)
}

#[pyfunction]
fn analyze_text<'py>(py: Python<'py>, src: PathBuf, top_k: usize) -> PyResult<Bound<'py, PyDict>> {
    let stats = run_detached(py, move || text::analyze_file(&src, top_k))?;
    let out = PyDict::new(py);
    out.set_item("bytes", stats.bytes)?;
    out.set_item("lines", stats.lines)?;
    out.set_item("words", stats.words)?;
    out.set_item("chars", stats.chars)?;
    out.set_item("unique_words", stats.unique_words)?;
    let top = PyList::empty(py);
    for (word, count) in &stats.top_words {
        top.append(PyList::new(
            py,
            [
                word.into_pyobject(py)?.into_any(),
                count.into_pyobject(py)?.into_any(),
            ],
        )?)?;
    }
    out.set_item("top_words", top)?;
    out.set_item("invalid_utf8_bytes", stats.invalid_utf8_bytes)?;
    Ok(out)
}

#[pyfunction]
fn digest(py: Python<'_>, src: PathBuf) -> PyResult<String> {
    run_detached(py, move || content_digest::digest_file(&src))
}

#[pyfunction]
fn binary_kind(py: Python<'_>, src: PathBuf) -> PyResult<Option<String>> {
    run_detached(py, move || {
        crate::sniff::sniff_file(&src).map(|kind| kind.map(str::to_string))
    })
}

/// An incremental BLAKE3 hash, for content that arrives in pieces (an HTTP upload).
/// `digest_file` is the same hash of a whole file.
#[pyclass(module = "aerofs_pipelines._rust_core")]
struct Blake3 {
    hasher: blake3::Hasher,
    length: u64,
}

#[pymethods]
impl Blake3 {
    #[new]
    fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            length: 0,
        }
    }

    /// Hash `data` next; the GIL is released while hashing.
    fn update(&mut self, py: Python<'_>, data: &[u8]) {
        let hasher = &mut self.hasher;
        py.detach(|| {
            hasher.update(data);
        });
        self.length += data.len() as u64;
    }

    /// Bytes hashed so far.
    #[getter]
    fn length(&self) -> u64 {
        self.length
    }

    /// Hex digest of everything hashed so far (64 hex digits); hashing may go on.
    fn hexdigest(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

/// A new file begun by a thread of its own (`begin_file`), without the GIL.
#[pyclass(module = "aerofs_pipelines._rust_core")]
struct BegunFile {
    inner: Option<BegunFileCore>,
}

impl BegunFile {
    fn take(&mut self) -> PyResult<BegunFileCore> {
        self.inner
            .take()
            .ok_or_else(|| PyValueError::new_err("the file was finished or discarded"))
    }
}

#[pymethods]
impl BegunFile {
    /// Bytes begun.
    #[getter]
    fn begun(&self) -> usize {
        self.inner.as_ref().map_or(0, BegunFileCore::begun)
    }

    /// Write the file's `parts` but for the bytes begun, then fsync it; a failure removes it.
    fn finish(&mut self, py: Python<'_>, parts: Vec<PyBackedBytes>) -> PyResult<()> {
        let begun = self.take()?;
        run_detached(py, move || begun.finish(&parts))
    }

    /// Remove the file.
    fn discard(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.inner.take() {
            Some(begun) => run_detached(py, move || begun.discard()),
            None => Ok(()),
        }
    }
}

#[pyfunction]
fn begin_file(py: Python<'_>, path: PathBuf, parts: Vec<PyBackedBytes>) -> PyResult<BegunFile> {
    let begun = run_detached(py, move || BegunFileCore::begin(path, parts))?;
    Ok(BegunFile { inner: Some(begun) })
}

#[pymodule]
fn _rust_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(csv_to_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(read_csv, m)?)?;
    m.add_function(wrap_pyfunction!(sniff, m)?)?;
    m.add_function(wrap_pyfunction!(check_dialect, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_text, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(binary_kind, m)?)?;
    m.add_function(wrap_pyfunction!(begin_file, m)?)?;
    m.add_class::<Blake3>()?;
    m.add_class::<BegunFile>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
