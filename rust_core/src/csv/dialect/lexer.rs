//! A resumable tokenizer for any dialect: delimiters of one or more bytes, any quote
//! character or none, doubled quotes and/or an escape character, whitespace trimming,
//! comment lines and preamble lines. It reads UTF-8 text (after decoding) and reports
//! records with the physical line each starts on, so errors keep the file's lines.
//!
//! It is slower than the canonical tokenizer and only runs for files that need it.

/// How to cut text into records and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexOptions {
    pub delimiter: Vec<u8>,
    pub quote: Option<u8>,
    pub escape: Option<u8>,
    pub comment: Option<Vec<u8>>,
    pub trim: bool,
    /// Physical lines to skip before anything else (a preamble, quote-unaware).
    pub skip_rows: usize,
}

impl Default for LexOptions {
    fn default() -> Self {
        LexOptions {
            delimiter: b",".to_vec(),
            quote: Some(b'"'),
            escape: None,
            comment: None,
            trim: false,
            skip_rows: 0,
        }
    }
}

/// One record: its unescaped fields back to back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub data: Vec<u8>,
    /// End offset in `data` of each field.
    pub ends: Vec<usize>,
    /// Did the field start with a quote?
    pub quoted: Vec<bool>,
    /// 1-based physical line the record starts on.
    pub first_line: u64,
    /// Line breaks inside quoted fields.
    pub inner_newlines: u64,
    /// The record ended inside a quoted field (end of input).
    pub unterminated: bool,
    /// A quoted field went on after its closing quote (`"ab"c`): quoting is off.
    pub irregular: bool,
}

impl Record {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    pub fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.field(i))
    }

    /// Keep the first `n` fields.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            let end = if n == 0 { 0 } else { self.ends[n - 1] };
            self.data.truncate(end);
            self.ends.truncate(n);
            self.quoted.truncate(n);
        }
    }

    /// Append an empty, unquoted field.
    pub fn push_empty(&mut self) {
        self.ends.push(self.data.len());
        self.quoted.push(false);
    }

    /// Replace field `i` by an empty one.
    pub fn clear_field(&mut self, i: usize) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let removed = self.ends[i] - start;
        if removed == 0 {
            return;
        }
        self.data.drain(start..self.ends[i]);
        for e in &mut self.ends[i..] {
            *e -= removed;
        }
    }

    /// A line with nothing on it.
    fn is_blank(&self) -> bool {
        self.len() == 1 && self.ends[0] == 0 && !self.quoted[0]
    }
}

/// What the lexer found.
#[derive(Debug)]
pub enum Event<'a> {
    Record(&'a Record),
    /// A preamble, comment or blank line.
    Skipped {
        line: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    SkipLine,
    FieldStart,
    Unquoted,
    UnquotedEscape,
    Quoted,
    QuotedEscape,
    QuoteInQuoted,
}

/// The tokenizer. Feed it text with [`Lexer::feed`]; it keeps its state between calls.
pub struct Lexer {
    opts: LexOptions,
    state: State,
    rec: Record,
    line: u64,
    skip_left: usize,
    /// Length of `rec.data` that trimming must not cut (quoted content).
    protected: usize,
    /// The current line is a skipped one (preamble or comment).
    skipping_line: u64,
}

const fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl Lexer {
    pub fn new(opts: LexOptions) -> Self {
        let skip_left = opts.skip_rows;
        let mut opts = opts;
        if opts.escape.is_some() && opts.escape == opts.quote {
            opts.escape = None; // escaping the quote by itself is doubling it
        }
        Lexer {
            opts,
            state: State::LineStart,
            rec: Record::default(),
            line: 1,
            skip_left,
            protected: 0,
            skipping_line: 0,
        }
    }

    pub fn options(&self) -> &LexOptions {
        &self.opts
    }

    /// Does `input[i..]` start with `pat`? `None` when more input is needed to tell.
    #[inline]
    fn starts_with(input: &[u8], i: usize, pat: &[u8], eof: bool) -> Option<bool> {
        let avail = &input[i..];
        if avail.len() >= pat.len() {
            Some(avail.starts_with(pat))
        } else if pat.starts_with(avail) && !eof {
            None
        } else {
            Some(false)
        }
    }

    /// Length of the line terminator at `i` (`\n`, `\r\n` or a lone `\r`), 0 if none,
    /// `None` when more input is needed.
    #[inline]
    fn terminator(input: &[u8], i: usize, eof: bool) -> Option<usize> {
        match input[i] {
            b'\n' => Some(1),
            b'\r' => match input.get(i + 1) {
                Some(b'\n') => Some(2),
                Some(_) => Some(1),
                None if eof => Some(1),
                None => None,
            },
            _ => Some(0),
        }
    }

    fn end_field(&mut self) {
        if self.opts.trim {
            while self.rec.data.len() > self.protected
                && self.rec.data.last().is_some_and(|&b| is_space(b))
            {
                self.rec.data.pop();
            }
        }
        self.rec.ends.push(self.rec.data.len());
        if self.rec.quoted.len() < self.rec.ends.len() {
            self.rec.quoted.push(false);
        }
        self.protected = self.rec.data.len();
    }

    fn start_quoted(&mut self) {
        self.rec.quoted.push(true);
    }

    fn end_record<F: FnMut(Event<'_>)>(&mut self, out: &mut F, terminated: bool) {
        self.end_field();
        self.rec.unterminated = !terminated;
        if self.rec.is_blank() {
            out(Event::Skipped {
                line: self.rec.first_line,
            });
        } else {
            out(Event::Record(&self.rec));
        }
        self.line += self.rec.inner_newlines + 1;
        self.rec.data.clear();
        self.rec.ends.clear();
        self.rec.quoted.clear();
        self.rec.inner_newlines = 0;
        self.rec.irregular = false;
        self.protected = 0;
        self.state = State::LineStart;
    }

    fn begin_record(&mut self) {
        self.rec.first_line = self.line;
        self.rec.inner_newlines = 0;
        self.rec.unterminated = false;
        self.rec.irregular = false;
        self.protected = 0;
    }

    /// Tokenize `input`; returns how many bytes were consumed. Unless `eof`, it may stop
    /// short when a decision needs bytes past the end: call again with those bytes
    /// prepended to the next input.
    pub fn feed<F: FnMut(Event<'_>)>(&mut self, input: &[u8], eof: bool, out: &mut F) -> usize {
        let n = input.len();
        let mut i = 0usize;
        let delim0 = self.opts.delimiter.first().copied().unwrap_or(b',');
        while i < n {
            let b = input[i];
            match self.state {
                State::LineStart => {
                    if self.skip_left > 0 {
                        self.skip_left -= 1;
                        self.skipping_line = self.line;
                        self.state = State::SkipLine;
                        continue;
                    }
                    if let Some(prefix) = &self.opts.comment {
                        match Self::starts_with(input, i, prefix, eof) {
                            None => return i,
                            Some(true) => {
                                self.skipping_line = self.line;
                                self.state = State::SkipLine;
                                continue;
                            }
                            Some(false) => {}
                        }
                    }
                    self.begin_record();
                    self.state = State::FieldStart;
                }
                State::SkipLine => match memchr::memchr2(b'\n', b'\r', &input[i..]) {
                    None => return n,
                    Some(k) => {
                        let Some(t) = Self::terminator(input, i + k, eof) else {
                            return i + k;
                        };
                        i += k + t;
                        out(Event::Skipped {
                            line: self.skipping_line,
                        });
                        self.line += 1;
                        self.state = State::LineStart;
                    }
                },
                State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                    if b == delim0 {
                        match Self::starts_with(input, i, &self.opts.delimiter, eof) {
                            None => return i,
                            Some(true) => {
                                i += self.opts.delimiter.len();
                                self.end_field();
                                self.state = State::FieldStart;
                                continue;
                            }
                            Some(false) => {}
                        }
                    }
                    if b == b'\n' || b == b'\r' {
                        let Some(t) = Self::terminator(input, i, eof) else {
                            return i;
                        };
                        i += t;
                        self.end_record(out, true);
                        continue;
                    }
                    match self.state {
                        State::FieldStart if self.opts.trim && is_space(b) => {}
                        State::FieldStart if Some(b) == self.opts.quote => {
                            self.start_quoted();
                            self.state = State::Quoted;
                        }
                        State::QuoteInQuoted if Some(b) == self.opts.quote => {
                            self.rec.data.push(b);
                            self.state = State::Quoted;
                        }
                        State::QuoteInQuoted if self.opts.trim && is_space(b) => {}
                        _ if Some(b) == self.opts.escape => self.state = State::UnquotedEscape,
                        _ => {
                            // After a closing quote, bytes go on unquoted (as in csv-core).
                            if self.state == State::QuoteInQuoted {
                                self.rec.irregular = true;
                            }
                            self.rec.data.push(b);
                            self.state = State::Unquoted;
                        }
                    }
                    i += 1;
                }
                State::UnquotedEscape => {
                    let escapable = Some(b) == self.opts.quote
                        || Some(b) == self.opts.escape
                        || b == delim0
                        || b == b'\n'
                        || b == b'\r';
                    if !escapable {
                        self.rec.data.extend(self.opts.escape);
                    }
                    if b == b'\n' {
                        self.rec.inner_newlines += 1;
                    }
                    self.rec.data.push(b);
                    self.protected = self.rec.data.len();
                    self.state = State::Unquoted;
                    i += 1;
                }
                State::Quoted => {
                    // Copy the run up to the next special byte at once.
                    let quote = self.opts.quote.unwrap_or(b'"');
                    let esc = self.opts.escape.unwrap_or(quote);
                    match memchr::memchr3(quote, esc, b'\n', &input[i..]) {
                        None => {
                            self.rec.data.extend_from_slice(&input[i..]);
                            i = n;
                        }
                        Some(k) => {
                            self.rec.data.extend_from_slice(&input[i..i + k]);
                            i += k;
                            let c = input[i];
                            i += 1;
                            if c == b'\n' {
                                self.rec.data.push(c);
                                self.rec.inner_newlines += 1;
                            } else if c == quote {
                                self.protected = self.rec.data.len();
                                self.state = State::QuoteInQuoted;
                            } else {
                                self.state = State::QuotedEscape;
                            }
                        }
                    }
                }
                State::QuotedEscape => {
                    if Some(b) != self.opts.quote && Some(b) != self.opts.escape {
                        self.rec.data.extend(self.opts.escape);
                    }
                    if b == b'\n' {
                        self.rec.inner_newlines += 1;
                    }
                    self.rec.data.push(b);
                    self.state = State::Quoted;
                    i += 1;
                }
            }
        }
        if eof {
            self.finish(out);
        }
        n
    }

    /// End of input: flush a record without terminator.
    fn finish<F: FnMut(Event<'_>)>(&mut self, out: &mut F) {
        match self.state {
            State::LineStart => {}
            State::SkipLine => {
                out(Event::Skipped {
                    line: self.skipping_line,
                });
                self.line += 1;
                self.state = State::LineStart;
            }
            State::Quoted | State::QuotedEscape => {
                if self.state == State::QuotedEscape {
                    self.rec.data.extend(self.opts.escape);
                }
                self.end_record(out, false);
            }
            State::UnquotedEscape => {
                self.rec.data.extend(self.opts.escape);
                self.end_record(out, true);
            }
            _ => self.end_record(out, true),
        }
    }
}

/// Every record of `text` (a convenience for samples and tests).
pub fn lex_all(text: &[u8], opts: &LexOptions) -> Vec<Record> {
    let mut lexer = Lexer::new(opts.clone());
    let mut records = Vec::new();
    lexer.feed(text, true, &mut |e| {
        if let Event::Record(r) = e {
            records.push(r.clone());
        }
    });
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str, opts: &LexOptions) -> Vec<Vec<String>> {
        lex_all(text.as_bytes(), opts)
            .iter()
            .map(|r| {
                r.fields()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            })
            .collect()
    }

    fn opts(delimiter: &str) -> LexOptions {
        LexOptions {
            delimiter: delimiter.as_bytes().to_vec(),
            ..LexOptions::default()
        }
    }

    #[test]
    fn rfc4180_like_csv_core() {
        let o = opts(",");
        assert_eq!(
            fields("a,b\r\n\"x,\"\"y\"\"\n\",2\n\n3,\n", &o),
            vec![vec!["a", "b"], vec!["x,\"y\"\n", "2"], vec!["3", ""]]
        );
        assert_eq!(fields("\"ab\"c,d\n", &o), vec![vec!["abc", "d"]]);
        assert_eq!(fields("a\rb\r", &o), vec![vec!["a"], vec!["b"]]);
    }

    #[test]
    fn multi_byte_delimiters_and_other_quotes() {
        assert_eq!(
            fields("a, b, c\n1, 2,3\n", &opts(", ")),
            vec![vec!["a", "b", "c"], vec!["1", "2,3"]]
        );
        assert_eq!(fields("a||b|c\n", &opts("||")), vec![vec!["a", "b|c"]]);
        let o = LexOptions {
            delimiter: b"|".to_vec(),
            quote: Some(b'\''),
            escape: Some(b'\\'),
            ..LexOptions::default()
        };
        assert_eq!(
            fields("'it\\'s'|'a|b'|c\\|d|'back\\\\slash'|'C:\\x'\n", &o),
            vec![vec!["it's", "a|b", "c|d", "back\\slash", "C:\\x"]]
        );
        let none = LexOptions {
            quote: None,
            ..LexOptions::default()
        };
        assert_eq!(fields("\"a,b\"\n", &none), vec![vec!["\"a", "b\""]]);
    }

    #[test]
    fn trim_comments_preamble_and_lines() {
        let o = LexOptions {
            trim: true,
            comment: Some(b"#".to_vec()),
            skip_rows: 3,
            ..LexOptions::default()
        };
        let text = "Title, with comma\n\"quoted \n title\nid , name\n# note\n 1 , \" x \" \n\n2,y";
        let mut seen = Vec::new();
        let mut lexer = Lexer::new(o);
        lexer.feed(text.as_bytes(), true, &mut |e| match e {
            Event::Record(r) => seen.push(format!(
                "{}:{}",
                r.first_line,
                r.fields()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>()
                    .join("|")
            )),
            Event::Skipped { line } => seen.push(format!("{line}:-")),
        });
        assert_eq!(
            seen,
            vec![
                "1:-",
                "2:-",
                "3:-",
                "4:id|name",
                "5:-",
                "6:1| x ",
                "7:-",
                "8:2|y"
            ]
        );
    }

    #[test]
    fn resumes_at_any_split() {
        let text = b"a;;b;;\"q;;\"\"x\r\n\"\r\n# c\r\n1;;2;;3\r";
        let o = LexOptions {
            delimiter: b";;".to_vec(),
            comment: Some(b"# ".to_vec()),
            ..LexOptions::default()
        };
        let whole = lex_all(text, &o);
        assert_eq!(whole.len(), 2);
        for split in 0..text.len() {
            let mut lexer = Lexer::new(o.clone());
            let mut got = Vec::new();
            let mut push = |e: Event<'_>| {
                if let Event::Record(r) = e {
                    got.push(r.clone());
                }
            };
            let used = lexer.feed(&text[..split], false, &mut push);
            let rest: Vec<u8> = text[used..].to_vec();
            lexer.feed(&rest, true, &mut push);
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn unterminated_quote_is_flagged() {
        let recs = lex_all(b"a,\"open\nmore", &LexOptions::default());
        assert_eq!(recs.len(), 1);
        assert!(recs[0].unterminated);
        assert_eq!(recs[0].field(1), b"open\nmore");
    }
}
