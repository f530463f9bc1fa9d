//! End-to-end tests of dialects through the whole reader (tiny chunks, several workers),
//! and property tests that drive every dialect option with random tables and bytes.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Schema};
use proptest::prelude::*;

use super::sniffer::{sniff_bytes, sniff_file};
use super::{encoding_for, DateFormat, Dialect, DialectOverrides, Ragged};
use crate::csv::{read_csv_tuned, Tuning};

fn tiny() -> Tuning {
    Tuning {
        chunk_bytes: 37,
        workers: 3,
        sample_bytes: 64,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create");
    f.write_all(bytes).expect("write");
    p
}

/// Rows of cells as text (None for null).
type Cells = Vec<Vec<Option<String>>>;

/// Every cell as text (None for null), and the column names.
fn read_strings(
    path: &Path,
    dialect: Dialect,
    columns: Option<usize>,
    tuning: Tuning,
) -> crate::error::Result<(Vec<String>, Cells)> {
    let schema = columns.map(|n| {
        Arc::new(Schema::new(
            (0..n)
                .map(|i| Field::new(format!("column_{}", i + 1), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    });
    let mut d = dialect;
    if schema.is_some() {
        d.header_rows = 0;
    }
    let reader = read_csv_tuned(path, d, schema, tuning)?;
    let names: Vec<String> = arrow::record_batch::RecordBatchReader::schema(&reader)
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| crate::error::KernelError::Internal(e.to_string()))?;
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        let c = arrow::compute::cast(c, &DataType::Utf8).expect("cast");
                        let s = c.as_string::<i32>();
                        (!s.is_null(r)).then(|| s.value(r).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok((names, rows))
}

fn cells(rows: &[&[&str]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| (!c.is_empty()).then(|| c.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn european_report_in_windows_1252() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "Umsatzbericht 2025\r\nStand: 31.12.2025\r\nNr;Kunde;Betrag;Datum\r\n1;Müller;1.234,50;31.12.2025\r\n2;Zoë;NA;01.02.2025\r\n3;Dupré;-7,5;15.03.2025\r\nSumme;;1.227,00;\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let path = write(dir.path(), "eu.csv", &bytes);
    let sniffed = sniff_file(&path, &DialectOverrides::default()).expect("sniff");
    let d = &sniffed.dialect;
    assert_eq!(d.encoding, encoding_rs::WINDOWS_1252);
    assert_eq!(d.delimiter, b";");
    assert_eq!((d.skip_rows, d.header_rows, d.skip_footer), (2, 1, 1));
    assert_eq!((d.values.decimal, d.values.thousands), (b',', Some(b'.')));
    assert_eq!(
        d.values.date.as_ref().map(DateFormat::spec),
        Some("%d.%m.%Y")
    );
    assert_eq!(d.null_values, vec![b"NA".to_vec()]);
    let reader = read_csv_tuned(&path, sniffed.dialect.clone(), None, tiny()).expect("read");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let schema = batches[0].schema();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| crate::csv::type_name(f.data_type()))
        .collect();
    assert_eq!(types, vec!["int64", "string", "double", "date32"]);
    let (_, rows) = read_strings(&path, sniffed.dialect, None, tiny()).expect("read");
    assert_eq!(
        rows,
        cells(&[
            &["1", "Müller", "1234.5", "2025-12-31"],
            &["2", "Zoë", "", "2025-02-01"],
            &["3", "Dupré", "-7.5", "2025-03-15"],
        ])
    );
}

#[test]
fn excel_unicode_text_utf16_tab() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = vec![0xff, 0xfe];
    for u in "id\tname\r\n1\tÅsa\r\n2\t\"a\tb\"\r\n".encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let path = write(dir.path(), "excel.txt", &bytes);
    let sniffed = sniff_file(&path, &DialectOverrides::default()).expect("sniff");
    assert_eq!(sniffed.dialect.encoding, encoding_rs::UTF_16LE);
    assert_eq!(sniffed.dialect.delimiter, b"\t");
    let (names, rows) = read_strings(&path, sniffed.dialect, None, tiny()).expect("read");
    assert_eq!(names, vec!["id", "name"]);
    assert_eq!(rows, cells(&[&["1", "Åsa"], &["2", "a\tb"]]));
}

#[test]
fn pipes_single_quotes_backslash_escapes_multi_row_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "|Money|\nid|amount|note\n1|2.5|'it\\'s|here'\n2|NULL|'back\\\\slash'\n3|4|plain\n";
    let path = write(dir.path(), "pipes.csv", text.as_bytes());
    let d = sniff_file(&path, &DialectOverrides::default())
        .expect("sniff")
        .dialect;
    assert_eq!(
        (d.delimiter.as_slice(), d.quote, d.escape, d.header_rows),
        (&b"|"[..], Some(b'\''), Some(b'\\'), 2)
    );
    let (names, rows) = read_strings(&path, d, None, tiny()).expect("read");
    assert_eq!(names, vec!["id", "Money amount", "note"]);
    assert_eq!(
        rows,
        cells(&[
            &["1", "2.5", "it's|here"],
            &["2", "", "back\\slash"],
            &["3", "4.0", "plain"],
        ])
    );
}

#[test]
fn ragged_rows_pad_truncate_and_reject_keep_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "r.csv", b"a,b,c\n1,2\n3,4,5\n6,7,8,9\n");
    let pad = Dialect {
        ragged: Ragged::Pad,
        ..Dialect::default()
    };
    let err = read_strings(&path, pad.clone(), None, tiny()).expect_err("long row");
    assert!(err.to_string().contains(":4:"), "{err}");
    let truncate = Dialect {
        ragged: Ragged::Truncate,
        ..Dialect::default()
    };
    let err = read_strings(&path, truncate, None, tiny()).expect_err("short row");
    assert!(err.to_string().contains(":2:"), "{err}");
    let path = write(dir.path(), "r2.csv", b"# c\na,b,c\n1,2\n# x\n3,4,5\n");
    let d = Dialect {
        ragged: Ragged::Pad,
        comment: Some(b"#".to_vec()),
        ..Dialect::default()
    };
    let (_, rows) = read_strings(&path, d, None, tiny()).expect("read");
    assert_eq!(rows, cells(&[&["1", "2", ""], &["3", "4", "5"]]));
    // Errors name the line in the file, after skipped lines.
    let path = write(dir.path(), "r3.csv", b"title\n\nx;y\n1;2\n# note\n3;oops\n");
    let d = Dialect {
        delimiter: b";".to_vec(),
        skip_rows: 2,
        comment: Some(b"#".to_vec()),
        ..Dialect::default()
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Int64, true),
    ]));
    let err = read_csv_tuned(&path, d, Some(schema), tiny())
        .expect("open")
        .find_map(Result::err)
        .expect("bad value");
    assert!(err.to_string().contains(":6:2"), "{err}");
}

#[test]
fn undecidable_encoding_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = "id,name\n1,Jürgen\n2,Zoë\n".as_bytes().to_vec();
    bytes.extend_from_slice(b"3,Fran\xe7ois\n");
    let path = write(dir.path(), "mixed.csv", &bytes);
    let err = sniff_file(&path, &DialectOverrides::default()).expect_err("mixed");
    assert!(err.to_string().contains("undecidable encoding"), "{err}");
    // Given an encoding the bytes are not valid in, reading fails with the offset.
    let d = Dialect {
        encoding: encoding_rs::UTF_16BE,
        ..Dialect::default()
    };
    let path = write(dir.path(), "odd.csv", b"\xd8\x00\x00a");
    let err = read_strings(&path, d, None, tiny()).expect_err("lone surrogate");
    assert!(err.to_string().contains("not valid UTF-16BE"), "{err}");
}

// ------------------------------------------------------------------ property tests

const ALPHABET: &[&str] = &[
    "a", "Z", "0", "7", " ", ",", ";", "|", "\t", "'", "\"", "\\", "#", "\n", "é", "€", "ß", "NA",
    ".", "-",
];

fn cell() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..5).prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
struct Case {
    dialect: Dialect,
    preamble: Vec<String>,
    header: Vec<Vec<String>>,
    rows: Vec<Vec<String>>,
    footer: Vec<String>,
}

fn dialect() -> impl Strategy<Value = Dialect> {
    (
        proptest::sample::select(vec!["utf-8", "windows-1252", "utf-16le", "utf-16be"]),
        proptest::sample::select(vec![",", ";", "|", "\t", ", ", "||", ";;"]),
        proptest::sample::select(vec![Some(b'"'), Some(b'\''), None]),
        any::<bool>(),
        0usize..3,
        0usize..3,
        any::<bool>(),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        proptest::sample::select(vec![Ragged::Reject, Ragged::Pad, Ragged::Truncate]),
    )
        .prop_map(
            |(enc, delim, quote, escape, skip, header, comment, footer, trim, nulls, ragged)| {
                Dialect {
                    encoding: encoding_for(enc).expect("encoding"),
                    delimiter: delim.as_bytes().to_vec(),
                    quote,
                    escape: (escape && quote.is_some()).then_some(b'\\'),
                    skip_rows: skip,
                    header_rows: header,
                    comment: comment.then(|| b"#".to_vec()),
                    skip_footer: footer,
                    trim,
                    null_values: if nulls {
                        vec![b"NA".to_vec()]
                    } else {
                        Vec::new()
                    },
                    ragged,
                    ..Dialect::default()
                }
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (dialect(), 1usize..4, 0usize..6).prop_flat_map(|(d, ncols, nrows)| {
        let h = d.header_rows;
        let skip = d.skip_rows;
        let footer = d.skip_footer;
        (
            Just(d),
            proptest::collection::vec("[A-Za-z ,;]{0,8}", skip),
            proptest::collection::vec(proptest::collection::vec("[a-z]{1,4}", ncols), h),
            proptest::collection::vec(proptest::collection::vec(cell(), ncols), nrows),
            proptest::collection::vec("[A-Za-z:][A-Za-z :]{0,7}", footer),
        )
            .prop_map(|(dialect, preamble, header, rows, footer)| Case {
                dialect,
                preamble,
                header,
                rows,
                footer,
            })
    })
}

/// A cell as the dialect writes it: quoted (and escaped) when it must be.
fn render_cell(c: &str, d: &Dialect) -> Option<String> {
    let delim = std::str::from_utf8(&d.delimiter).expect("utf-8");
    let Some(q) = d.quote.map(char::from) else {
        let edge = |ch: Option<char>| ch.is_some_and(|ch| delim.contains(ch));
        let unsafe_ = c.contains(delim)
            || edge(c.chars().next())
            || edge(c.chars().last())
            || c.contains('\n')
            || (d.trim && c.trim_matches([' ', '\t']) != c)
            || (c.starts_with('#') && d.comment.is_some());
        return (!unsafe_).then(|| c.to_string());
    };
    let edge = |ch: Option<char>| ch.is_some_and(|ch| delim.contains(ch));
    let needs = c.contains(delim)
        || edge(c.chars().next())
        || edge(c.chars().last())
        || c.contains(q)
        || c.contains('\n')
        || c.trim_matches([' ', '\t']) != c
        || c.starts_with('#')
        || c.is_empty()
        || delim.starts_with(' ')
        || delim.ends_with(' ')
        || d.escape.is_some_and(|e| c.contains(char::from(e)));
    if !needs {
        return Some(c.to_string());
    }
    let body = match d.escape.map(char::from) {
        Some(e) => c
            .replace(e, &format!("{e}{e}"))
            .replace(q, &format!("{e}{q}")),
        None => c.replace(q, &format!("{q}{q}")),
    };
    Some(format!("{q}{body}{q}"))
}

fn render(case: &Case) -> Option<Vec<u8>> {
    let d = &case.dialect;
    let delim = std::str::from_utf8(&d.delimiter).expect("utf-8");
    let mut lines: Vec<String> = case.preamble.clone();
    for h in &case.header {
        lines.push(h.join(delim));
    }
    for (i, row) in case.rows.iter().enumerate() {
        if d.comment.is_some() && i == 1 {
            lines.push("# a comment".into());
        }
        let rendered: Option<Vec<String>> = row.iter().map(|c| render_cell(c, d)).collect();
        let line = rendered?.join(delim);
        if line.is_empty() {
            return None; // a blank line is no row
        }
        lines.push(line);
    }
    lines.extend(case.footer.iter().cloned());
    let text: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    let bytes = match d.encoding.name() {
        "UTF-16LE" => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        "UTF-16BE" => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        _ => {
            let (b, _, unmappable) = d.encoding.encode(&text);
            if unmappable {
                return None;
            }
            b.into_owned()
        }
    };
    Some(bytes)
}

fn expected(case: &Case) -> Vec<Vec<Option<String>>> {
    let d = &case.dialect;
    case.rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    let null = c.is_empty() || (d.null_values.iter().any(|n| n == c.as_bytes()));
                    (!null).then(|| c.clone())
                })
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Any table written in any dialect reads back cell for cell, whatever the chunking.
    #[test]
    fn every_dialect_option_round_trips(case in case(), chunk in 1usize..64) {
        let Some(bytes) = render(&case) else { return Ok(()) };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "t.csv", &bytes);
        let ncols = case.rows.first().map(Vec::len).unwrap_or(0);
        let tuning = Tuning { chunk_bytes: chunk, workers: 2, sample_bytes: 64 };
        let got = read_strings(&path, case.dialect.clone(), Some(ncols.max(1)), tuning);
        if case.rows.is_empty() {
            return Ok(()); // only the width of the header: covered by the examples
        }
        let (_, rows) = got.map_err(|e| TestCaseError::fail(e.to_string()))?;
        // With no header the first rows are data; header rows are data too here.
        let skip = case.dialect.header_rows;
        let header_as_data: Vec<Vec<Option<String>>> = case.header.iter().map(|h| h.iter().map(|c| Some(c.clone())).collect()).collect();
        let want: Vec<Vec<Option<String>>> = header_as_data.into_iter().chain(expected(&case)).collect();
        prop_assert_eq!(rows.len(), want.len(), "header rows {}", skip);
        prop_assert_eq!(rows, want);
    }

    /// Random bytes in any dialect: a table or an error, never a panic, and the sniffer
    /// always answers.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), d in dialect()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "r.csv", &bytes);
        let outcome = std::panic::catch_unwind(|| {
            let _ = read_strings(&path, d.clone(), None, tiny());
            let _ = sniff_bytes(&bytes, None, true, &DialectOverrides::default());
            if let Ok(s) = sniff_file(&path, &DialectOverrides::default()) {
                let _ = read_strings(&path, s.dialect, None, tiny());
            }
        });
        prop_assert!(outcome.is_ok());
    }
}
