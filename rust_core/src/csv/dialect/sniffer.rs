//! Decide a file's dialect from a bounded sample (its head, and its tail for the
//! footer): encoding, delimiter, quote, escape, preamble, comment lines, header rows,
//! footer, null tokens, number and date syntax, with a confidence.
//!
//! Delimiter, quote and escape are chosen like CleverCSV: every plausible candidate
//! tokenizes the sample and is scored by how consistent its record widths are
//! (pattern score) times how many cells then look like typed values (type score).
//! What the caller fixed is not sniffed, and constrains the rest.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use encoding_rs::Encoding;

use super::formats::{DateFormat, ValueFormat};
use super::lexer::{lex_all, LexOptions, Record};
use super::{Dialect, DialectOverrides, Ragged};
use crate::csv::values;
use crate::error::{KernelError, Result};
use crate::sniff::{binary_kind, refusal_hint};

/// Bytes of the head that are sniffed.
pub const HEAD_BYTES: usize = 64 * 1024;
/// Bytes of the tail read for the footer of files larger than the head.
pub const TAIL_BYTES: usize = 16 * 1024;
/// Bytes of the head over which delimiter candidates compete.
const CANDIDATE_BYTES: usize = 24 * 1024;
/// Records over which delimiter candidates compete.
const CANDIDATE_RECORDS: usize = 200;
/// Records whose values decide types, null tokens, number and date syntax.
const VALUE_RECORDS: usize = 500;

/// A sniffed dialect and how sure the sniffer is (0-1).
#[derive(Debug, Clone)]
pub struct Sniffed {
    pub dialect: Dialect,
    pub confidence: f64,
}

const DELIMITERS: &[&[u8]] = &[
    b",", b";", b"\t", b"|", b":", b", ", b"; ", b"||", b";;", b"::", b"\t\t",
];
const NULL_TOKENS: &[&[u8]] = &[
    b"NA", b"N/A", b"n/a", b"NULL", b"null", b"Null", b"-", b"--", b"?", b"#N/A", b"None", b"none",
    b"nil", b"(null)",
];
/// Date formats tried on columns that are not ISO-8601, day-first variants first.
const DATE_FORMATS: &[&str] = &[
    "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%y",
    "%d/%m/%y", "%m/%d/%y", "%d-%b-%Y", "%d %b %Y", "%b %d %Y",
];
const TIME_SUFFIXES: &[&str] = &[
    " %H:%M:%S",
    " %H:%M",
    " %H:%M:%S.%f",
    " %I:%M:%S %p",
    " %I:%M %p",
];

/// Sniff the file at `path`, honouring the fields `fixed` pins.
pub fn sniff_file(path: &Path, fixed: &DialectOverrides) -> Result<Sniffed> {
    let mut file = File::open(path).map_err(|e| KernelError::io(path, e))?;
    let meta = file.metadata().map_err(|e| KernelError::io(path, e))?;
    if meta.is_dir() {
        return Err(KernelError::io(
            path,
            std::io::Error::from(std::io::ErrorKind::IsADirectory),
        ));
    }
    let size = meta.len();
    let mut head = Vec::with_capacity(HEAD_BYTES.min(size as usize));
    (&mut file)
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| KernelError::io(path, e))?;
    let whole = head.len() as u64 >= size;
    let tail = if whole {
        None
    } else {
        let from = size
            .saturating_sub(TAIL_BYTES as u64)
            .max(head.len() as u64);
        // Keep UTF-16 code units aligned.
        let from = from + (from % 2);
        file.seek(SeekFrom::Start(from))
            .map_err(|e| KernelError::io(path, e))?;
        let mut tail = Vec::with_capacity(TAIL_BYTES);
        file.take(TAIL_BYTES as u64)
            .read_to_end(&mut tail)
            .map_err(|e| KernelError::io(path, e))?;
        Some(tail)
    };
    sniff_bytes(&head, tail.as_deref(), whole, fixed)
        .map_err(|reason| KernelError::format(path, None, reason))
}

/// Sniff a sample: `head` (the whole file when `whole`) and optionally the file's tail.
pub fn sniff_bytes(
    head: &[u8],
    tail: Option<&[u8]>,
    whole: bool,
    fixed: &DialectOverrides,
) -> std::result::Result<Sniffed, String> {
    let (encoding, enc_confidence) = match fixed.encoding {
        Some(e) => (e, 1.0),
        None => sniff_encoding(head, whole)?,
    };
    let mut text = decode(head, encoding, whole)?;
    if !whole {
        // The sample ends mid-line: keep whole lines only.
        if let Some(k) = text.iter().rposition(|&b| b == b'\n') {
            text.truncate(k + 1);
        }
    }
    let base = Dialect {
        encoding,
        ..Dialect::default()
    };
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        // Empty or blank: nothing to decide; an empty table.
        return Ok(Sniffed {
            dialect: base.with(fixed),
            confidence: enc_confidence,
        });
    }
    let comment = match &fixed.comment {
        Some(c) => c.clone(),
        None => sniff_comment(&text),
    };
    let (lex, margin) = choose_tokenizing(&text, fixed, comment.clone());
    let records = lex_all(&text, &lex);
    let mut shape = Shape::of(&records, fixed);
    let tail_records = tail.and_then(|t| tail_records(t, encoding, &lex));
    let mut values = sniff_values(&records, &shape, 0, fixed, &lex);
    shape.settle_header(&records, &values, fixed);
    if shape.header_rows > 0 {
        // Again without the header rows: a small table's types are clearer.
        values = sniff_values(&records, &shape, shape.header_rows, fixed, &lex);
    }
    let footer = match fixed.skip_footer {
        Some(n) => n,
        None => shape.footer(tail_records.as_deref().unwrap_or(&records), &values),
    };
    let body_end = if tail_records.is_none() {
        records.len().saturating_sub(footer)
    } else {
        records.len()
    };
    let body = &records[(shape.start + shape.header_rows).min(body_end)..body_end];
    let null_values = match &fixed.null_values {
        Some(n) => n.clone(),
        None => values.null_tokens.clone(),
    };
    let trim = fixed.trim.unwrap_or_else(|| needs_trim(body));
    let ragged = fixed.ragged.unwrap_or_else(|| {
        if body.iter().any(|r| r.len() < shape.width) {
            Ragged::Pad
        } else {
            Ragged::Reject
        }
    });
    let skip_rows = match fixed.skip_rows {
        Some(n) => n,
        None => records
            .get(shape.start)
            .map_or(0, |r| (r.first_line - 1) as usize),
    };
    let dialect = Dialect {
        encoding,
        delimiter: lex.delimiter.clone(),
        quote: lex.quote,
        escape: lex.escape,
        skip_rows,
        header_rows: shape.header_rows,
        comment,
        skip_footer: footer,
        trim,
        null_values,
        ragged,
        values: values.format.clone(),
    };
    let consistent = if body.is_empty() {
        1.0
    } else {
        body.iter().filter(|r| r.len() == shape.width).count() as f64 / body.len() as f64
    };
    let confidence = enc_confidence * (0.6 + 0.4 * margin) * (0.5 + 0.5 * consistent);
    Ok(Sniffed {
        dialect,
        confidence: (confidence * 100.0).round() / 100.0,
    })
}

/// Encoding and confidence: a byte order mark, UTF-16 by its NUL pattern, valid UTF-8,
/// else the guess of chardetng if the text it gives looks like text.
fn sniff_encoding(
    head: &[u8],
    whole: bool,
) -> std::result::Result<(&'static Encoding, f64), String> {
    if head.starts_with(b"\xef\xbb\xbf") {
        return Ok((encoding_rs::UTF_8, 1.0));
    }
    if head.starts_with(b"\xff\xfe") {
        return Ok((encoding_rs::UTF_16LE, 1.0));
    }
    if head.starts_with(b"\xfe\xff") {
        return Ok((encoding_rs::UTF_16BE, 1.0));
    }
    if let Some(what) = binary_kind(head) {
        return Err(format!(
            "this is {what}, not CSV text ({})",
            refusal_hint(what)
        ));
    }
    let probe = &head[..head.len().min(4096)];
    let (even, odd) = probe
        .iter()
        .enumerate()
        .fold((0usize, 0usize), |(e, o), (i, &b)| {
            if b != 0 {
                (e, o)
            } else if i % 2 == 0 {
                (e + 1, o)
            } else {
                (e, o + 1)
            }
        });
    let half = probe.len() / 2;
    if half > 0 && odd * 10 > half * 3 && even * 20 < half {
        return Ok((encoding_rs::UTF_16LE, 0.9));
    }
    if half > 0 && even * 10 > half * 3 && odd * 20 < half {
        return Ok((encoding_rs::UTF_16BE, 0.9));
    }
    match std::str::from_utf8(head) {
        Ok(_) => return Ok((encoding_rs::UTF_8, 1.0)),
        Err(e) if e.error_len().is_none() && !whole => return Ok((encoding_rs::UTF_8, 1.0)),
        Err(_) => {}
    }
    if mixed_utf8(head) {
        return Err(format!(
            "undecidable encoding: part of the bytes are UTF-8 and part are not (first bad byte \
             at offset {}): a file of mixed encodings; pass encoding=... to read it anyway",
            std::str::from_utf8(head)
                .err()
                .map_or(0, |e| e.valid_up_to())
        ));
    }
    if let Some(at) = head
        .windows(2)
        .position(|w| w == b"\xff\xfe" || w == b"\xfe\xff")
    {
        // a UTF-16 byte order mark inside the text: pieces of different encodings, or
        // bytes that are not text; no code page guess would be anything but mojibake
        return Err(format!(
            "undecidable encoding: the bytes are not UTF-8 and hold a UTF-16 byte order \
             mark at offset {at}, inside the text: a file of mixed encodings; pass \
             encoding=... to read it anyway"
        ));
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(head, whole);
    let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
    let text = decode(head, guess, whole).map_err(|_| undecidable(head, guess))?;
    let text = String::from_utf8_lossy(&text);
    let non_ascii: Vec<char> = text.chars().filter(|c| !c.is_ascii()).collect();
    let plausible = non_ascii.iter().filter(|&&c| plausible_char(c)).count();
    let controls = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        .count();
    if non_ascii.is_empty() || controls > 0 || (plausible as f64) < 0.9 * non_ascii.len() as f64 {
        return Err(undecidable(head, guess));
    }
    Ok((guess, 0.8))
}

/// Valid multi-byte UTF-8 sequences beside bytes that are not UTF-8: two encodings.
fn mixed_utf8(head: &[u8]) -> bool {
    let mut rest = head;
    let mut valid_multibyte = 0usize;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid_multibyte += s.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                valid_multibyte += std::str::from_utf8(good)
                    .map_or(0, |s| s.chars().filter(|c| !c.is_ascii()).count());
                match e.error_len() {
                    Some(n) => rest = &after[n..],
                    None => break,
                }
            }
        }
    }
    valid_multibyte >= 2
}

fn undecidable(head: &[u8], guess: &'static Encoding) -> String {
    let bad = std::str::from_utf8(head)
        .err()
        .map_or(0, |e| e.valid_up_to());
    format!(
        "undecidable encoding: the bytes are not UTF-8 (first bad byte at offset {bad}) and no \
         single-byte code page reads them as plausible text (best guess {}); pass encoding=...",
        guess.name()
    )
}

/// Characters that real text in a single-byte code page is made of.
fn plausible_char(c: char) -> bool {
    c.is_alphabetic()
        || matches!(
            c,
            '€' | '£'
                | '¥'
                | '°'
                | '§'
                | '±'
                | '²'
                | '³'
                | 'µ'
                | '·'
                | '«'
                | '»'
                | '–'
                | '—'
                | '‘'
                | '’'
                | '‚'
                | '“'
                | '”'
                | '„'
                | '…'
                | '•'
                | '×'
                | '÷'
                | '¼'
                | '½'
                | '¾'
                | '©'
                | '®'
                | '™'
                | '\u{a0}'
                | '¡'
                | '¿'
                | '¢'
                | '¤'
                | '¦'
                | '¨'
                | '¬'
                | '¯'
                | '´'
                | '¸'
                | '¹'
                | 'º'
                | 'ª'
                | '†'
                | '‡'
                | '‰'
                | '‹'
                | '›'
        )
}

fn decode(
    bytes: &[u8],
    encoding: &'static Encoding,
    whole: bool,
) -> std::result::Result<Vec<u8>, String> {
    if encoding == encoding_rs::UTF_8 {
        // UTF-8 goes on as it is (bad bytes are reported per value later).
        let start = if bytes.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        return Ok(bytes[start..].to_vec());
    }
    match super::decode::decode_sample(bytes, encoding, whole) {
        Ok(s) => Ok(s.into_bytes()),
        Err(at) => Err(format!(
            "bytes at offset {at} are not valid {} (wrong encoding?)",
            encoding.name()
        )),
    }
}

/// `#` starts comment lines when some lines start with it but most do not.
fn sniff_comment(text: &[u8]) -> Option<Vec<u8>> {
    let mut lines = 0usize;
    let mut hashes = 0usize;
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        if line.starts_with(b"#") {
            hashes += 1;
        }
    }
    (hashes > 0 && hashes * 2 < lines).then(|| b"#".to_vec())
}

/// Widths of records as (width, count), most frequent first.
fn width_counts<'a>(records: impl Iterator<Item = &'a Record>) -> Vec<(usize, usize)> {
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for r in records {
        match counts.iter_mut().find(|(w, _)| *w == r.len()) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.len(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    counts
}

/// Does a cell look like a value of a known type (or nothing)?
fn is_typed(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    if v.is_empty() || NULL_TOKENS.contains(&v) || values::parse_bool(v).is_some() {
        return true;
    }
    if values::parse_f64(v).is_some() || values::parse_timestamp(v).is_some() {
        return true;
    }
    // Numbers and dates in other syntaxes: digits with separators.
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    digits > 0
        && v.iter().all(|&b| {
            b.is_ascii_digit() || matches!(b, b'.' | b',' | b'-' | b'/' | b':' | b' ' | b'+' | b'%')
        })
        && digits * 2 >= v.len()
}

/// CleverCSV's data consistency: pattern score times type score.
fn consistency(records: &[Record]) -> f64 {
    if records.is_empty() {
        return 0.0;
    }
    let counts = width_counts(records.iter());
    let pattern: f64 = counts
        .iter()
        .map(|&(w, n)| n as f64 * (w.max(1) - 1) as f64 / w.max(1) as f64)
        .sum::<f64>()
        / counts.len() as f64;
    let mut cells = 0usize;
    let mut typed = 0usize;
    for r in records {
        for f in r.fields() {
            cells += 1;
            typed += usize::from(is_typed(f));
        }
    }
    let type_score = if cells == 0 {
        0.0
    } else {
        typed as f64 / cells as f64
    };
    let unterminated = records.iter().any(|r| r.unterminated);
    let irregular = records.iter().filter(|r| r.irregular).count() as f64 / records.len() as f64;
    let penalty = if unterminated { 0.1 } else { 1.0 } * (1.0 - 0.9 * irregular);
    pattern * (0.1 + type_score) * penalty
}

/// Choose delimiter, quote and escape; also returns the margin (0-1) of the winner.
fn choose_tokenizing(
    text: &[u8],
    fixed: &DialectOverrides,
    comment: Option<Vec<u8>>,
) -> (LexOptions, f64) {
    let sample = candidate_sample(text);
    let delimiters: Vec<Vec<u8>> = match &fixed.delimiter {
        Some(d) => vec![d.clone()],
        None => DELIMITERS
            .iter()
            .filter(|d| memchr::memmem::find(sample, d).is_some())
            .map(|d| d.to_vec())
            .collect(),
    };
    let quotes: Vec<Option<u8>> = match fixed.quote {
        Some(q) => vec![q],
        None => {
            let mut q = vec![Some(b'"')];
            if memchr::memchr(b'\'', sample).is_some() {
                q.push(Some(b'\''));
            }
            if memchr::memchr(b'"', sample).is_some() {
                q.push(None);
            }
            q
        }
    };
    let escapes: Vec<Option<u8>> = match fixed.escape {
        Some(e) => vec![e],
        None => {
            let mut e = vec![None];
            if memchr::memmem::find(sample, b"\\\"").is_some()
                || memchr::memmem::find(sample, b"\\'").is_some()
            {
                e.push(Some(b'\\'));
            }
            e
        }
    };
    let mut scored: Vec<(f64, LexOptions)> = Vec::new();
    for d in &delimiters {
        for &q in &quotes {
            for &e in &escapes {
                if q.is_none() && e.is_some() {
                    continue;
                }
                if q.is_some_and(|q| d.contains(&q)) {
                    continue;
                }
                let opts = LexOptions {
                    delimiter: d.clone(),
                    quote: q,
                    escape: e,
                    comment: comment.clone(),
                    trim: false,
                    skip_rows: 0,
                };
                let mut records = lex_all(sample, &opts);
                records.truncate(CANDIDATE_RECORDS);
                scored.push((consistency(&records), opts));
            }
        }
    }
    let default = LexOptions {
        delimiter: fixed.delimiter.clone().unwrap_or_else(|| b",".to_vec()),
        quote: fixed.quote.unwrap_or(Some(b'"')),
        escape: fixed.escape.unwrap_or(None),
        comment,
        trim: false,
        skip_rows: 0,
    };
    if scored.is_empty() {
        return (default, 0.0);
    }
    // Stable: on equal scores the earlier (more common) candidate wins.
    let mut best = 0;
    for (i, (s, _)) in scored.iter().enumerate() {
        if *s > scored[best].0 * (1.0 + 1e-9) {
            best = i;
        }
    }
    let best_score = scored[best].0;
    let mut winner = scored[best].1.clone();
    // A delimiter made of a repeated or padded one (";;", ", ") beats its parts when
    // it accounts for every occurrence of them.
    for (score, opts) in &scored {
        if opts.delimiter.len() > 1
            && opts.quote == winner.quote
            && opts.escape == winner.escape
            && opts.delimiter.starts_with(&winner.delimiter)
            && *score > 0.0
            && composite_explains(sample, opts)
        {
            winner = opts.clone();
        }
    }
    let runner_up = scored
        .iter()
        .filter(|(_, o)| o.delimiter != winner.delimiter)
        .map(|(s, _)| *s)
        .fold(0.0f64, f64::max);
    let margin = if best_score > 0.0 {
        ((best_score - runner_up) / best_score).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (winner, margin)
}

/// With `opts`, no unquoted field holds the first byte of the delimiter, and rows have
/// more than one field: the longer delimiter is the real one.
fn composite_explains(sample: &[u8], opts: &LexOptions) -> bool {
    let first = opts.delimiter[0];
    let records = lex_all(sample, opts);
    let counts = width_counts(records.iter());
    if counts.first().is_none_or(|&(w, _)| w < 2) {
        return false;
    }
    records
        .iter()
        .all(|r| (0..r.len()).all(|i| r.quoted[i] || !r.field(i).contains(&first)))
}

/// The first [`CANDIDATE_BYTES`] of `text`, cut after a line break.
fn candidate_sample(text: &[u8]) -> &[u8] {
    if text.len() <= CANDIDATE_BYTES {
        return text;
    }
    match text[..CANDIDATE_BYTES].iter().rposition(|&b| b == b'\n') {
        Some(k) => &text[..=k],
        None => text,
    }
}

/// Records of the file's tail (its first, probably partial, line dropped).
fn tail_records(tail: &[u8], encoding: &'static Encoding, lex: &LexOptions) -> Option<Vec<Record>> {
    let text = decode(tail, encoding, true).ok()?;
    let k = text.iter().position(|&b| b == b'\n')?;
    let opts = LexOptions {
        skip_rows: 0,
        ..lex.clone()
    };
    Some(lex_all(&text[k + 1..], &opts))
}

/// Column syntax found in the body: number and date formats, null tokens, types.
struct Values {
    format: ValueFormat,
    null_tokens: Vec<Vec<u8>>,
    /// Per column: the type its non-null sample values share, if any.
    kinds: Vec<Option<Kind>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Number,
    Date,
}

fn kind_of(v: &[u8], f: &ValueFormat) -> Option<Kind> {
    if values::parse_bool(v).is_some() {
        Some(Kind::Bool)
    } else if f.parse_f64(v).is_some() {
        Some(Kind::Number)
    } else if f.parse_timestamp(v).is_some() {
        Some(Kind::Date)
    } else {
        None
    }
}

/// Where the table is in the sample records.
struct Shape {
    /// Index of the first table record (header or data).
    start: usize,
    width: usize,
    header_rows: usize,
}

impl Shape {
    fn of(records: &[Record], fixed: &DialectOverrides) -> Shape {
        let counts = width_counts(records.iter());
        // The most common width, unless the header (the first row of several fields) and
        // some rows are one field wider: then the others are ragged short rows.
        let common = counts.iter().find(|&&(w, _)| w >= 2).map(|&(w, _)| w);
        let first = records.iter().find(|r| r.len() >= 2).map(Record::len);
        let wider = common.and_then(|c| {
            let n = counts
                .iter()
                .find(|&&(w, _)| w == c + 1)
                .map_or(0, |&(_, n)| n);
            (first == Some(c + 1) && n >= 2).then_some(c + 1)
        });
        let width = wider
            .or(common)
            .or(counts.first().map(|&(w, _)| w))
            .unwrap_or(1);
        let start = match fixed.skip_rows {
            Some(n) => records
                .iter()
                .position(|r| r.first_line > n as u64)
                .unwrap_or(records.len()),
            None => first_run(records, width),
        };
        Shape {
            start,
            width,
            header_rows: fixed.header_rows.unwrap_or(1),
        }
    }

    /// Header rows: the rows at the top whose cells do not fit their column's type.
    fn settle_header(&mut self, records: &[Record], v: &Values, fixed: &DialectOverrides) {
        if fixed.header_rows.is_some() {
            return;
        }
        let rows = &records[self.start.min(records.len())..];
        if rows.len() < 2 || v.kinds.iter().all(Option::is_none) {
            self.header_rows = 1;
            return;
        }
        let mut last_header = None;
        for (i, r) in rows.iter().take(3).enumerate() {
            if !conforms(r, v) {
                last_header = Some(i);
            }
        }
        self.header_rows = last_header.map_or(0, |i| i + 1);
        // A header row narrower or wider than the data by a trailing delimiter is still
        // the header (the reader reconciles the widths).
        if self.header_rows == 0 && self.start > 0 {
            let prev = &records[self.start - 1];
            let next_line = prev.first_line + prev.inner_newlines + 1;
            let adjacent = next_line == rows[0].first_line;
            if adjacent
                && prev.len() + 1 >= self.width
                && prev.len() <= self.width + 1
                && !conforms(prev, v)
            {
                self.start -= 1;
                self.header_rows = 1;
            }
        }
    }

    /// Trailing records that are not table rows: another width, or cells that do not
    /// fit their column's type.
    fn footer(&self, records: &[Record], v: &Values) -> usize {
        let mut n = 0;
        for r in records.iter().rev() {
            let far = r.len() + 1 < self.width || r.len() > self.width + 1;
            if far || !conforms(r, v) || is_total(r) {
                n += 1;
            } else {
                break;
            }
            if n >= 10 {
                return 0; // that many is no footer: let the rows speak for themselves
            }
        }
        n
    }
}

/// A totals row: its first cell says so (`Total`, `Sum`, `Summe`, `Gesamt`, ...).
fn is_total(r: &Record) -> bool {
    const WORDS: &[&[u8]] = &[
        b"total",
        b"totals",
        b"grand total",
        b"sum",
        b"summe",
        b"gesamt",
        b"somme",
        b"totale",
        b"totaal",
        b"suma",
    ];
    let first = r.field(0).trim_ascii();
    let word = first
        .split(|b| *b == b':')
        .next()
        .unwrap_or(first)
        .trim_ascii()
        .to_ascii_lowercase();
    WORDS.contains(&word.as_slice())
}

/// The first record of `width` from which the (up to) five records are table rows:
/// of that width or one short, or wider (ragged rows; a title line is never wider than
/// the table), else most of them exactly that width.
fn first_run(records: &[Record], width: usize) -> usize {
    (0..records.len())
        .find(|&i| {
            let window = &records[i..records.len().min(i + 5)];
            records[i].len() == width && window.iter().all(|r| r.len() + 1 >= width.max(2))
        })
        .or_else(|| {
            (0..records.len()).find(|&i| {
                let window = &records[i..records.len().min(i + 5)];
                records[i].len() == width
                    && window.iter().filter(|r| r.len() == width).count() * 2 > window.len()
            })
        })
        .unwrap_or(0)
}

/// Does the record fit the column types (null tokens and empty cells fit anything)?
/// A record fails when at least half of its typed, non-empty cells do not.
fn conforms(r: &Record, v: &Values) -> bool {
    let mut checked = 0;
    let mut failed = 0;
    for (c, kind) in v.kinds.iter().enumerate() {
        let (Some(kind), true) = (kind, c < r.len()) else {
            continue;
        };
        let cell = r.field(c).trim_ascii();
        if cell.is_empty() || v.null_tokens.iter().any(|t| t == cell) {
            continue;
        }
        checked += 1;
        if kind_of(cell, &v.format) != Some(*kind) {
            failed += 1;
        }
    }
    checked == 0 || failed * 2 < checked.max(1) || (failed == 0)
}

/// Column types, null tokens, number and date syntax of the body rows.
fn sniff_values(
    records: &[Record],
    shape: &Shape,
    header_rows: usize,
    fixed: &DialectOverrides,
    lex: &LexOptions,
) -> Values {
    // Full-width rows of the table; well inside it when there are enough (past a
    // possible header block), else all of them (types are then decided by majority).
    let table: Vec<&Record> = records[(shape.start + header_rows).min(records.len())..]
        .iter()
        .filter(|r| r.len() == shape.width)
        .collect();
    let mut body: Vec<&Record> = if header_rows == 0 && table.len() > 6 {
        table[3..].to_vec()
    } else {
        table
    };
    body.truncate(VALUE_RECORDS);
    let column = |c: usize| -> Vec<&[u8]> {
        body.iter()
            .map(|r| r.field(c).trim_ascii())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let comma_decimal = lex.delimiter != b",";
    let values_of = |c: usize| -> Vec<&[u8]> {
        column(c)
            .into_iter()
            .filter(|v| !NULL_TOKENS.contains(v))
            .collect()
    };
    let decimal = fixed.decimal.unwrap_or_else(|| {
        let european = (0..shape.width).any(|c| {
            let col = values_of(c);
            let comma = col
                .iter()
                .filter(|v| v.contains(&b',') && is_european_number(v))
                .count();
            let dot = col
                .iter()
                .filter(|v| {
                    v.contains(&b'.') && !is_european_number(v) && values::parse_f64(v).is_some()
                })
                .count();
            let numbers = col.iter().filter(|v| is_european_number(v)).count();
            comma > 0 && dot == 0 && numbers * 2 > col.len()
        });
        if european && comma_decimal {
            b','
        } else {
            b'.'
        }
    });
    let thousands = fixed.thousands.unwrap_or_else(|| {
        let sep = if decimal == b',' { b'.' } else { b',' };
        let probe = ValueFormat {
            decimal,
            thousands: Some(sep),
            ..ValueFormat::default()
        };
        let plain = ValueFormat {
            decimal,
            ..ValueFormat::default()
        };
        let grouped = (0..shape.width).any(|c| {
            let col = values_of(c);
            let needs = col
                .iter()
                .filter(|v| {
                    v.contains(&sep) && plain.parse_f64(v).is_none() && probe.parse_f64(v).is_some()
                })
                .count();
            let broken = col
                .iter()
                .filter(|v| {
                    v.contains(&sep) && probe.parse_f64(v).is_none() && plain.parse_f64(v).is_some()
                })
                .count();
            let numbers = col.iter().filter(|v| probe.parse_f64(v).is_some()).count();
            needs > 0 && broken == 0 && numbers * 2 > col.len()
        });
        (grouped && (decimal == b',' || comma_decimal)).then_some(sep)
    });
    let mut format = ValueFormat {
        decimal,
        thousands,
        date: None,
        timestamp: None,
    };
    let day_first = decimal == b',' || lex.delimiter != b",";
    let (date, timestamp) = sniff_date_formats(&body, shape.width, day_first);
    format.date = match &fixed.date_format {
        Some(f) => f.clone(),
        None => date,
    };
    format.timestamp = match &fixed.timestamp_format {
        Some(f) => f.clone(),
        None => timestamp,
    };
    let mut kinds = Vec::with_capacity(shape.width);
    let mut null_tokens: Vec<Vec<u8>> = Vec::new();
    for c in 0..shape.width {
        let col = column(c);
        let mut tally: Vec<(Option<Kind>, usize)> = Vec::new();
        let mut total = 0usize;
        for v in &col {
            if NULL_TOKENS.contains(v) {
                continue;
            }
            total += 1;
            let k = kind_of(v, &format);
            match tally.iter_mut().find(|(kind, _)| *kind == k) {
                Some((_, n)) => *n += 1,
                None => tally.push((k, 1)),
            }
        }
        // The column's type: what most of its values are.
        let kind = tally
            .iter()
            .filter(|(k, n)| k.is_some() && *n * 2 > total)
            .map(|(k, _)| *k)
            .next()
            .flatten();
        if kind.is_some() {
            for v in &col {
                if NULL_TOKENS.contains(v) && !null_tokens.iter().any(|t| t == v) {
                    null_tokens.push(v.to_vec());
                }
            }
        }
        kinds.push(kind);
    }
    Values {
        format,
        null_tokens,
        kinds,
    }
}

/// `1.234,5`, `-0,5`, `12`: a number with a decimal comma (and dot grouping).
fn is_european_number(v: &[u8]) -> bool {
    let f = ValueFormat {
        decimal: b',',
        thousands: Some(b'.'),
        ..ValueFormat::default()
    };
    f.parse_f64(v).is_some()
}

/// The date and timestamp formats of the body's non-ISO date columns.
fn sniff_date_formats(
    body: &[&Record],
    width: usize,
    day_first: bool,
) -> (Option<DateFormat>, Option<DateFormat>) {
    let mut date = None;
    let mut timestamp = None;
    let mut specs: Vec<DateFormat> = Vec::new();
    for d in DATE_FORMATS {
        specs.extend(DateFormat::new(d));
        for t in TIME_SUFFIXES {
            specs.extend(DateFormat::new(&format!("{d}{t}")));
        }
    }
    for c in 0..width {
        let col: Vec<&[u8]> = body
            .iter()
            .map(|r| r.field(c).trim_ascii())
            .filter(|v| !v.is_empty() && !NULL_TOKENS.contains(v))
            .collect();
        let iso = col
            .iter()
            .filter(|v| values::parse_timestamp(v).is_some())
            .count();
        if col.is_empty() || iso * 2 > col.len() {
            continue;
        }
        // Formats that read one of the first values compete over the column: the one
        // most values follow (more than half of them) wins.
        let head = &col[..col.len().min(8)];
        let mut best: Option<(&DateFormat, usize)> = None;
        for f in specs
            .iter()
            .filter(|f| head.iter().any(|v| f.parse(v).is_some()))
        {
            if !day_first && f.spec().starts_with("%d") && best.is_some() {
                continue;
            }
            let n = col.iter().filter(|v| f.parse(v).is_some()).count();
            let better = match best {
                None => n * 2 > col.len(),
                Some((b, m)) => n > m || (n == m && !day_first && b.spec().starts_with("%d")),
            };
            if better {
                best = Some((f, n));
            }
        }
        if let Some((f, _)) = best {
            if f.has_time() {
                timestamp.get_or_insert_with(|| f.clone());
            } else {
                date.get_or_insert_with(|| f.clone());
            }
        }
    }
    (date, timestamp)
}

/// Many unquoted cells padded with spaces, or a padded number or date: trim them.
fn needs_trim(body: &[Record]) -> bool {
    let mut cells = 0usize;
    let mut padded = 0usize;
    let mut padded_value = false;
    for r in body.iter().take(CANDIDATE_RECORDS) {
        for i in 0..r.len() {
            let f = r.field(i);
            if f.is_empty() || r.quoted[i] {
                continue;
            }
            cells += 1;
            if f.first().is_some_and(|&b| b == b' ') || f.last().is_some_and(|&b| b == b' ') {
                padded += 1;
                let v = f.trim_ascii();
                padded_value |= !v.is_empty() && v.iter().any(u8::is_ascii_digit) && is_typed(v);
            }
        }
    }
    cells > 0 && (padded * 3 > cells || padded_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(text: &[u8]) -> Dialect {
        sniff_bytes(text, None, true, &DialectOverrides::default())
            .expect("sniff")
            .dialect
    }

    #[test]
    fn delimiters_single_and_multi_byte() {
        let rows = "id;name;amount\n1;Ann;1,5\n2;Bob;2,25\n3;Cy;3\n";
        let d = sniff(rows.as_bytes());
        assert_eq!(d.delimiter, b";");
        assert_eq!(d.values.decimal, b',');
        let d = sniff(b"a, b, c\n1, x, 2.5\n2, y, 3.5\n3, z, 4\n");
        assert_eq!(d.delimiter, b", ");
        let d = sniff(b"a;;b;;c\n1;;x;;2\n2;;y;;3\n");
        assert_eq!(d.delimiter, b";;");
        let d = sniff(b"a\tb\n1\t2\n3\t4\n");
        assert_eq!(d.delimiter, b"\t");
    }

    #[test]
    fn preamble_header_rows_and_footer() {
        let text = b"Sales export\nGenerated 2025-06-30\nid,city,amount\n1,Oslo,2.5\n2,Rome,3.5\n3,Nice,4\n4,Bonn,5\n\nTotal: 15\nSource: ERP\n";
        let d = sniff(text);
        assert_eq!((d.skip_rows, d.header_rows, d.skip_footer), (2, 1, 2));
        let d =
            sniff(b",Money,\nid,amount,when\n1,2.5,2025-01-01\n2,3.5,2025-01-02\n3,1,2025-01-03\n");
        assert_eq!(d.header_rows, 2);
        let d = sniff(b"1,2.5,2025-01-01\n2,3.5,2025-01-02\n3,1,2025-01-03\n");
        assert_eq!(d.header_rows, 0);
        // a row one short and a row two too wide near the top are ragged rows, not a preamble
        let d = sniff(b"id,name,amount\n1,a,1.5\n2,b\n3,c,3.5,extra,more\n4,d,4.5\n");
        assert_eq!((d.skip_rows, d.header_rows, d.skip_footer), (0, 1, 0));
    }

    #[test]
    fn encodings() {
        let latin = b"id;name\n1;Fran\xe7ois\n2;J\xfcrgen\n3;Ren\xe9e \x80\n";
        let s = sniff_bytes(latin, None, true, &DialectOverrides::default()).expect("sniff");
        assert_eq!(s.dialect.encoding, encoding_rs::WINDOWS_1252);
        let mut utf16 = vec![0xff, 0xfe];
        for u in "a\tb\r\n1\t2\r\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let d = sniff(&utf16);
        assert_eq!(
            (d.encoding, d.delimiter.as_slice()),
            (encoding_rs::UTF_16LE, &b"\t"[..])
        );
        let mixed = "id;name\n1;Jürgen\n2;Renée\n"
            .as_bytes()
            .iter()
            .chain(b"3;Fran\xe7ois\n")
            .copied()
            .collect::<Vec<u8>>();
        let err = sniff_bytes(&mixed, None, true, &DialectOverrides::default()).expect_err("mixed");
        assert!(err.contains("undecidable encoding"), "{err}");
        let bom_inside = b"id,na\xff\xfeme,amount\n1,a,1.5\n";
        let err = sniff_bytes(bom_inside, None, true, &DialectOverrides::default())
            .expect_err("a byte order mark inside");
        assert!(err.contains("undecidable encoding"), "{err}");
        let noise: Vec<u8> = (0..400u32)
            .map(|i| [0x01, 0x85, 0x02, 0x9a][i as usize % 4])
            .collect();
        let err = sniff_bytes(&noise, None, true, &DialectOverrides::default()).expect_err("noise");
        assert!(
            err.contains("undecidable encoding") || err.contains("binary"),
            "{err}"
        );
    }

    #[test]
    fn nulls_dates_quotes_and_escapes() {
        let d = sniff(
            b"id;when;v\n1;31.12.2025;NA\n2;01.02.2025;1,5\n3;15.03.2025;-\n4;16.03.2025;2\n",
        );
        assert_eq!(
            d.values.date.as_ref().map(DateFormat::spec),
            Some("%d.%m.%Y")
        );
        let mut nulls = d.null_values.clone();
        nulls.sort();
        assert_eq!(nulls, vec![b"-".to_vec(), b"NA".to_vec()]);
        let d = sniff(b"a|b\n'x|y'|1\n'it\\'s'|2\n'z'|3\n");
        assert_eq!((d.quote, d.escape), (Some(b'\''), Some(b'\\')));
        let fixed = DialectOverrides {
            delimiter: Some(b";".to_vec()),
            ..DialectOverrides::default()
        };
        let s = sniff_bytes(b"a,b\n1,2\n", None, true, &fixed).expect("sniff");
        assert_eq!(s.dialect.delimiter, b";");
    }

    #[test]
    fn empty_and_header_only() {
        let d = sniff(b"");
        assert_eq!(d.header_rows, 1);
        let d = sniff(b"id;name\n");
        assert_eq!((d.delimiter.as_slice(), d.header_rows), (&b";"[..], 1));
    }
}
