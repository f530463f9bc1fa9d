//! Rewrites any dialect as canonical CSV (UTF-8, `,`, `"` doubled, one header row) so
//! the parallel fast path reads it unchanged. Preamble, comment, blank and extra
//! header lines become empty lines, so every record keeps its line number in errors.
//!
//! Here too: null tokens become empty fields, ragged rows are padded or truncated when
//! asked, a header whose width differs from its data is reconciled (a trailing
//! delimiter, unnamed extra columns) or left for the rows to be rejected, never shifted.
use std::collections::VecDeque;
use std::io::{self, Read};

use super::lexer::{Event, Lexer, Record};
use super::{Dialect, Ragged};
use crate::csv::infer::reconcile_width;

/// Data records read before the header is written, to settle the table's width.
const LOOKAHEAD: usize = 64;
const READ_BYTES: usize = 256 * 1024;

/// Decisions about records, and the canonical text they become.
struct Emitter {
    header_rows: usize,
    skip_footer: usize,
    null_values: Vec<Vec<u8>>,
    ragged: Ragged,
    header: Vec<Record>,
    lookahead: Vec<Record>,
    settled: bool,
    width: usize,
    footer: VecDeque<Record>,
    out_lines: u64,
    scratch: Record,
}

fn needs_quotes(field: &[u8]) -> bool {
    field.first() == Some(&0xEF)
        || field
            .iter()
            .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// Append `rec` as one canonical CSV record (an unterminated quote stays unterminated,
/// so the reader reports it).
fn write_record(out: &mut Vec<u8>, rec: &Record) {
    for i in 0..rec.len() {
        if i > 0 {
            out.push(b',');
        }
        let f = rec.field(i);
        let last_open = rec.unterminated && i + 1 == rec.len();
        // A lone empty field is quoted, or the row would be a blank line.
        let lone_empty = rec.len() == 1 && f.is_empty();
        if last_open || lone_empty || needs_quotes(f) {
            out.push(b'"');
            for &b in f {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            if !last_open {
                out.push(b'"');
            }
        } else {
            out.extend_from_slice(f);
        }
    }
    out.push(b'\n');
}

/// Names of a multi-row header: each column's non-empty cells, top to bottom, joined
/// with a space (a blank group cell adds nothing: no guessing at merged cells).
fn join_header(rows: &[Record], width: usize) -> Record {
    let mut out = Record::default();
    for c in 0..width {
        let mut first = true;
        for row in rows {
            let f = if c < row.len() { row.field(c) } else { b"" };
            if f.is_empty() {
                continue;
            }
            if !first {
                out.data.push(b' ');
            }
            out.data.extend_from_slice(f);
            first = false;
        }
        out.ends.push(out.data.len());
        out.quoted.push(false);
    }
    out
}

fn is_empty_tail(rec: &Record, from: usize) -> bool {
    (from..rec.len()).all(|i| rec.field(i).is_empty())
}

impl Emitter {
    fn new(d: &Dialect) -> Self {
        Emitter {
            header_rows: d.header_rows,
            skip_footer: d.skip_footer,
            null_values: d.null_values.clone(),
            ragged: d.ragged,
            header: Vec::new(),
            lookahead: Vec::new(),
            settled: false,
            width: 0,
            footer: VecDeque::new(),
            out_lines: 0,
            scratch: Record::default(),
        }
    }

    fn on_event(&mut self, e: Event<'_>, out: &mut Vec<u8>) {
        let Event::Record(rec) = e else {
            return; // skipped lines are restored as padding before the next record
        };
        if self.header.len() < self.header_rows {
            self.header.push(rec.clone());
        } else if !self.settled {
            self.lookahead.push(rec.clone());
            if self.lookahead.len() >= LOOKAHEAD + self.skip_footer {
                self.settle(out, false);
            }
        } else {
            self.scratch.clone_from(rec);
            let mut r = std::mem::take(&mut self.scratch);
            self.data(&mut r, out);
            self.scratch = r;
        }
    }

    /// Width of the table from the header and the first data rows; write the header.
    fn settle(&mut self, out: &mut Vec<u8>, at_eof: bool) {
        self.settled = true;
        // At the end of the input the last records are the footer: they have no say.
        let data_end = if at_eof {
            self.lookahead.len().saturating_sub(self.skip_footer)
        } else {
            self.lookahead.len()
        };
        let data = &self.lookahead[..data_end];
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for r in data {
            match counts.iter_mut().find(|(w, _)| *w == r.len()) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.len(), 1)),
            }
        }
        let data_width = counts.iter().max_by_key(|(w, n)| (*n, *w)).map(|(w, _)| *w);
        if self.header_rows == 0 {
            self.width = data_width.unwrap_or(0);
        } else {
            let header_width = self.header.iter().map(Record::len).max().unwrap_or(0);
            let mut header = join_header(&self.header, header_width);
            let named = (0..header.len())
                .rposition(|c| !header.field(c).is_empty())
                .map_or(0, |c| c + 1);
            let rows: Vec<(usize, usize)> = data
                .iter()
                .map(|r| {
                    let used = (0..r.len()).rposition(|c| !r.field(c).is_empty());
                    (r.len(), used.map_or(0, |c| c + 1))
                })
                .collect();
            let width = reconcile_width(header_width, named, &rows);
            header.truncate(width);
            while header.len() < width {
                header.push_empty();
            }
            self.width = width;
            if let Some(first) = self.header.first() {
                header.first_line = first.first_line;
            }
            write_record(out, &header);
            self.out_lines = 1 + header.inner_newlines;
        }
        for mut r in std::mem::take(&mut self.lookahead) {
            self.data(&mut r, out);
        }
    }

    fn data(&mut self, rec: &mut Record, out: &mut Vec<u8>) {
        if !self.null_values.is_empty() {
            for i in 0..rec.len() {
                if self.null_values.iter().any(|n| n == rec.field(i)) {
                    rec.clear_field(i);
                }
            }
        }
        let w = self.width;
        if rec.len() > w && is_empty_tail(rec, w) {
            rec.truncate(w);
        }
        match self.ragged {
            Ragged::Pad => {
                while rec.len() < w {
                    rec.push_empty();
                }
            }
            Ragged::Truncate => rec.truncate(w),
            Ragged::Reject => {}
        }
        if self.skip_footer == 0 {
            self.write(rec, out);
            return;
        }
        self.footer.push_back(rec.clone());
        if self.footer.len() > self.skip_footer {
            if let Some(r) = self.footer.pop_front() {
                self.write(&r, out);
            }
        }
    }

    fn write(&mut self, rec: &Record, out: &mut Vec<u8>) {
        while self.out_lines + 1 < rec.first_line {
            out.push(b'\n');
            self.out_lines += 1;
        }
        write_record(out, rec);
        self.out_lines += 1 + rec.inner_newlines;
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.settled {
            if self.header.is_empty() && self.lookahead.is_empty() {
                return; // nothing at all: an empty table
            }
            self.settle(out, true);
        }
        self.footer.clear(); // the footer lines are not table rows
    }
}

/// A reader of canonical CSV made from UTF-8 text in any dialect.
pub struct Normalizer<R> {
    inner: R,
    lexer: Lexer,
    emitter: Emitter,
    input: Vec<u8>,
    in_len: usize,
    eof: bool,
    out: Vec<u8>,
    out_pos: usize,
    started: bool,
}

const BOM: &[u8] = b"\xef\xbb\xbf";

impl<R: Read> Normalizer<R> {
    pub fn new(inner: R, dialect: &Dialect) -> Self {
        Normalizer {
            inner,
            lexer: Lexer::new(dialect.lex_options()),
            emitter: Emitter::new(dialect),
            input: Vec::with_capacity(READ_BYTES),
            in_len: 0,
            eof: false,
            out: Vec::with_capacity(READ_BYTES * 2),
            out_pos: 0,
            started: false,
        }
    }
}

impl<R: Read> Read for Normalizer<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = dst.len().min(self.out.len() - self.out_pos);
                dst[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            self.out.clear();
            self.out_pos = 0;
            if self.eof {
                return Ok(0);
            }
            self.input.resize(self.in_len + READ_BYTES, 0);
            let n = self.inner.read(&mut self.input[self.in_len..])?;
            let mut len = self.in_len + n;
            let eof = n == 0;
            if !self.started && (len >= BOM.len() || eof) {
                self.started = true;
                if self.input[..len].starts_with(BOM) {
                    self.input.copy_within(BOM.len()..len, 0);
                    len -= BOM.len();
                }
            }
            if !self.started {
                self.in_len = len;
                continue;
            }
            let Normalizer {
                lexer,
                emitter,
                out,
                input,
                ..
            } = self;
            let used = lexer.feed(&input[..len], eof, &mut |e| emitter.on_event(e, out));
            input.copy_within(used..len, 0);
            self.in_len = len - used;
            if eof {
                emitter.finish(out);
                self.eof = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(text: &str, d: &Dialect) -> String {
        let mut out = String::new();
        Normalizer::new(text.as_bytes(), d)
            .read_to_string(&mut out)
            .expect("normalize");
        out
    }

    #[test]
    fn preamble_comments_and_multi_row_headers_keep_line_numbers() {
        let d = Dialect {
            delimiter: b";".to_vec(),
            skip_rows: 2,
            header_rows: 2,
            comment: Some(b"#".to_vec()),
            ..Dialect::default()
        };
        let text = "Sales report\n\nregion;2024;;2025\n;q1;q2;q1\n# north first\nnorth;1;2;3\n\nsouth;4;5;6\n";
        assert_eq!(
            normalize(text, &d),
            "region,2024 q1,q2,2025 q1\n\n\n\n\nnorth,1,2,3\n\nsouth,4,5,6\n"
        );
    }

    #[test]
    fn nulls_footer_ragged_and_quoting() {
        let d = Dialect {
            delimiter: b"|".to_vec(),
            quote: Some(b'\''),
            escape: Some(b'\\'),
            null_values: vec![b"NA".to_vec()],
            skip_footer: 1,
            ragged: Ragged::Pad,
            ..Dialect::default()
        };
        let text = "a|b|c\n'x, \"y\"'|NA|1\n'it\\'s'\nTotal: 2 rows\n";
        assert_eq!(normalize(text, &d), "a,b,c\n\"x, \"\"y\"\"\",,1\nit's,,\n");
    }

    #[test]
    fn header_width_is_reconciled_not_shifted() {
        let d = Dialect {
            trim: true,
            ..Dialect::default()
        };
        // A trailing delimiter on every data row: the empty field is dropped.
        assert_eq!(normalize("a,b\n1,2,\n3,4,\n", &d), "a,b\n1,2\n3,4\n");
        // Data with an unnamed extra column: the header gets a (positional) name.
        assert_eq!(normalize("a,b\n1,2,x\n3,4,y\n", &d), "a,b,\n1,2,x\n3,4,y\n");
        // Empty trailing header names are dropped.
        assert_eq!(normalize("a,b,,\n1,2\n3,4\n", &d), "a,b\n1,2\n3,4\n");
        // A named header wider than the data: rows stay short (and are rejected later).
        assert_eq!(normalize("a,b,c\n1,2\n", &d), "a,b,c\n1,2\n");
        assert_eq!(normalize("", &d), "");
        assert_eq!(normalize("a,b\n", &d), "a,b\n");
    }

    #[test]
    fn unterminated_quote_stays_unterminated() {
        let d = Dialect {
            trim: true,
            ..Dialect::default()
        };
        assert_eq!(normalize("a,b\n1,\"open\n", &d), "a,b\n1,\"open\n\n");
    }
}
