//! Is a file text at all? Recognise compressed, binary and UTF-16 content from its
//! first bytes, so callers refuse it with a clear reason instead of producing garbage.
use std::io::Read;
use std::path::Path;

use crate::error::{KernelError, Result};

/// How many leading bytes [`sniff_file`] reads.
pub const SNIFF_BYTES: usize = 4096;

const MAGICS: &[(&[u8], &str)] = &[
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xfe", "UTF-16LE text (byte order mark FF FE)"),
    (b"\xfe\xff", "UTF-16BE text (byte order mark FE FF)"),
];

/// What the content starting with `head` is when it is not UTF-8 text, else `None`.
///
/// NUL bytes alone do not make a file binary (they are counted in text, quarantined
/// per row in CSV); NUL bytes together with invalid UTF-8 do.
pub fn binary_kind(head: &[u8]) -> Option<&'static str> {
    if let Some((_, what)) = MAGICS.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(what);
    }
    let prefix = &head[..head.len().min(SNIFF_BYTES)];
    if memchr::memchr(0, prefix).is_some() {
        let valid = match std::str::from_utf8(prefix) {
            Ok(_) => true,
            // An incomplete sequence cut by the prefix end is fine.
            Err(e) => e.error_len().is_none(),
        };
        if !valid {
            return Some("binary content (NUL bytes and invalid UTF-8)");
        }
    }
    None
}

/// What to do about content [`binary_kind`] recognised.
pub fn refusal_hint(what: &str) -> &'static str {
    if what.starts_with("UTF-16LE") {
        "read it with encoding utf-16le, or let dialect auto detect it"
    } else if what.starts_with("UTF-16BE") {
        "read it with encoding utf-16be, or let dialect auto detect it"
    } else {
        "decompress or convert it first"
    }
}

/// [`binary_kind`] of the first [`SNIFF_BYTES`] bytes of the file at `path`.
pub fn sniff_file(path: &Path) -> Result<Option<&'static str>> {
    let file = std::fs::File::open(path).map_err(|e| KernelError::io(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    file.take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| KernelError::io(path, e))?;
    Ok(binary_kind(&head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn recognises_compressed_binary_and_utf16() {
        assert_eq!(
            binary_kind(b"\x1f\x8b\x08\x00rest"),
            Some("gzip-compressed data")
        );
        assert!(binary_kind(b"\xff\xfea\x00b\x00").is_some_and(|w| w.starts_with("UTF-16LE")));
        assert_eq!(
            binary_kind(b"ab\x00\xff\xfe\x80"),
            Some("binary content (NUL bytes and invalid UTF-8)")
        );
    }

    #[test]
    fn text_is_text() {
        assert_eq!(binary_kind(b"id,name\n1,caf\xc3\xa9\n"), None);
        assert_eq!(binary_kind(b"a\x00b\n"), None); // NUL in valid UTF-8: text
        assert_eq!(binary_kind(b""), None);
        // A multi-byte sequence cut at the sniff boundary is not "invalid".
        let mut head = vec![b'a'; SNIFF_BYTES - 1];
        head[0] = 0;
        head.push(0xc3);
        assert_eq!(binary_kind(&head), None);
    }

    #[test]
    fn sniff_file_reads_the_head_and_reports_io_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.txt");
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(b"PK\x03\x04zip").expect("write");
        assert_eq!(sniff_file(&path).expect("sniff"), Some("a zip archive"));
        assert!(sniff_file(&dir.path().join("missing")).is_err());
    }
}
