//! Splits a CSV file into chunks that end on record boundaries, so that chunks can be
//! tokenized independently and in parallel.
//!
//! Quote state is tracked exactly as csv-core does: a fast path jumps from quote to
//! quote with `memchr` while the file follows RFC 4180 (quotes only open a field or
//! come doubled / closing inside one); at the first irregular quote the scan falls
//! back to a byte-by-byte state machine for the rest of that chunk. Chunks are split
//! only after a `\n` outside quotes.
use std::io::Read;
use std::path::PathBuf;

use super::source::Source;
use crate::error::{KernelError, Result};

const BOM: &[u8] = b"\xef\xbb\xbf";
const QUOTE: u8 = b'"';

/// A run of whole records.
#[derive(Debug)]
pub struct Chunk {
    /// 0-based position of the chunk in the file.
    pub seq: u64,
    pub data: Vec<u8>,
    /// 1-based line number of `data[0]`.
    pub first_line: u64,
    /// File offset of `data[0]`.
    pub offset: u64,
    /// Set on the last chunk when a quoted field is still open at end of file: the
    /// byte offset (in `data`) of its opening quote.
    pub unterminated_quote: Option<usize>,
}

impl Chunk {
    /// 1-based line of byte `pos` of this chunk.
    pub fn line_of(&self, pos: usize) -> u64 {
        let end = pos.min(self.data.len());
        self.first_line + memchr::memchr_iter(b'\n', &self.data[..end]).count() as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StartField,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Reads a file chunk by chunk.
pub struct Chunker {
    path: PathBuf,
    file: Box<dyn Read + Send>,
    delimiter: u8,
    target: usize,
    buf: Vec<u8>,
    eof: bool,
    seq: u64,
    line: u64,
    offset: u64,
    // Scan state of `buf`, which always starts at a record boundary.
    pos: usize,
    exact: Option<State>,
    in_quotes: bool,
    quote_open: usize,
    started: bool,
}

impl Chunker {
    /// Open `source`; chunks aim at `target` bytes (a record longer than that makes a
    /// longer chunk).
    pub fn open(source: &Source, target: usize) -> Result<Self> {
        let file = source.open()?;
        let delimiter = source.delimiter();
        let path = source.path();
        Ok(Chunker {
            path: path.to_path_buf(),
            file,
            delimiter,
            target: target.max(1),
            buf: Vec::new(),
            eof: false,
            seq: 0,
            line: 1,
            offset: 0,
            pos: 0,
            exact: None,
            in_quotes: false,
            quote_open: 0,
            started: false,
        })
    }

    /// Sequence number the next chunk will carry.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    fn fill(&mut self) -> Result<()> {
        let want = self.target.clamp(64 * 1024, 8 * 1024 * 1024);
        self.buf.reserve(want);
        // `take(..).read_to_end` reads into spare capacity without zero-filling it first.
        let n = (&mut self.file)
            .take(want as u64)
            .read_to_end(&mut self.buf)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    // Transcoding found bytes that are not in the file's encoding.
                    KernelError::format(&self.path, None, e.to_string())
                } else {
                    KernelError::io(&self.path, e)
                }
            })?;
        if n == 0 {
            self.eof = true;
        }
        if !self.started && (self.buf.len() >= BOM.len() || self.eof) {
            self.started = true;
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
                self.offset += BOM.len() as u64;
            }
        }
        Ok(())
    }

    /// The next chunk, or `None` at end of file.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        loop {
            if let Some(split) = self.scan() {
                return Ok(Some(self.emit(split, None)));
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let open = self.quote_still_open().then_some(self.quote_open);
                let len = self.buf.len();
                return Ok(Some(self.emit(len, open)));
            }
            self.fill()?;
        }
    }

    fn quote_still_open(&self) -> bool {
        match self.exact {
            Some(state) => state == State::Quoted,
            None => self.in_quotes,
        }
    }

    fn emit(&mut self, split: usize, unterminated_quote: Option<usize>) -> Chunk {
        let rest = self.buf[split..].to_vec();
        let mut data = std::mem::replace(&mut self.buf, rest);
        data.truncate(split);
        let chunk = Chunk {
            seq: self.seq,
            data,
            first_line: self.line,
            offset: self.offset,
            unterminated_quote,
        };
        self.seq += 1;
        self.line += memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
        self.offset += split as u64;
        self.pos = 0;
        self.exact = None;
        self.in_quotes = false;
        chunk
    }

    /// Is `at` (just after a record's `\n`) an acceptable place to split?
    fn can_split_at(&self, at: usize) -> bool {
        // csv-core strips a BOM at the start of its input: never start a chunk with one.
        let tail = &self.buf[at..];
        if tail.len() < BOM.len() {
            return self.eof || tail.is_empty() || !BOM.starts_with(tail);
        }
        !tail.starts_with(BOM)
    }

    /// Scan from `self.pos`; return a split position once one at or past the target exists.
    fn scan(&mut self) -> Option<usize> {
        if self.exact.is_some() {
            return self.scan_exact();
        }
        let len = self.buf.len();
        while self.pos < len {
            if self.in_quotes {
                let Some(k) = memchr::memchr(QUOTE, &self.buf[self.pos..]).map(|i| i + self.pos)
                else {
                    self.pos = len;
                    break;
                };
                match self.buf.get(k + 1).copied() {
                    None if !self.eof => {
                        self.pos = k; // need the next byte to decide
                        return None;
                    }
                    None => {
                        self.in_quotes = false;
                        self.pos = len;
                    }
                    Some(QUOTE) => self.pos = k + 2,
                    Some(b) if b == self.delimiter || b == b'\n' || b == b'\r' => {
                        self.in_quotes = false;
                        self.pos = k + 1;
                    }
                    Some(_) => {
                        // `"abc"x`: csv-core goes on unquoted.
                        self.exact = Some(State::Unquoted);
                        self.pos = k + 2;
                        return self.scan_exact();
                    }
                }
            } else {
                let next_quote = memchr::memchr(QUOTE, &self.buf[self.pos..]).map(|i| i + self.pos);
                let region_end = next_quote.unwrap_or(len);
                let mut from = self.pos.max(self.target.saturating_sub(1));
                while from < region_end {
                    match memchr::memchr(b'\n', &self.buf[from..region_end]) {
                        Some(i) => {
                            let at = from + i + 1;
                            if self.can_split_at(at) {
                                return Some(at);
                            }
                            from = at;
                        }
                        None => break,
                    }
                }
                let Some(q) = next_quote else {
                    self.pos = len;
                    break;
                };
                let at_field_start = q == 0 || {
                    let p = self.buf[q - 1];
                    p == self.delimiter || p == b'\n' || p == b'\r'
                };
                if at_field_start {
                    self.in_quotes = true;
                    self.quote_open = q;
                    self.pos = q + 1;
                } else {
                    // A literal quote inside an unquoted field.
                    self.exact = Some(State::Unquoted);
                    self.pos = q + 1;
                    return self.scan_exact();
                }
            }
        }
        None
    }

    /// Byte-by-byte state machine matching csv-core's quote handling.
    fn scan_exact(&mut self) -> Option<usize> {
        let mut state = self.exact.unwrap_or(State::StartField);
        let d = self.delimiter;
        let len = self.buf.len();
        let mut i = self.pos;
        while i < len {
            let b = self.buf[i];
            state = match state {
                State::StartField | State::Unquoted => {
                    if b == QUOTE && state == State::StartField {
                        self.quote_open = i;
                        State::Quoted
                    } else if b == d || b == b'\r' {
                        State::StartField
                    } else if b == b'\n' {
                        if i + 1 >= self.target && self.can_split_at(i + 1) {
                            self.exact = Some(State::StartField);
                            self.pos = i + 1;
                            return Some(i + 1);
                        }
                        State::StartField
                    } else {
                        State::Unquoted
                    }
                }
                State::Quoted => {
                    if b == QUOTE {
                        State::QuoteInQuoted
                    } else {
                        State::Quoted
                    }
                }
                State::QuoteInQuoted => {
                    if b == QUOTE {
                        State::Quoted
                    } else if b == d || b == b'\r' {
                        State::StartField
                    } else if b == b'\n' {
                        if i + 1 >= self.target && self.can_split_at(i + 1) {
                            self.exact = Some(State::StartField);
                            self.pos = i + 1;
                            return Some(i + 1);
                        }
                        State::StartField
                    } else {
                        State::Unquoted
                    }
                }
            };
            i += 1;
        }
        self.exact = Some(state);
        self.pos = len;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::dialect::Dialect;
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    fn chunks_of(content: &[u8], target: usize) -> Vec<Chunk> {
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(content).expect("write");
        let source = Source::new(f.path(), Arc::new(Dialect::default()));
        let mut c = Chunker::open(&source, target).expect("open");
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().expect("chunk") {
            out.push(ch);
        }
        out
    }

    #[test]
    fn splits_only_outside_quotes() {
        let content = b"a,b\n\"x\ny\",1\n\"p\"\"q\",2\nz,3\n";
        for target in 1..content.len() + 2 {
            let chunks = chunks_of(content, target);
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
            assert_eq!(joined, content.to_vec());
            for c in &chunks {
                assert!(
                    !c.data.starts_with(b"y\""),
                    "split inside quotes at target {target}"
                );
                assert!(c.unterminated_quote.is_none());
            }
        }
    }

    #[test]
    fn irregular_quotes_follow_csv_core() {
        // A literal quote in an unquoted field must not open a quoted section.
        let content = b"a,b\nab\"c,1\nd,2\ne,3\n";
        let chunks = chunks_of(content, 1);
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[1].data, b"ab\"c,1\n");
        assert_eq!(chunks[3].first_line, 4);
    }

    #[test]
    fn bom_is_stripped_and_lines_counted() {
        let chunks = chunks_of(b"\xef\xbb\xbfa\n1\n2\n", 2);
        assert_eq!(chunks[0].data, b"a\n");
        assert_eq!(chunks[0].offset, 3);
        assert_eq!(
            chunks.iter().map(|c| c.first_line).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let chunks = chunks_of(b"a\n1\n\"open\nmore\n", 1);
        let last = chunks.last().expect("chunk");
        assert_eq!(last.unterminated_quote, Some(0));
        assert_eq!(last.line_of(0), 3);
    }
}
