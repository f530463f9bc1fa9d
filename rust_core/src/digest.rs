//! Streaming content digest (BLAKE3, memory-mapped and multi-threaded for large files).
use std::path::Path;

use crate::error::{KernelError, Result};

/// Hex BLAKE3 digest (64 hex digits) of a file's bytes.
pub fn digest_file(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| KernelError::io(path, e))?;
    if meta.is_dir() {
        return Err(KernelError::io(
            path,
            std::io::Error::from(std::io::ErrorKind::IsADirectory),
        ));
    }
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap_rayon(path)
        .map_err(|e| KernelError::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn digest_matches_blake3_of_bytes() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(b"hello world").expect("write");
        let hex = digest_file(f.path()).expect("digest");
        assert_eq!(hex, blake3::hash(b"hello world").to_hex().to_string());
    }

    #[test]
    fn missing_file_is_io_error() {
        let err = digest_file(Path::new("/nonexistent/x")).unwrap_err();
        assert!(matches!(err, KernelError::Io { .. }));
    }

    #[test]
    fn directory_is_io_error() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(matches!(
            digest_file(dir.path()).unwrap_err(),
            KernelError::Io { .. }
        ));
    }
}
