//! The bytes the parallel pass reads: the file itself when its dialect is canonical
//! enough for the fast tokenizer, else the file transcoded and/or normalized.
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dialect::decode::DecodeReader;
use super::dialect::normalize::Normalizer;
use super::dialect::Dialect;
use crate::error::{KernelError, Result};

/// A file and the dialect to read it in.
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    dialect: Arc<Dialect>,
}

impl Source {
    pub fn new(path: &Path, dialect: Arc<Dialect>) -> Self {
        Source {
            path: path.to_path_buf(),
            dialect,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// The delimiter of the bytes [`Source::open`] yields.
    pub fn delimiter(&self) -> u8 {
        if self.dialect.needs_lexer() {
            b','
        } else {
            self.dialect.delimiter.first().copied().unwrap_or(b',')
        }
    }

    /// Does the text [`Source::open`] yields start with a header row?
    pub fn has_header(&self) -> bool {
        self.dialect.header_rows > 0
    }

    /// Is the text the file's own bytes (no transcoding, no normalizing)?
    pub fn is_raw(&self) -> bool {
        self.dialect.is_utf8() && !self.dialect.needs_lexer()
    }

    /// Open the file as canonical-enough CSV text.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        let file = File::open(&self.path).map_err(|e| KernelError::io(&self.path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| KernelError::io(&self.path, e))?;
        if meta.is_dir() {
            return Err(KernelError::io(
                &self.path,
                std::io::Error::from(std::io::ErrorKind::IsADirectory),
            ));
        }
        let d = &self.dialect;
        Ok(match (d.is_utf8(), d.needs_lexer()) {
            (true, false) => Box::new(file),
            (false, false) => Box::new(DecodeReader::new(file, d.encoding)),
            // UTF-8 is passed on as it is: a bad byte is reported in its row and column.
            (true, true) => Box::new(Normalizer::new(file, d)),
            (false, true) => Box::new(Normalizer::new(DecodeReader::new(file, d.encoding), d)),
        })
    }
}
