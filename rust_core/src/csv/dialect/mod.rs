//! What a CSV file looks like: its encoding, how it cuts records and fields, which
//! lines are not table rows, how values are written. A [`Dialect`] is given field by
//! field ([`DialectOverrides`]) or sniffed ([`sniffer`]); [`Dialect::plan`] turns it
//! into the cheapest way to read the file: the canonical fast path when it can,
//! transcoding and/or the general [`normalize`]r in front of it when it must.
pub mod decode;
pub mod formats;
pub mod lexer;
pub mod normalize;
pub mod sniffer;

use encoding_rs::Encoding;

pub use formats::{DateFormat, ValueFormat};
use lexer::LexOptions;

/// What to do with a row whose field count differs from the header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ragged {
    /// The row goes to the rejects with its reason (or fails the conversion).
    Reject,
    /// Short rows get nulls for their missing trailing fields; long rows are rejected.
    Pad,
    /// Long rows lose their extra trailing fields; short rows are rejected.
    Truncate,
}

impl Ragged {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "reject" => Some(Ragged::Reject),
            "pad" => Some(Ragged::Pad),
            "truncate" => Some(Ragged::Truncate),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Ragged::Reject => "reject",
            Ragged::Pad => "pad",
            Ragged::Truncate => "truncate",
        }
    }
}

/// The complete description of a file's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialect {
    pub encoding: &'static Encoding,
    /// One or more bytes (of the UTF-8 text).
    pub delimiter: Vec<u8>,
    pub quote: Option<u8>,
    /// `None`: a quote inside a quoted field is doubled.
    pub escape: Option<u8>,
    /// Lines before the header (titles, notes), skipped whatever they hold.
    pub skip_rows: usize,
    /// 0 (no header: `column_1`, ...), 1, or several rows joined into one name per column.
    pub header_rows: usize,
    /// Lines starting with this prefix are skipped.
    pub comment: Option<Vec<u8>>,
    /// Trailing lines (totals, footnotes) that are not table rows.
    pub skip_footer: usize,
    /// Strip spaces and tabs around unquoted fields.
    pub trim: bool,
    /// Field values that mean null.
    pub null_values: Vec<Vec<u8>>,
    pub ragged: Ragged,
    pub values: ValueFormat,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            encoding: encoding_rs::UTF_8,
            delimiter: b",".to_vec(),
            quote: Some(b'"'),
            escape: None,
            skip_rows: 0,
            header_rows: 1,
            comment: None,
            skip_footer: 0,
            trim: false,
            null_values: Vec::new(),
            ragged: Ragged::Reject,
            values: ValueFormat::default(),
        }
    }
}

/// Some fields of a dialect, each overriding the default or the sniffed value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialectOverrides {
    pub encoding: Option<&'static Encoding>,
    pub delimiter: Option<Vec<u8>>,
    pub quote: Option<Option<u8>>,
    pub escape: Option<Option<u8>>,
    pub skip_rows: Option<usize>,
    pub header_rows: Option<usize>,
    pub comment: Option<Option<Vec<u8>>>,
    pub skip_footer: Option<usize>,
    pub trim: Option<bool>,
    pub null_values: Option<Vec<Vec<u8>>>,
    pub ragged: Option<Ragged>,
    pub decimal: Option<u8>,
    pub thousands: Option<Option<u8>>,
    pub date_format: Option<Option<DateFormat>>,
    pub timestamp_format: Option<Option<DateFormat>>,
}

/// Look up an encoding by any of its WHATWG labels (`latin1`, `cp1252`, `utf-16le`, ...).
pub fn encoding_for(label: &str) -> Result<&'static Encoding, String> {
    let label = label.trim();
    let alias = match label.to_ascii_lowercase().as_str() {
        "utf8" | "utf-8-sig" | "utf8-sig" => "utf-8",
        "utf16" | "utf-16" => "utf-16le",
        "latin9" | "iso8859-15" => "iso-8859-15",
        "cp1250" | "cp1251" | "cp1252" | "cp1253" | "cp1254" | "cp1255" | "cp1256" | "cp1257"
        | "cp1258" => {
            return Encoding::for_label(format!("windows-{}", &label[2..]).as_bytes())
                .ok_or_else(|| format!("unknown encoding {label:?}"))
        }
        _ => label,
    };
    Encoding::for_label(alias.as_bytes()).ok_or_else(|| {
        format!("unknown encoding {label:?} (use a WHATWG label such as utf-8, utf-16le, windows-1252, iso-8859-15)")
    })
}

impl Dialect {
    /// The dialect with `o`'s fields applied.
    pub fn with(mut self, o: &DialectOverrides) -> Self {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &o.$field { self.$field = v.clone(); }
            )*};
        }
        set!(
            delimiter,
            quote,
            escape,
            skip_rows,
            header_rows,
            comment,
            skip_footer,
            trim,
            null_values,
            ragged
        );
        if let Some(e) = o.encoding {
            self.encoding = e;
        }
        if let Some(d) = o.decimal {
            self.values.decimal = d;
        }
        if let Some(t) = o.thousands {
            self.values.thousands = t;
        }
        if let Some(f) = &o.date_format {
            self.values.date = f.clone();
        }
        if let Some(f) = &o.timestamp_format {
            self.values.timestamp = f.clone();
        }
        self
    }

    /// Refuse contradictions (a quote that is also the delimiter, ...).
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.delimiter;
        if d.is_empty() {
            return Err("delimiter must not be empty".into());
        }
        if d.iter().any(|&b| b == b'\n' || b == b'\r') {
            return Err("delimiter must not contain a line break".into());
        }
        for (name, c) in [("quote", self.quote), ("escape", self.escape)] {
            if let Some(c) = c {
                if !c.is_ascii() || c == b'\n' || c == b'\r' {
                    return Err(format!(
                        "{name} must be one ASCII character other than a line break"
                    ));
                }
                if d.contains(&c) {
                    return Err(format!(
                        "{name} {:?} is part of the delimiter",
                        char::from(c)
                    ));
                }
            }
        }
        if self.comment.as_ref().is_some_and(|c| c.is_empty()) {
            return Err("comment must not be empty (use None for no comment lines)".into());
        }
        let v = &self.values;
        if !matches!(v.decimal, b'.' | b',') {
            return Err("decimal must be '.' or ','".into());
        }
        if let Some(t) = v.thousands {
            if t == v.decimal || !matches!(t, b'.' | b',' | b' ' | b'\'' | b'_') {
                return Err(
                    "thousands must be one of . , ' _ or space, and differ from decimal".into(),
                );
            }
        }
        if self.header_rows > 16 {
            return Err("header_rows must be at most 16".into());
        }
        Ok(())
    }

    /// Does tokenizing need the general lexer (rather than the canonical one)?
    pub fn needs_lexer(&self) -> bool {
        self.delimiter.len() != 1
            || self.quote != Some(b'"')
            || self.escape.is_some()
            || self.skip_rows > 0
            || self.header_rows > 1
            || self.comment.is_some()
            || self.skip_footer > 0
            || self.trim
            || !self.null_values.is_empty()
            || self.ragged != Ragged::Reject
    }

    /// The UTF-8 text needs no transcoding (a UTF-8 byte order mark is dropped anyway).
    pub fn is_utf8(&self) -> bool {
        self.encoding == encoding_rs::UTF_8
    }

    pub(crate) fn lex_options(&self) -> LexOptions {
        LexOptions {
            delimiter: self.delimiter.clone(),
            quote: self.quote,
            escape: self.escape,
            comment: self.comment.clone(),
            trim: self.trim,
            skip_rows: self.skip_rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_field_by_field() {
        let o = DialectOverrides {
            delimiter: Some(b";".to_vec()),
            quote: Some(None),
            decimal: Some(b','),
            ..DialectOverrides::default()
        };
        let d = Dialect::default().with(&o);
        assert_eq!(d.delimiter, b";");
        assert_eq!(d.quote, None);
        assert_eq!(d.values.decimal, b',');
        assert_eq!(d.header_rows, 1);
        assert!(d.needs_lexer());
        assert!(!Dialect::default().needs_lexer());
    }

    #[test]
    fn contradictions_are_refused() {
        let mut d = Dialect {
            delimiter: b"\"".to_vec(),
            ..Dialect::default()
        };
        assert!(d.validate().is_err());
        d.delimiter = Vec::new();
        assert!(d.validate().is_err());
        d.delimiter = b";".to_vec();
        d.values.thousands = Some(b'.');
        assert!(d.validate().is_err(), "thousands equal to decimal");
        d.values.decimal = b',';
        assert!(d.validate().is_ok());
    }

    #[test]
    fn encodings_by_label() {
        assert_eq!(encoding_for("latin1"), Ok(encoding_rs::WINDOWS_1252));
        assert_eq!(encoding_for("cp1252"), Ok(encoding_rs::WINDOWS_1252));
        assert_eq!(encoding_for("ISO-8859-15"), Ok(encoding_rs::ISO_8859_15));
        assert_eq!(encoding_for("utf-16"), Ok(encoding_rs::UTF_16LE));
        assert_eq!(encoding_for("UTF-8-sig"), Ok(encoding_rs::UTF_8));
        assert!(encoding_for("klingon").is_err());
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod end_to_end;
