//! The one error type every kernel returns.
use std::fmt;
use std::path::{Path, PathBuf};

/// Where in an input file a problem was found (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: u64,
    /// 1-based field (CSV) or character (text) column.
    pub column: u64,
    /// Name of the CSV column, when known.
    pub column_name: Option<String>,
}

/// Errors raised by the kernels. None of them is a panic.
#[derive(Debug)]
pub enum KernelError {
    /// The file could not be opened, read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The content is malformed at a known place.
    Format {
        path: PathBuf,
        location: Option<Location>,
        reason: String,
    },
    /// A bad argument (unknown option value, schema mismatch, ...).
    Invalid(String),
    /// A bug: a worker thread panicked or an invariant broke. Never expected.
    Internal(String),
}

impl KernelError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        KernelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn format(path: &Path, location: Option<Location>, reason: impl Into<String>) -> Self {
        KernelError::Format {
            path: path.to_path_buf(),
            location,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            KernelError::Format {
                path,
                location: Some(loc),
                reason,
            } => {
                write!(
                    f,
                    "{}:{}:{}: {}",
                    path.display(),
                    loc.line,
                    loc.column,
                    reason
                )?;
                if let Some(name) = &loc.column_name {
                    write!(f, " (column {name:?})")?;
                }
                Ok(())
            }
            KernelError::Format {
                path,
                location: None,
                reason,
            } => {
                write!(f, "{}: {}", path.display(), reason)
            }
            KernelError::Invalid(msg) => f.write_str(msg),
            KernelError::Internal(msg) => write!(f, "internal error (please report): {msg}"),
        }
    }
}

impl std::error::Error for KernelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KernelError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, KernelError>;
