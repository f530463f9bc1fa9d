//! Header names and schema inference from a sample of records.
use std::collections::HashSet;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::dialect::ValueFormat;
use super::tokenize::Records;
use super::values;

/// Column names from the header record: empty names become `column_<n>`, repeated
/// names get `_2`, `_3`, ... Returns the (0-based) field holding invalid UTF-8, if any.
pub fn header_names(rec: &Records, record: usize) -> Result<Vec<String>, (usize, &'static str)> {
    let mut names = Vec::with_capacity(rec.num_fields(record));
    let mut seen = HashSet::new();
    for i in 0..rec.num_fields(record) {
        let raw = std::str::from_utf8(rec.field(record, i))
            .map_err(|_| (i, "header name is not valid UTF-8"))?;
        if raw.contains('\0') {
            // Arrow field names cross the C data interface as C strings.
            return Err((i, "header name contains a NUL byte (binary data?)"));
        }
        let base = if raw.is_empty() {
            format!("column_{}", i + 1)
        } else {
            raw.to_string()
        };
        let mut name = base.clone();
        let mut k = 2;
        while !seen.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        names.push(name);
    }
    Ok(names)
}

/// The table's width from its header's (`header_width`, with names up to `named`) and
/// its first data rows' (field count, fields up to the last non-empty one):
/// - data wider than the header only by empty trailing fields (a trailing delimiter):
///   the header's width, the empty fields are dropped;
/// - data wider with values there: the data's width, the extra columns get positional
///   names;
/// - a header wider than the data by empty trailing names: the names are dropped;
/// - a header wider with real names: the header's width (short rows stay short and are
///   rejected or padded: never shifted).
pub fn reconcile_width(header_width: usize, named: usize, rows: &[(usize, usize)]) -> usize {
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for &(w, _) in rows {
        match counts.iter_mut().find(|(x, _)| *x == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    // Only a width most data rows share (two at least) speaks against the header's.
    let Some(data_width) = counts
        .iter()
        .find(|&&(_, n)| n >= 2 && n * 2 > rows.len())
        .map(|&(w, _)| w)
    else {
        return header_width;
    };
    if data_width > header_width {
        let used = rows
            .iter()
            .any(|&(w, used)| w == data_width && used > header_width);
        if used {
            data_width
        } else {
            header_width
        }
    } else {
        header_width.min(named.max(data_width))
    }
}

/// Names for a file without header.
pub fn positional_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("column_{i}")).collect()
}

const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 4;
const DATE: u8 = 8;
const TS_NAIVE: u8 = 16;
const TS_TZ: u8 = 32;
const ALL: u8 = BOOL | INT | FLOAT | DATE | TS_NAIVE | TS_TZ;

fn classify(v: &[u8], f: &ValueFormat) -> u8 {
    if values::parse_bool(v).is_some() {
        return BOOL;
    }
    if f.parse_i64(v).is_some() {
        return INT | FLOAT;
    }
    if f.has_date_formats() {
        if f.parse_date(v).is_some() {
            return DATE | TS_NAIVE;
        }
        if let Some(t) = f.parse_timestamp(v) {
            return if t.has_offset { TS_TZ } else { TS_NAIVE };
        }
    }
    // Cheap pre-check: dates and timestamps start with four digits and a dash.
    if v.len() >= 10 && v[4] == b'-' && v[..4].iter().all(u8::is_ascii_digit) {
        if values::parse_date(v).is_some() {
            return DATE | TS_NAIVE;
        }
        return match values::parse_timestamp(v) {
            Some(t) if t.has_offset => TS_TZ,
            Some(_) => TS_NAIVE,
            None => 0,
        };
    }
    if f.parse_f64(v).is_some() {
        return FLOAT;
    }
    0
}

/// Infer column types from `records[from..to]` (records with the wrong field count are
/// ignored): bool, int64, double, date32, timestamp[us], timestamp[us, UTC], else utf8.
/// A column with no value in the sample is utf8. Every column is nullable.
pub fn infer_schema(
    rec: &Records,
    from: usize,
    to: usize,
    names: &[String],
    values: &ValueFormat,
) -> Schema {
    let n = names.len();
    let mut masks = vec![ALL; n];
    let mut seen = vec![false; n];
    for r in from..to.min(rec.len()) {
        if !rec.fits(r, n) {
            continue;
        }
        for (c, mask) in masks.iter_mut().enumerate() {
            let v = rec.field(r, c);
            if v.is_empty() || *mask == 0 {
                continue;
            }
            seen[c] = true;
            *mask &= classify(v, values);
        }
    }
    let fields: Vec<Field> = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let m = masks[c];
            let dt = if !seen[c] {
                DataType::Utf8
            } else if m & BOOL != 0 {
                DataType::Boolean
            } else if m & INT != 0 {
                DataType::Int64
            } else if m & FLOAT != 0 {
                DataType::Float64
            } else if m & DATE != 0 {
                DataType::Date32
            } else if m & TS_NAIVE != 0 {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            } else if m & TS_TZ != 0 {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            } else {
                DataType::Utf8
            };
            Field::new(name, dt, true)
        })
        .collect();
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use super::super::tokenize::tokenize;
    use super::*;

    #[test]
    fn infers_types_and_names() {
        let csv =
            b"a,,a,d,e,f,g,h\n1,1.5,true,2020-01-01,2020-01-01 10:00:00,2020-01-01T00:00:00Z,x,\n\
                    2,,FALSE,2020-01-02,2020-01-02,2020-01-01T00:00:00+02:00,3,\n";
        let rec = tokenize(csv, b',').expect("tokenize");
        let names = header_names(&rec, 0).expect("names");
        assert_eq!(names, vec!["a", "column_2", "a_2", "d", "e", "f", "g", "h"]);
        let bad = tokenize(b"a,b\x00c\n1,2\n", b',').expect("tokenize");
        assert_eq!(header_names(&bad, 0).map_err(|e| e.0), Err(1));
        let bad = tokenize(b"\xff\n1\n", b',').expect("tokenize");
        assert_eq!(header_names(&bad, 0).map_err(|e| e.0), Err(0));
        let schema = infer_schema(&rec, 1, rec.len(), &names, &ValueFormat::default());
        let types: Vec<DataType> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            vec![
                DataType::Int64,
                DataType::Float64,
                DataType::Boolean,
                DataType::Date32,
                DataType::Timestamp(TimeUnit::Microsecond, None),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                DataType::Utf8,
                DataType::Utf8,
            ]
        );
    }
}
