//! AeroFS Pipelines kernels: streaming CSV → Parquet, text statistics, content digests.
//!
//! The pure-Rust API lives in [`csv`], [`text`], [`digest`] and [`file`]; the Python bindings
//! (feature `python`) are a thin layer over it in `python.rs`.
pub mod csv;
pub mod digest;
pub mod error;
pub mod file;
pub mod sniff;
pub mod text;

#[cfg(feature = "python")]
mod python;

pub use error::KernelError;
