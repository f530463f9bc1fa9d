//! End-to-end tests of the CSV module with tiny chunks, so that chunk boundaries fall
//! everywhere: inside quoted fields, between CR and LF, right after the header.
use std::io::Write;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create");
    f.write_all(content).expect("write");
    p
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).expect("open parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("builder")
        .build()
        .expect("reader");
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .expect("batches")
}

/// The int64 first column of `batches`, in order.
fn first_column_ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

fn tiny(chunk_bytes: usize) -> Tuning {
    Tuning {
        chunk_bytes,
        workers: 3,
        sample_bytes: 64,
    }
}

fn content() -> Vec<u8> {
    let mut s = String::from("id,note,flag\r\n");
    for i in 0..200 {
        let note = match i % 4 {
            0 => format!("\"multi\r\nline {i}, \"\"quoted\"\"\""),
            1 => String::new(),
            2 => format!("plain {i}"),
            _ => format!("\"{i}\""),
        };
        s.push_str(&format!("{i},{note},{}\r\n", i % 2 == 0));
    }
    s.into_bytes()
}

#[test]
fn every_chunk_size_gives_the_same_rows() {
    let dir = tempfile::tempdir().expect("dir");
    let src = write(dir.path(), "in.csv", &content());
    for chunk_bytes in [1, 7, 64, 1000, 1 << 20] {
        let dst = dir.path().join(format!("out{chunk_bytes}.parquet"));
        let stats = csv_to_parquet_tuned(&src, &dst, ConvertOptions::default(), tiny(chunk_bytes))
            .expect("convert");
        assert_eq!(stats.rows, 200, "chunk {chunk_bytes}");
        let batches = read_parquet(&dst);
        let ids = first_column_ids(&batches);
        assert_eq!(ids, (0..200).collect::<Vec<i64>>());
        let notes: Vec<Option<String>> = batches
            .iter()
            .flat_map(|b| {
                let a = b.column(1).as_string::<i32>();
                (0..a.len())
                    .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(notes[0].as_deref(), Some("multi\r\nline 0, \"quoted\""));
        assert_eq!(notes[1], None);
        assert_eq!(notes[3].as_deref(), Some("3"));
        assert_eq!(stats.null_counts[1], 50);
    }
}

#[test]
fn error_line_counts_newlines_in_earlier_chunks() {
    let dir = tempfile::tempdir().expect("dir");
    let mut c = content();
    c.extend_from_slice(b"oops,x,true\r\n");
    let src = write(dir.path(), "bad.csv", &c);
    // Header: line 1; each record with i % 4 == 0 spans two lines.
    let expected_line = 1 + 200 + 50 + 1;
    for chunk_bytes in [1, 50, 1 << 20] {
        let dst = dir.path().join("out.parquet");
        let err = csv_to_parquet_tuned(&src, &dst, ConvertOptions::default(), tiny(chunk_bytes))
            .unwrap_err();
        match err {
            KernelError::Format {
                location: Some(loc),
                reason,
                ..
            } => {
                assert_eq!(loc.line, expected_line, "chunk {chunk_bytes}");
                assert_eq!(loc.column, 1);
                assert!(reason.contains("int64"), "{reason}");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(!dst.exists(), "no output after a failure");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(leftovers.len(), 1, "only the input remains");
    }
}

#[test]
fn quarantine_keeps_good_rows_and_records_bad_ones() {
    let dir = tempfile::tempdir().expect("dir");
    // 30 good rows first, so that the sample (64 bytes here) infers `a` as int64.
    let mut c = String::from("a,b\n");
    for i in 0..30 {
        c.push_str(&format!("{i},g\n"));
    }
    c.push_str("1,x\n2\n3,y,z\nfour,w\n5,v\n");
    let src = write(dir.path(), "q.csv", c.as_bytes());
    let dst = dir.path().join("q.parquet");
    let rejects = dir.path().join("q.rejects.csv");
    let options = ConvertOptions {
        on_error: OnError::Quarantine,
        rejects: Some(rejects.clone()),
        ..Default::default()
    };
    let stats = csv_to_parquet_tuned(&src, &dst, options, tiny(3)).expect("convert");
    assert_eq!((stats.rows, stats.rejected_rows), (32, 3));
    let text = std::fs::read_to_string(&rejects).expect("rejects");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "line,column,column_name,reason,record");
    assert_eq!(lines[1], "33,2,b,\"expected 2 fields, found 1\",2");
    assert_eq!(lines[2], "34,3,,\"expected 2 fields, found 3\",\"3,y,z\"");
    assert_eq!(
        lines[3],
        "35,1,a,\"cannot parse \"\"four\"\" as int64\",\"four,w\""
    );
}

#[test]
fn quarantine_needs_a_rejects_path() {
    let dir = tempfile::tempdir().expect("dir");
    let src = write(dir.path(), "q.csv", b"a\n1\n");
    let options = ConvertOptions {
        on_error: OnError::Quarantine,
        ..Default::default()
    };
    let err = csv_to_parquet(&src, &dir.path().join("o.parquet"), options).unwrap_err();
    assert!(matches!(err, KernelError::Invalid(_)));
}

#[test]
fn read_csv_streams_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let src = write(dir.path(), "in.csv", &content());
    let reader = read_csv_tuned(&src, Dialect::default(), None, tiny(40)).expect("open");
    let batches: Vec<RecordBatch> = reader
        .collect::<std::result::Result<_, _>>()
        .expect("batches");
    assert!(batches.len() > 10);
    let ids = first_column_ids(&batches);
    assert_eq!(ids, (0..200).collect::<Vec<i64>>());
}

#[test]
fn read_csv_reports_late_errors_with_location() {
    let dir = tempfile::tempdir().expect("dir");
    let mut c = content();
    c.extend_from_slice(b"1,x,maybe\n");
    let src = write(dir.path(), "bad.csv", &c);
    let reader = read_csv_tuned(&src, Dialect::default(), None, tiny(100)).expect("open");
    let err = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bad.csv:252:3"), "{msg}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Random bytes never panic, hang or leave files behind: a result or an error.
    #[test]
    fn random_input_never_panics(bytes in super::tokenize::csv_like_bytes(300), chunk in 1usize..64) {
        let dir = tempfile::tempdir().expect("dir");
        let src = write(dir.path(), "r.csv", &bytes);
        let dst = dir.path().join("r.parquet");
        let rejects = dir.path().join("r.rej.csv");
        for on_error in [OnError::Fail, OnError::Quarantine] {
            let options = ConvertOptions { on_error, rejects: Some(rejects.clone()), ..Default::default() };
            match csv_to_parquet_tuned(&src, &dst, options, tiny(chunk)) {
                Ok(stats) => proptest::prop_assert!(dst.exists() && stats.rows <= bytes.len() as u64),
                Err(KernelError::Internal(msg)) => proptest::prop_assert!(false, "internal error: {}", msg),
                Err(_) => proptest::prop_assert!(!dst.exists()),
            }
            let _ = std::fs::remove_file(&dst);
        }
    }
}

#[test]
fn utf16_and_nul_headers_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let utf16: Vec<u8> = b"\xff\xfe"
        .iter()
        .copied()
        .chain("a,b\n1,2\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let src = write(dir.path(), "u16.csv", &utf16);
    let err = csv_to_parquet(&src, &dir.path().join("o.parquet"), Default::default()).unwrap_err();
    assert!(err.to_string().contains("UTF-16LE"), "{err}");
    assert!(err.to_string().contains("encoding utf-16"), "{err}");
    let src = write(dir.path(), "nul.csv", &[0u8; 64]);
    let err = csv_to_parquet(&src, &dir.path().join("o.parquet"), Default::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains(":1:1: header name contains a NUL byte"),
        "{err}"
    );
}

#[test]
fn float_overflow_is_a_rejected_row_not_infinity() {
    let dir = tempfile::tempdir().expect("dir");
    let src = write(dir.path(), "f.csv", b"x\n1.5\n1e999\ninf\n");
    let rejects = dir.path().join("r.csv");
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("x", arrow::datatypes::DataType::Float64, true),
    ]));
    let options = ConvertOptions {
        on_error: OnError::Quarantine,
        rejects: Some(rejects.clone()),
        schema: Some(schema),
        ..Default::default()
    };
    let stats = csv_to_parquet(&src, &dir.path().join("o.parquet"), options).expect("convert");
    assert_eq!((stats.rows, stats.rejected_rows), (2, 1));
    let text = std::fs::read_to_string(rejects).expect("rejects");
    assert!(
        text.contains("cannot parse \"\"1e999\"\" as double"),
        "{text}"
    );
}

#[test]
fn constant_columns_fill_every_row_and_reserve_their_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = write(dir.path(), "in.csv", &content());
    let dst = dir.path().join("out.parquet");
    let options = ConvertOptions {
        constants: vec![("batch_id".into(), "b-1".into())],
        ..ConvertOptions::default()
    };
    let stats = csv_to_parquet_tuned(&src, &dst, options, tiny(97)).expect("convert");
    assert_eq!(stats.rows, 200);
    let names: Vec<&str> = stats
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["id", "note", "flag", "batch_id"]);
    let batches = read_parquet(&dst);
    assert_eq!(first_column_ids(&batches), (0..200).collect::<Vec<i64>>());
    for b in &batches {
        let ids = b.column(3).as_string::<i32>();
        assert_eq!(ids.null_count(), 0);
        assert!(ids.iter().all(|v| v == Some("b-1")));
    }
    // a file that has the column already is refused, naming it
    let clash = write(dir.path(), "clash.csv", b"id,batch_id\n1,x\n");
    let options = ConvertOptions {
        constants: vec![("batch_id".into(), "b-1".into())],
        ..ConvertOptions::default()
    };
    let err = csv_to_parquet(&clash, &dst, options).expect_err("reserved name");
    assert!(err.to_string().contains("\"batch_id\""), "{err}");
}
