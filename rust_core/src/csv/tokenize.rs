//! Tokenizes one chunk into a flat buffer of unescaped field bytes.
//!
//! [`tokenize`] is a specialised tokenizer with exactly csv-core's semantics
//! (RFC 4180 quoting with doubled quotes, `\r`, `\n` or `\r\n` as terminators, blank
//! lines skipped, bytes after a closing quote appended unquoted); the csv-core based
//! [`tokenize_csv_core`] is kept as its reference and the tests compare the two.
#[cfg(test)]
use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

/// The records of one chunk: field bytes back to back, with offsets.
#[derive(Debug, Default)]
pub struct Records {
    data: Vec<u8>,
    /// End offset in `data` of every field of every record.
    ends: Vec<u32>,
    /// Index in `ends` of each record's first field, plus one past the last record.
    first_field: Vec<u32>,
    /// Byte range of each record in the chunk (terminator excluded).
    spans: Vec<(u32, u32)>,
    /// All field bytes together are valid UTF-8.
    all_utf8: bool,
}

impl Records {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn num_fields(&self, record: usize) -> usize {
        (self.first_field[record + 1] - self.first_field[record]) as usize
    }

    /// Bytes of field `field` of `record` (caller checks `field < num_fields(record)`).
    #[inline]
    pub fn field(&self, record: usize, field: usize) -> &[u8] {
        let k = self.first_field[record] as usize + field;
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.data[start..self.ends[k] as usize]
    }

    /// Field `field` of `record` as text, or the UTF-8 error. Fast when the whole
    /// chunk is valid UTF-8: then a field is valid iff it starts and ends on char
    /// boundaries (fields are contiguous in the buffer).
    #[inline]
    pub fn field_str(&self, record: usize, field: usize) -> Result<&str, std::str::Utf8Error> {
        let v = self.field(record, field);
        if self.all_utf8 {
            let k = self.first_field[record] as usize + field;
            let end = self.ends[k] as usize;
            let starts_ok = v.first().is_none_or(|&b| (b as i8) >= -0x40);
            let ends_ok = self.data.get(end).is_none_or(|&b| (b as i8) >= -0x40);
            if starts_ok && ends_ok {
                // SAFETY: `data[..len]` is valid UTF-8 and `v` starts and ends on char
                // boundaries of it, so `v` is valid UTF-8 too.
                return Ok(unsafe { std::str::from_utf8_unchecked(v) });
            }
        }
        std::str::from_utf8(v)
    }

    /// Does `record` have `n` fields, or more whose extra ones are all empty (a
    /// trailing delimiter, which loses nothing)?
    #[inline]
    pub fn fits(&self, record: usize, n: usize) -> bool {
        let nf = self.num_fields(record);
        nf == n || (nf > n && (n..nf).all(|c| self.field(record, c).is_empty()))
    }

    /// Give the big buffers back for reuse by [`tokenize_into`].
    pub fn into_buffers(self) -> (Vec<u8>, Vec<u32>) {
        (self.data, self.ends)
    }

    /// Byte range of `record` in its chunk, without the line terminator.
    pub fn span(&self, record: usize) -> (usize, usize) {
        let (s, e) = self.spans[record];
        (s as usize, e as usize)
    }
}

const QUOTE: u8 = b'"';

/// Byte classes of the unquoted scan: 1 = delimiter, `\r`, `\n`.
fn special_table(delimiter: u8) -> [bool; 256] {
    let mut t = [false; 256];
    t[usize::from(delimiter)] = true;
    t[usize::from(b'\r')] = true;
    t[usize::from(b'\n')] = true;
    t
}

/// Tokenize a chunk that holds whole records (the last may lack its terminator).
pub fn tokenize(chunk: &[u8], delimiter: u8) -> Result<Records, String> {
    tokenize_into(chunk, delimiter, Vec::new(), Vec::new())
}

/// [`tokenize`], reusing the allocations of earlier [`Records::into_buffers`].
pub fn tokenize_into(
    chunk: &[u8],
    delimiter: u8,
    mut data: Vec<u8>,
    mut ends: Vec<u32>,
) -> Result<Records, String> {
    if u32::try_from(chunk.len()).is_err() {
        return Err("a chunk of records larger than 4 GiB".into());
    }
    let special = special_table(delimiter);
    let n = chunk.len();
    data.clear();
    data.reserve(n);
    ends.clear();
    ends.reserve(n / 8 + 16);
    let mut first_field: Vec<u32> = Vec::with_capacity(n / 64 + 16);
    first_field.push(0);
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(n / 64 + 16);
    let mut i = 0usize;
    loop {
        while i < n && (chunk[i] == b'\n' || chunk[i] == b'\r') {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        // One record: fields until a terminator or the end.
        loop {
            if chunk[i] == QUOTE {
                i += 1;
                loop {
                    match memchr::memchr(QUOTE, &chunk[i..]) {
                        None => {
                            data.extend_from_slice(&chunk[i..]);
                            i = n;
                            break;
                        }
                        Some(k) => {
                            data.extend_from_slice(&chunk[i..i + k]);
                            i += k + 1;
                            if i < n && chunk[i] == QUOTE {
                                data.push(QUOTE);
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
            }
            // Unquoted bytes (the whole field, or what follows a closing quote).
            let s = i;
            while i < n && !special[usize::from(chunk[i])] {
                i += 1;
            }
            data.extend_from_slice(&chunk[s..i]);
            ends.push(data.len() as u32);
            if i < n && chunk[i] == delimiter {
                i += 1;
                if i >= n {
                    // A delimiter right at the end: one more, empty field.
                    ends.push(data.len() as u32);
                    break;
                }
                continue;
            }
            break;
        }
        first_field.push(ends.len() as u32);
        let mut end = i.min(n);
        while end > start && (chunk[end - 1] == b'\n' || chunk[end - 1] == b'\r') {
            end -= 1;
        }
        spans.push((start as u32, end as u32));
    }
    let all_utf8 = std::str::from_utf8(&data).is_ok();
    Ok(Records {
        data,
        ends,
        first_field,
        spans,
        all_utf8,
    })
}

#[cfg(test)]
fn new_reader(delimiter: u8) -> Reader {
    ReaderBuilder::new()
        .delimiter(delimiter)
        .double_quote(true)
        .quoting(true)
        .build()
}

#[cfg(test)]
fn to_u32(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "a chunk of records larger than 4 GiB".to_string())
}

/// Reference tokenizer on csv-core; the fast path must agree with it.
#[cfg(test)]
pub fn tokenize_csv_core(chunk: &[u8], delimiter: u8) -> Result<Records, String> {
    let mut rdr = new_reader(delimiter);
    let mut rec = Records {
        data: vec![0; chunk.len() + 1],
        ends: Vec::with_capacity(chunk.len() / 8 + 16),
        first_field: vec![0],
        spans: Vec::with_capacity(chunk.len() / 64 + 16),
        all_utf8: false,
    };
    let mut ends_buf = vec![0usize; 256];
    let mut in_pos = 0usize;
    let mut out_pos = 0usize;
    loop {
        // Skip the terminators csv-core would skip, to find where the record starts.
        let start = in_pos
            + chunk[in_pos..]
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
        let mut nend_total = 0usize;
        // csv-core reports field ends relative to where the record's output began.
        let rec_out = out_pos;
        loop {
            let (res, nin, nout, nend) = rdr.read_record(
                &chunk[in_pos..],
                &mut rec.data[out_pos..],
                &mut ends_buf[nend_total..],
            );
            for e in &ends_buf[nend_total..nend_total + nend] {
                rec.ends.push(to_u32(rec_out + e)?);
            }
            in_pos += nin;
            out_pos += nout;
            nend_total += nend;
            match res {
                ReadRecordResult::InputEmpty => {
                    if in_pos >= chunk.len() {
                        // Signal end of input: the next call flushes the last record.
                        let (res2, _, nout2, nend2) = rdr.read_record(
                            &[],
                            &mut rec.data[out_pos..],
                            &mut ends_buf[nend_total..],
                        );
                        for e in &ends_buf[nend_total..nend_total + nend2] {
                            rec.ends.push(to_u32(rec_out + e)?);
                        }
                        out_pos += nout2;
                        match res2 {
                            ReadRecordResult::Record => {
                                push_record(&mut rec, chunk, start, in_pos)?;
                                return Ok(finish(rec, out_pos));
                            }
                            ReadRecordResult::End => return Ok(finish(rec, out_pos)),
                            ReadRecordResult::OutputEndsFull => {
                                let n = ends_buf.len();
                                ends_buf.resize(n * 2, 0);
                                continue;
                            }
                            _ => return Err("tokenizer ran out of output space".into()),
                        }
                    }
                }
                ReadRecordResult::OutputFull => {
                    let n = rec.data.len();
                    rec.data.resize(n * 2 + 16, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = ends_buf.len();
                    ends_buf.resize(n * 2, 0);
                }
                ReadRecordResult::Record => {
                    push_record(&mut rec, chunk, start, in_pos)?;
                    break;
                }
                ReadRecordResult::End => return Ok(finish(rec, out_pos)),
            }
        }
    }
}

#[cfg(test)]
fn finish(mut rec: Records, _out_pos: usize) -> Records {
    let len = rec.ends.last().map_or(0, |&e| e as usize);
    rec.data.truncate(len);
    rec.all_utf8 = std::str::from_utf8(&rec.data).is_ok();
    rec
}

#[cfg(test)]
fn push_record(rec: &mut Records, chunk: &[u8], start: usize, end_in: usize) -> Result<(), String> {
    let mut end = end_in.min(chunk.len());
    while end > start && (chunk[end - 1] == b'\n' || chunk[end - 1] == b'\r') {
        end -= 1;
    }
    rec.first_field.push(to_u32(rec.ends.len())?);
    rec.spans.push((to_u32(start)?, to_u32(end.max(start))?));
    Ok(())
}

/// Random bytes rich in what matters to a CSV parser (quotes, delimiters, line ends),
/// for property tests.
#[cfg(test)]
pub(crate) fn csv_like_bytes(max_len: usize) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::strategy::Just;
    proptest::collection::vec(
        proptest::prop_oneof![
            Just(b'"'),
            Just(b','),
            Just(b';'),
            Just(b'\n'),
            Just(b'\r'),
            Just(b'a'),
            Just(b'1'),
            proptest::num::u8::ANY,
        ],
        0..max_len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: &Records, i: usize) -> Vec<String> {
        (0..r.num_fields(i))
            .map(|f| String::from_utf8_lossy(r.field(i, f)).into_owned())
            .collect()
    }

    #[test]
    fn quoted_fields_crlf_and_blank_lines() {
        let chunk = b"a,b\r\n\"x,\"\"y\"\"\nz\",2\r\n\r\n,\n3,4";
        let r = tokenize(chunk, b',').expect("tokenize");
        assert_eq!(r.len(), 4);
        assert!(same(
            &r,
            &tokenize_csv_core(chunk, b',').expect("reference")
        ));
        assert_eq!(fields(&r, 0), vec!["a", "b"]);
        assert_eq!(fields(&r, 1), vec!["x,\"y\"\nz", "2"]);
        assert_eq!(fields(&r, 2), vec!["", ""]);
        assert_eq!(fields(&r, 3), vec!["3", "4"]);
        let (s, e) = r.span(1);
        assert_eq!(&chunk[s..e], b"\"x,\"\"y\"\"\nz\",2");
        let (s, e) = r.span(3);
        assert_eq!(&chunk[s..e], b"3,4");
    }

    #[test]
    fn many_fields_grow_buffers() {
        let row: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let line = row.join(",");
        let chunk = format!("{line}\n{line}\n");
        let r = tokenize(chunk.as_bytes(), b',').expect("tokenize");
        assert_eq!(r.len(), 2);
        assert_eq!(r.num_fields(1), 1000);
        assert_eq!(r.field(1, 999), b"999");
    }

    fn same(a: &Records, b: &Records) -> bool {
        a.len() == b.len()
            && (0..a.len()).all(|r| {
                a.num_fields(r) == b.num_fields(r)
                    && a.span(r) == b.span(r)
                    && (0..a.num_fields(r)).all(|f| a.field(r, f) == b.field(r, f))
            })
    }

    #[test]
    fn fast_tokenizer_matches_csv_core_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"a",
            b"a,",
            b",",
            b"a,b\n",
            b"\"\"",
            b"\"a\"b,c",
            b"\"a\"\"b\"\r\nc",
            b"\"unterminated\nx",
            b"a\rb\r\nc\n\n\nd",
            b"x,\"y\nz\",\n",
            b"\"\"\"\"",
            b"a\"b,c",
            b"1,2\r",
            b",,\n,,",
            b"\"a\",\"\",\n",
        ];
        for case in cases {
            let fast = tokenize(case, b',').expect("fast");
            let slow = tokenize_csv_core(case, b',').expect("slow");
            assert!(
                same(&fast, &slow),
                "differs on {:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_tokenizer_matches_csv_core(bytes in super::csv_like_bytes(200)) {
            // A leading BOM is the chunker's business (csv-core strips it), not the tokenizer's.
            proptest::prop_assume!(!bytes.starts_with(b"\xef\xbb\xbf"));
            for delim in [b',', b';'] {
                let fast = tokenize(&bytes, delim).expect("fast");
                let slow = tokenize_csv_core(&bytes, delim).expect("slow");
                proptest::prop_assert!(same(&fast, &slow));
            }
        }
    }

    #[test]
    fn empty_chunk() {
        let r = tokenize(b"", b',').expect("tokenize");
        assert!(r.is_empty());
    }
}
