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
use pyo3::types::{PyDict, PyList};

use crate::csv::{self, Compression, ConvertOptions, CsvOptions, OnError, Progress};
use crate::error::KernelError;
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

#[pyfunction]
#[pyo3(signature = (src, dst, schema, delimiter, has_header, on_error, rejects, compression, progress))]
#[allow(clippy::too_many_arguments)]
fn csv_to_parquet<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    schema: Option<Bound<'py, PyAny>>,
    delimiter: u8,
    has_header: bool,
    on_error: &str,
    rejects: Option<PathBuf>,
    compression: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let on_error = match on_error {
        "fail" => OnError::Fail,
        "quarantine" => OnError::Quarantine,
        other => return Err(PyValueError::new_err(format!("unknown on_error {other:?}"))),
    };
    let failure = Arc::new(Mutex::new(None));
    let options = ConvertOptions {
        csv: CsvOptions {
            delimiter,
            has_header,
        },
        schema: parse_schema(schema.as_ref())?,
        on_error,
        rejects,
        compression: parse_compression(compression)?,
        progress: Some(progress_hook(progress, Arc::clone(&failure))),
    };
    let result = run_detached(py, move || csv::csv_to_parquet(&src, &dst, options));
    if let Some(err) = failure.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(err);
    }
    let stats = result?;
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
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (src, schema, delimiter, has_header))]
fn read_csv<'py>(
    py: Python<'py>,
    src: PathBuf,
    schema: Option<Bound<'py, PyAny>>,
    delimiter: u8,
    has_header: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let schema = parse_schema(schema.as_ref())?;
    let options = CsvOptions {
        delimiter,
        has_header,
    };
    let reader = run_detached(py, move || csv::read_csv(&src, options, schema))?;
    let boxed: Box<dyn RecordBatchReader + Send> = Box::new(reader);
    boxed.into_pyarrow(py)
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

#[pymodule]
fn _rust_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(csv_to_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(read_csv, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_text, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(binary_kind, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
