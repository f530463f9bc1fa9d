"""Correctness of csv_to_parquet / read_csv on well-formed input, against the contract.

Each generated file is checked against two oracles: the values the generator knows it
wrote (tests/support/csv_cases.py) and pyarrow's own CSV parser forced to the same schema.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aerofs_pipelines.kernels import csv_to_parquet, read_csv
from tests.support.csv_cases import (
    CsvCase,
    Layout,
    large_case,
    mixed_case,
    pyarrow_reference,
    type_name,
)

UTC = dt.UTC

# --------------------------------------------------------------------------- helpers


def normalize(table: pa.Table) -> pa.Table:
    """large_string → string, so either string layout is accepted."""
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def assert_tables_equal(got: pa.Table, expected: pa.Table, what: str = "") -> None:
    got, expected = normalize(got), normalize(expected)
    assert got.column_names == expected.column_names, what
    for name in expected.column_names:
        assert got.schema.field(name).type == expected.schema.field(name).type, (
            f"{what}: column {name!r} has type {got.schema.field(name).type}, "
            f"expected {expected.schema.field(name).type}"
        )
    assert got.num_rows == expected.num_rows, what
    for name in expected.column_names:
        a, b = got[name], expected[name]
        if a.equals(b):
            continue
        la, lb = a.to_pylist(), b.to_pylist()
        for i, (x, y) in enumerate(zip(la, lb, strict=True)):
            if x != y or type(x) is not type(y):
                pytest.fail(f"{what}: column {name!r} row {i}: got {x!r}, expected {y!r}")
        pytest.fail(f"{what}: column {name!r} differs (chunk layout / null bitmap?)")


def convert(src: Path, dst: Path, **kwargs: Any) -> tuple[dict[str, Any], pa.Table]:
    stats = csv_to_parquet(src, dst, **kwargs)
    assert dst.exists()
    return dict(stats), pq.read_table(dst)


def check_stats(stats: dict[str, Any], case: CsvCase, dst: Path, rows: int | None = None) -> None:
    rows = case.rows if rows is None else rows
    assert stats["rows"] == rows
    assert stats["rejected_rows"] == 0
    assert stats["columns"] == case.columns
    assert stats["schema"] == {n: type_name(case.types[n]) for n in case.columns}
    assert stats["bytes_read"] == case.size == os.path.getsize(case.path)
    assert stats["bytes_written"] == os.path.getsize(dst)
    assert stats["row_groups"] == pq.ParquetFile(dst).metadata.num_row_groups
    assert stats["row_groups"] >= 1
    assert stats["seconds"] >= 0.0
    assert pq.ParquetFile(dst).metadata.num_rows == rows


def text_file(tmp_path: Path, text: str | bytes, name: str = "in.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


# --------------------------------------------------------------------------- generated files

LAYOUTS = {
    "lf": Layout(),
    "crlf": Layout(line_ending="\r\n"),
    "mixed-endings": Layout(line_ending="mixed"),
    "bom-crlf": Layout(line_ending="\r\n", bom=True),
    "bom-lf": Layout(bom=True),
    "no-trailing-newline": Layout(trailing_newline=False),
    "crlf-no-trailing-newline": Layout(line_ending="\r\n", trailing_newline=False),
    "blank-last-line": Layout(blank_last_line=True),
    "crlf-blank-last-line": Layout(line_ending="\r\n", blank_last_line=True),
    "heavily-quoted": Layout(quote_prob=0.6),
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_mixed_file_matches_oracle_and_pyarrow(tmp_path: Path, layout: Layout) -> None:
    seed = list(LAYOUTS.values()).index(layout) + 11
    case = mixed_case(tmp_path / "mixed.csv", 1500, seed, layout)
    dst = tmp_path / "out.parquet"
    stats, table = convert(case.path, dst)
    check_stats(stats, case, dst)
    assert stats["null_counts"] == case.null_counts()
    assert_tables_equal(table, case.expected_table(), "vs generator")
    ref = pyarrow_reference(case.path, case.columns, case.types)
    assert_tables_equal(table, ref, "vs pyarrow")


def test_mixed_file_without_header(tmp_path: Path) -> None:
    case = mixed_case(tmp_path / "nohdr.csv", 800, 5, Layout(has_header=False))
    dst = tmp_path / "out.parquet"
    stats, table = convert(case.path, dst, has_header=False)
    assert case.columns == [f"column_{i}" for i in range(1, 11)]
    check_stats(stats, case, dst)
    assert_tables_equal(table, case.expected_table(), "vs generator")
    ref = pyarrow_reference(case.path, case.columns, case.types, has_header=False)
    assert_tables_equal(table, ref, "vs pyarrow")


def test_tsv(tmp_path: Path) -> None:
    case = mixed_case(tmp_path / "data.tsv", 1000, 6, Layout(delimiter="\t"))
    assert b"label, quoted\t" in case.path.read_bytes()  # the comma needs no quoting in TSV
    dst = tmp_path / "out.parquet"
    stats, table = convert(case.path, dst, delimiter="\t")
    check_stats(stats, case, dst)
    assert_tables_equal(table, case.expected_table(), "vs generator")
    ref = pyarrow_reference(case.path, case.columns, case.types, delimiter="\t")
    assert_tables_equal(table, ref, "vs pyarrow")


def test_semicolon_delimiter_with_commas_in_values(tmp_path: Path) -> None:
    src = text_file(tmp_path, 'a;b\n1,5;x,y\n2;"p;q"\n')
    _, table = convert(src, tmp_path / "o.parquet", delimiter=";")
    assert table.to_pydict() == {"a": ["1,5", "2"], "b": ["x,y", "p;q"]}


def test_read_csv_equals_parquet(tmp_path: Path) -> None:
    case = mixed_case(tmp_path / "mixed.csv", 1200, 21, Layout(line_ending="\r\n", bom=True))
    dst = tmp_path / "out.parquet"
    _, table = convert(case.path, dst)
    reader = read_csv(case.path)
    assert isinstance(reader, pa.RecordBatchReader)
    streamed = reader.read_all()
    assert [f.name for f in reader.schema] == case.columns
    assert_tables_equal(streamed, table, "read_csv vs parquet")
    assert_tables_equal(streamed, case.expected_table(), "read_csv vs generator")


def test_read_csv_tsv_without_header(tmp_path: Path) -> None:
    src = text_file(tmp_path, '1\tx\n2\t\n3\t"a\tb"\n', "t.tsv")
    table = read_csv(src, delimiter="\t", has_header=False).read_all()
    assert_tables_equal(
        table,
        pa.table({"column_1": pa.array([1, 2, 3]), "column_2": pa.array(["x", None, "a\tb"])}),
    )


# --------------------------------------------------------------------------- large file


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> CsvCase:
    return large_case(tmp_path_factory.mktemp("large") / "large.csv", 30_000_000, 2024)


@pytest.fixture(scope="module")
def large_converted(
    large: CsvCase, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    dst = tmp_path_factory.mktemp("large_out") / "large.parquet"
    stats = dict(csv_to_parquet(large.path, dst))
    return stats, dst


def test_large_file_matches_pyarrow(large: CsvCase, large_converted: Any) -> None:
    stats, dst = large_converted
    assert large.size > 25_000_000
    check_stats(stats, large, dst, rows=large.extra["rows"])
    assert stats["null_counts"] == large.extra["null_counts"]
    table = pq.read_table(dst)
    ref = pyarrow_reference(large.path, large.columns, large.types)
    assert_tables_equal(table, ref, "large vs pyarrow")


def test_large_file_read_csv_streams_in_batches(large: CsvCase, large_converted: Any) -> None:
    _, dst = large_converted
    reader = read_csv(large.path)
    batches = list(reader)
    assert len(batches) > 1, "a 30 MB file should stream as several batches"
    streamed = pa.Table.from_batches(batches, schema=reader.schema)
    assert_tables_equal(streamed, pq.read_table(dst), "read_csv vs parquet (large)")


def test_gil_released_during_conversion(large: CsvCase, tmp_path: Path) -> None:
    """The main thread keeps running Python while a conversion runs in another thread."""
    dst = tmp_path / "gil.parquet"
    window: dict[str, float] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            window["start"] = time.perf_counter()
            csv_to_parquet(large.path, dst)
            window["end"] = time.perf_counter()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    stamps: list[float] = []
    t = threading.Thread(target=work)
    t.start()
    n = 0
    while t.is_alive():
        n += 1
        if n % 200 == 0:
            stamps.append(time.perf_counter())
    t.join()
    assert not errors, errors
    start, end = window["start"], window["end"]
    duration = end - start
    inside = [s for s in stamps if start <= s <= end]
    points = [start, *inside, end]
    gaps = [b - a for a, b in itertools.pairwise(points)]
    assert duration > 0.0
    # Holding the GIL for the whole call would leave one gap as long as the call.
    assert max(gaps) < 0.5 * duration + 0.05 or duration < 0.05, (
        f"main thread stalled for {max(gaps):.3f}s of a {duration:.3f}s conversion "
        f"({len(inside)} samples)"
    )
    assert len(inside) >= 10, f"only {len(inside)} main-thread samples in {duration:.3f}s"
    assert pq.ParquetFile(dst).metadata.num_rows == large.extra["rows"]


def test_progress_callback(large: CsvCase, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    stats = csv_to_parquet(
        large.path, tmp_path / "p.parquet", progress=lambda b, r: calls.append((b, r))
    )
    for (b0, r0), (b1, r1) in itertools.pairwise(calls):
        assert b1 >= b0 and r1 >= r0, calls
    for b, r in calls:
        assert 0 <= b <= large.size and 0 <= r <= stats["rows"], (b, r)
    assert calls, "progress never called while converting a 30 MB file"
    if stats["seconds"] > 1.0:
        assert len(calls) >= 2, "progress should be reported a few times a second"


def test_progress_exception_aborts_conversion(large: CsvCase, tmp_path: Path) -> None:
    """An exception raised by the callback stops the conversion and is re-raised as is."""

    class Stop(Exception):
        pass

    def callback(bytes_read: int, rows: int) -> None:
        raise Stop(bytes_read, rows)

    with pytest.raises(Stop):
        csv_to_parquet(large.path, tmp_path / "p.parquet", progress=callback)
    assert list(tmp_path.iterdir()) == [], "output or temp file left after an aborted run"


# --------------------------------------------------------------------------- compression


@pytest.mark.parametrize(
    ("compression", "codecs"),
    [
        ("zstd", {"ZSTD"}),
        ("snappy", {"SNAPPY"}),
        ("lz4", {"LZ4", "LZ4_RAW"}),
        ("none", {"UNCOMPRESSED"}),
    ],
)
def test_compression(tmp_path: Path, compression: str, codecs: set[str]) -> None:
    case = mixed_case(tmp_path / "c.csv", 500, 8)
    dst = tmp_path / "out.parquet"
    stats, table = convert(case.path, dst, compression=compression)
    check_stats(stats, case, dst)
    meta = pq.ParquetFile(dst).metadata
    for rg in range(meta.num_row_groups):
        for col in range(meta.num_columns):
            assert meta.row_group(rg).column(col).compression in codecs
    assert_tables_equal(table, case.expected_table())


def test_default_compression_is_zstd(tmp_path: Path) -> None:
    src = text_file(tmp_path, "a,b\n1,x\n2,y\n")
    csv_to_parquet(src, tmp_path / "o.parquet")
    meta = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_bad_arguments_raise_value_error(tmp_path: Path) -> None:
    src = text_file(tmp_path, "a\n1\n")
    with pytest.raises(ValueError):
        csv_to_parquet(src, tmp_path / "o.parquet", compression="brotli")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        csv_to_parquet(src, tmp_path / "o.parquet", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        csv_to_parquet(src, tmp_path / "o.parquet", delimiter="")
    with pytest.raises(ValueError):
        csv_to_parquet(src, tmp_path / "o.parquet", delimiter='"')
    assert not (tmp_path / "o.parquet").exists()


# --------------------------------------------------------------------------- header


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("a,a,a", ["a", "a_2", "a_3"]),
        (",b,", ["column_1", "b", "column_3"]),
        ("x,,x,", ["x", "column_2", "x_2", "column_4"]),
        ('"",y', ["column_1", "y"]),
        ('"a,b","line\nbreak","q""q"', ["a,b", "line\nbreak", 'q"q']),
        ("\ufeffid,name", ["id", "name"]),
        ("ünï,日本,🎉", ["ünï", "日本", "🎉"]),
        (" sp ,tab\t", [" sp ", "tab\t"]),
    ],
)
def test_header_names(tmp_path: Path, header: str, names: list[str]) -> None:
    n = len(names)
    src = text_file(tmp_path, header + "\n" + ",".join(str(i) for i in range(n)) + "\n")
    stats, table = convert(src, tmp_path / "o.parquet")
    assert stats["columns"] == names
    assert table.column_names == names
    assert table.to_pylist() == [{name: i for i, name in enumerate(names)}]
    assert read_csv(src).schema.names == names


def test_bom_is_stripped_without_header(tmp_path: Path) -> None:
    src = text_file(tmp_path, "\ufeff1,x\r\n2,y\r\n")
    stats, table = convert(src, tmp_path / "o.parquet", has_header=False)
    assert stats["schema"] == {"column_1": "int64", "column_2": "string"}
    assert table.to_pydict() == {"column_1": [1, 2], "column_2": ["x", "y"]}


def test_has_header_false_keeps_first_line_as_data(tmp_path: Path) -> None:
    src = text_file(tmp_path, "a,b\nc,d\n")
    stats, table = convert(src, tmp_path / "o.parquet", has_header=False)
    assert stats["rows"] == 2
    assert table.to_pydict() == {"column_1": ["a", "c"], "column_2": ["b", "d"]}


# --------------------------------------------------------------------------- inference

TS = dt.datetime
INFERENCE = [
    ("bool-any-case", ["True", "FALSE", "tRuE", "false"], "bool", [True, False, True, False]),
    (
        "int64",
        ["1", "-2", "9223372036854775807", "-9223372036854775808"],
        "int64",
        [1, -2, 2**63 - 1, -(2**63)],
    ),
    ("int-and-float", ["1", "2.5", "-3"], "double", [1.0, 2.5, -3.0]),
    ("float-exponent", ["1e3", "-2.5E-2", "0.125"], "double", [1000.0, -0.025, 0.125]),
    ("date", ["2024-02-29", "1999-12-31"], "date32", [dt.date(2024, 2, 29), dt.date(1999, 12, 31)]),
    (
        "timestamp",
        ["2024-02-29T12:34:56", "2024-02-29 01:02:03.5", "2024-02-29T01:02:03.123456789"],
        "timestamp[us]",
        [
            TS(2024, 2, 29, 12, 34, 56),
            TS(2024, 2, 29, 1, 2, 3, 500000),
            TS(2024, 2, 29, 1, 2, 3, 123456),
        ],
    ),
    (
        "timestamp-utc",
        ["2024-01-01T00:00:00Z", "2024-01-01T05:30:00+05:30", "2023-12-31 19:00:00-05:00"],
        "timestamp[us, tz=UTC]",
        [TS(2024, 1, 1, tzinfo=UTC)] * 3,
    ),
    (
        "timestamp-utc-fraction",
        ["2024-01-01 00:00:00.25+01:00", "2024-06-30T23:59:59.999999Z"],
        "timestamp[us, tz=UTC]",
        [
            TS(2023, 12, 31, 23, 0, 0, 250000, tzinfo=UTC),
            TS(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        ],
    ),
    (
        "naive-and-aware-mixed-is-string",
        ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00"],
        "string",
        ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00"],
    ),
    ("int-and-text", ["1", "abc"], "string", ["1", "abc"]),
    ("bool-and-int", ["true", "1"], "string", ["true", "1"]),
    ("date-and-int", ["2024-01-01", "7"], "string", ["2024-01-01", "7"]),
    ("invalid-date", ["2024-02-30", "2024-01-01"], "string", ["2024-02-30", "2024-01-01"]),
    (
        "null-words-are-strings",
        ["NA", "null", "NULL", "N/A", "NaN", "None"],
        "string",
        ["NA", "null", "NULL", "N/A", "NaN", "None"],
    ),
    ("unicode", ["日本語", "ünï", "🎉"], "string", ["日本語", "ünï", "🎉"]),
]


@pytest.mark.parametrize(
    ("values", "expected_type", "expected"),
    [c[1:] for c in INFERENCE],
    ids=[c[0] for c in INFERENCE],
)
def test_type_inference(
    tmp_path: Path, values: list[str], expected_type: str, expected: list
) -> None:
    text = "k,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))
    src = text_file(tmp_path, text)
    stats, table = convert(src, tmp_path / "o.parquet")
    assert stats["schema"] == {"k": "int64", "v": expected_type}
    assert type_name(table.schema.field("v").type) == expected_type
    got = table["v"].to_pylist()
    assert got == expected
    if expected_type.startswith("timestamp[us, tz"):
        assert all(g.utcoffset() == dt.timedelta(0) for g in got)


def test_empty_cells_are_null_in_every_type(tmp_path: Path) -> None:
    src = text_file(
        tmp_path,
        "i,f,b,d,t,z,s\n"
        "1,1.5,true,2020-01-01,2020-01-01 00:00:00,2020-01-01T00:00:00Z,x\n"
        ",,,,,,\n"
        '"","","","","","",""\n'
        '4,,false,,2020-01-01T00:00:01,,""\n',
    )
    stats, table = convert(src, tmp_path / "o.parquet")
    assert stats["schema"] == {
        "i": "int64",
        "f": "double",
        "b": "bool",
        "d": "date32",
        "t": "timestamp[us]",
        "z": "timestamp[us, tz=UTC]",
        "s": "string",
    }
    assert stats["null_counts"] == {"i": 2, "f": 3, "b": 2, "d": 3, "t": 2, "z": 3, "s": 3}
    assert table["i"].to_pylist() == [1, None, None, 4]
    assert table["s"].to_pylist() == ["x", None, None, None]
    assert table["t"].to_pylist() == [TS(2020, 1, 1), None, None, TS(2020, 1, 1, 0, 0, 1)]
    for name in table.column_names:
        assert table[name].null_count == stats["null_counts"][name]


def test_all_empty_column_is_string(tmp_path: Path) -> None:
    src = text_file(tmp_path, 'a,b\n1,\n2,""\n3,\n')
    stats, table = convert(src, tmp_path / "o.parquet")
    assert stats["schema"] == {"a": "int64", "b": "string"}
    assert stats["null_counts"] == {"a": 0, "b": 3}
    assert table["b"].to_pylist() == [None, None, None]


def test_quoted_fields(tmp_path: Path) -> None:
    src = text_file(
        tmp_path,
        'id,s\r\n1,"a,b"\r\n2,"say ""hi"""\r\n3,"x\ny"\r\n'
        '4,"x\r\ny"\r\n5,"""\r\n"""\r\n6,"a\n\nb"\r\n',
    )
    stats, table = convert(src, tmp_path / "o.parquet")
    assert stats["rows"] == 6
    assert table.to_pydict() == {
        "id": [1, 2, 3, 4, 5, 6],
        "s": ["a,b", 'say "hi"', "x\ny", "x\r\ny", '"\r\n"', "a\n\nb"],
    }


def test_quoted_numbers_are_numbers(tmp_path: Path) -> None:
    src = text_file(tmp_path, 'a,b,c\n"1","2.5","true"\n"3","4","FALSE"\n')
    stats, table = convert(src, tmp_path / "o.parquet")
    assert stats["schema"] == {"a": "int64", "b": "double", "c": "bool"}
    assert table.to_pydict() == {"a": [1, 3], "b": [2.5, 4.0], "c": [True, False]}


def test_nul_bytes_kept_in_strings(tmp_path: Path) -> None:
    src = text_file(tmp_path, b'a,b\n1,x\x00y\n2,"\x00"\n')
    _, table = convert(src, tmp_path / "o.parquet")
    assert table.to_pydict() == {"a": [1, 2], "b": ["x\x00y", "\x00"]}


# --------------------------------------------------------------------------- explicit schema


def test_explicit_pyarrow_schema_overrides_inference(tmp_path: Path) -> None:
    src = text_file(tmp_path, "zip,amount,when,flag\n00501,1,2020-01-01,1\n02134,2,,0\n")
    schema = pa.schema(
        [
            ("zip", pa.string()),
            ("amount", pa.float64()),
            ("when", pa.string()),
            ("flag", pa.string()),
        ]
    )
    stats, table = convert(src, tmp_path / "o.parquet", schema=schema)
    assert stats["schema"] == {
        "zip": "string",
        "amount": "double",
        "when": "string",
        "flag": "string",
    }
    assert_tables_equal(
        table,
        pa.table(
            {
                "zip": ["00501", "02134"],
                "amount": [1.0, 2.0],
                "when": ["2020-01-01", None],
                "flag": ["1", "0"],
            }
        ),
    )
    streamed = read_csv(src, schema=schema).read_all()
    assert_tables_equal(streamed, table, "read_csv with schema")


def test_explicit_mapping_schema(tmp_path: Path) -> None:
    src = text_file(tmp_path, "a,b,c\n1,2024-01-02,2024-01-02T03:04:05Z\n2,,\n")
    schema = {"a": "string", "b": pa.date32(), "c": pa.timestamp("us", tz="UTC")}
    stats, table = convert(src, tmp_path / "o.parquet", schema=schema)
    assert stats["schema"] == {"a": "string", "b": "date32", "c": "timestamp[us, tz=UTC]"}
    assert table.to_pydict() == {
        "a": ["1", "2"],
        "b": [dt.date(2024, 1, 2), None],
        "c": [TS(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None],
    }


def test_explicit_schema_on_generated_file(tmp_path: Path) -> None:
    case = mixed_case(tmp_path / "m.csv", 600, 9)
    dst = tmp_path / "o.parquet"
    stats, table = convert(case.path, dst, schema=case.schema())
    check_stats(stats, case, dst)
    assert_tables_equal(table, case.expected_table())


def test_a_schema_may_type_columns_by_name_and_leave_the_others_inferred(
    tmp_path: Path,
) -> None:
    src = text_file(tmp_path, "id,channel,amount,code\n1,web,1.5,007\n2,,2,010\n")
    schema = {"amount": "float64", "id": "int32", "code": "string"}  # not in file order
    stats, table = convert(src, tmp_path / "o.parquet", schema=schema, other_columns="infer")
    assert stats["schema"] == {
        "id": "int32",
        "channel": "string",
        "amount": "double",
        "code": "string",
    }
    assert table.to_pydict() == {
        "id": [1, 2],
        "channel": ["web", None],
        "amount": [1.5, 2.0],
        "code": ["007", "010"],
    }
    assert table.schema.metadata is None or b"aerofs.schema.by_name" not in table.schema.metadata
    streamed = read_csv(src, schema=schema, other_columns="infer").read_all()
    assert_tables_equal(streamed, table, "read_csv by name")
    # a nullable declared column the file lacks is left out; a non-nullable one is named
    stats, _ = convert(
        src, tmp_path / "n.parquet", schema={"unit": "string"}, other_columns="infer"
    )
    assert "unit" not in stats["schema"]
    required = pa.schema([pa.field("unit", pa.string(), nullable=False)])
    with pytest.raises(
        ValueError, match=r'the file lacks the schema.s non-nullable columns \["unit"\]'
    ):
        csv_to_parquet(src, tmp_path / "x.parquet", schema=required, other_columns="infer")
    with pytest.raises(ValueError, match="other_columns must be"):
        csv_to_parquet(src, tmp_path / "x.parquet", schema=schema, other_columns="keep")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "schema",
    [
        {"a": "int64", "x": "string"},
        {"a": "int64"},
        {"a": "int64", "b": "string", "c": "string"},
    ],
    ids=["wrong-name", "too-few", "too-many"],
)
def test_explicit_schema_names_must_match_header(tmp_path: Path, schema: dict[str, str]) -> None:
    src = text_file(tmp_path, "a,b\n1,x\n")
    dst = tmp_path / "o.parquet"
    with pytest.raises(ValueError):
        csv_to_parquet(src, dst, schema=schema)
    assert not dst.exists()
