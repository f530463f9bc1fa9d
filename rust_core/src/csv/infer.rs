//! Header names and schema inference from a sample of records.
use std::collections::HashSet;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

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

fn classify(v: &[u8]) -> u8 {
    if values::parse_bool(v).is_some() {
        return BOOL;
    }
    if values::parse_i64(v).is_some() {
        return INT | FLOAT;
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
    if values::parse_f64(v).is_some() {
        return FLOAT;
    }
    0
}

/// Infer column types from `records[from..to]` (records with the wrong field count are
/// ignored): bool, int64, double, date32, timestamp[us], timestamp[us, UTC], else utf8.
/// A column with no value in the sample is utf8. Every column is nullable.
pub fn infer_schema(rec: &Records, from: usize, to: usize, names: &[String]) -> Schema {
    let n = names.len();
    let mut masks = vec![ALL; n];
    let mut seen = vec![false; n];
    for r in from..to.min(rec.len()) {
        if rec.num_fields(r) != n {
            continue;
        }
        for (c, mask) in masks.iter_mut().enumerate() {
            let v = rec.field(r, c);
            if v.is_empty() || *mask == 0 {
                continue;
            }
            seen[c] = true;
            *mask &= classify(v);
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
        let schema = infer_schema(&rec, 1, rec.len(), &names);
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
