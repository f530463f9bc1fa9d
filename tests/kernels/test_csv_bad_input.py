"""Bad input: clear Python exceptions with exact locations, quarantine, atomic output."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aerofs_pipelines.kernels import OnError, csv_to_parquet, read_csv
from aerofs_pipelines.kernels.errors import InputFormatError, KernelError
from tests.support.csv_cases import (
    BadCase,
    gzip_of_csv,
    late_bad_value_case,
    quarantine_case,
    random_binary,
)

REJECT_COLUMNS = ["line", "column", "column_name", "reason", "record"]


def write(tmp_path: Path, data: str | bytes, name: str = "in.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def listing(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


def expect_failure(
    src: Path,
    out_dir: Path,
    *,
    line: int | None = None,
    column: int | None = None,
    column_name: str | None = None,
    reason: str | None = None,
    **kwargs: Any,
) -> InputFormatError:
    """Run a conversion that must fail; check the error and that nothing is left behind."""
    out_dir.mkdir(exist_ok=True)
    before = listing(out_dir)
    dst = out_dir / "out.parquet"
    with pytest.raises(InputFormatError) as info:
        csv_to_parquet(src, dst, **kwargs)
    err = info.value
    assert isinstance(err, KernelError) and isinstance(err, ValueError)
    assert err.path == str(src)
    if line is not None:
        assert err.line == line, f"line {err.line}, expected {line}: {err}"
    if column is not None:
        assert err.column == column, f"column {err.column}, expected {column}: {err}"
    if column_name is not None:
        assert err.column_name == column_name, str(err)
    if reason is not None:
        assert reason in err.reason, str(err)
    assert err.reason
    # str(err) is "path:line:column: reason (column 'name')".
    text = str(err)
    assert text.startswith(str(src))
    if err.line is not None:
        assert text.startswith(f"{src}:{err.line}")
        if err.column is not None:
            assert text.startswith(f"{src}:{err.line}:{err.column}: {err.reason}")
    if err.column_name is not None:
        assert text.endswith(f"(column {err.column_name!r})")
    assert listing(out_dir) == before, "partial or temporary output left behind"
    return err


def read_rejects(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == REJECT_COLUMNS
        return list(reader)


# --------------------------------------------------------------------------- empty / header-only


@pytest.mark.parametrize("data", [b"", b"\n\r\n\n", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("on_error", ["fail", "quarantine"])
def test_empty_file_is_an_empty_table(tmp_path: Path, data: bytes, on_error: OnError) -> None:
    src = write(tmp_path, data)
    dst = tmp_path / "o.parquet"
    stats = csv_to_parquet(src, dst, on_error=on_error, rejects=tmp_path / "rej.csv")
    assert (stats["rows"], stats["columns"], stats["rejected_rows"]) == (0, [], 0)
    table = pq.read_table(dst)
    assert (table.num_rows, table.column_names) == (0, [])
    streamed = read_csv(src).read_all()
    assert (streamed.num_rows, streamed.column_names) == (0, [])


@pytest.mark.parametrize("data", ["a,b,c\n", "a,b,c", "a,b,c\r\n", "\ufeffa,b,c\n"])
def test_header_only(tmp_path: Path, data: str) -> None:
    src = write(tmp_path, data)
    dst = tmp_path / "o.parquet"
    stats = csv_to_parquet(src, dst)
    assert stats["rows"] == 0
    assert stats["columns"] == ["a", "b", "c"]
    assert stats["schema"] == {"a": "string", "b": "string", "c": "string"}
    assert stats["null_counts"] == {"a": 0, "b": 0, "c": 0}
    table = pq.read_table(dst)
    assert table.num_rows == 0
    assert table.column_names == ["a", "b", "c"]
    streamed = read_csv(src).read_all()
    assert streamed.num_rows == 0 and streamed.column_names == ["a", "b", "c"]


def test_header_only_with_schema(tmp_path: Path) -> None:
    src = write(tmp_path, "a,b\n")
    dst = tmp_path / "o.parquet"
    stats = csv_to_parquet(src, dst, schema={"a": "int64", "b": "date32"})
    assert stats["rows"] == 0
    assert pq.read_table(dst).schema == pa.schema([("a", pa.int64()), ("b", pa.date32())])


# --------------------------------------------------------------------------- unterminated quote


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ('a,b\n1,x\n2,"abc\ndef\n', 3),
        ('a,b\r\n1,"p\r\nq"\r\n2,"never closed\r\nmore\r\nmore', 4),
        ('a,b\n1,"p\nq"\n2,y\n3,"z', 5),
        ('"a,b\n1,2\n', 1),
    ],
    ids=["lf", "crlf-after-multiline", "at-eof-no-newline", "in-header"],
)
def test_unterminated_quote_fails(tmp_path: Path, data: str, line: int) -> None:
    src = write(tmp_path, data)
    expect_failure(src, tmp_path / "out", line=line)
    with pytest.raises((InputFormatError, pa.ArrowInvalid)):
        read_csv(src).read_all()


def test_unterminated_quote_quarantine(tmp_path: Path) -> None:
    """Quarantine may reject the broken last row or refuse the file, but never lose rows."""
    src = write(tmp_path, 'a,b\n1,x\n2,"abc\ndef\n')
    dst, rej = tmp_path / "o.parquet", tmp_path / "rej.csv"
    try:
        stats = csv_to_parquet(src, dst, on_error="quarantine", rejects=rej)
    except InputFormatError as e:
        assert e.line == 3
        assert not dst.exists()
    else:
        assert stats["rows"] == 1 and stats["rejected_rows"] == 1
        assert pq.read_table(dst).to_pydict() == {"a": [1], "b": ["x"]}
        assert [r["line"] for r in read_rejects(rej)] == ["3"]


# --------------------------------------------------------------------------- ragged rows


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        ("a,b,c\n1,2,3\n4,5\n6,7,8\n", 3, "expected 3 fields, found 2"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", 3, "expected 3 fields, found 4"),
        ('a,b,c\r\n1,"x\r\ny",3\r\n"p\nq\nr",5,6\r\n7\r\n', 7, "expected 3 fields, found 1"),
        ('a,b,c\n1,"a,b",3\n4,"x""y",5,x\n', 3, "expected 3 fields, found 4"),
    ],
    ids=["fewer", "more", "after-multiline-crlf", "extra-value"],
)
def test_ragged_row_fails(tmp_path: Path, data: str, line: int, reason: str) -> None:
    src = write(tmp_path, data)
    expect_failure(src, tmp_path / "out", line=line, reason=reason)


def test_ragged_row_without_header(tmp_path: Path) -> None:
    src = write(tmp_path, "1,2\n3,4\n5\n")
    expect_failure(
        src, tmp_path / "out", line=3, reason="expected 2 fields, found 1", has_header=False
    )


# --------------------------------------------------------------------------- bad values


SCHEMA = {"n": "int64", "s": "string", "d": "date32", "b": "bool", "t": "timestamp[us]"}


@pytest.mark.parametrize(
    ("row", "column", "name"),
    [
        ("x1,s,2020-01-01,true,2020-01-01 00:00:00", 1, "n"),
        ("1.5,s,2020-01-01,true,2020-01-01 00:00:00", 1, "n"),
        ("99999999999999999999,s,2020-01-01,true,2020-01-01 00:00:00", 1, "n"),
        ("1,s,2020-02-30,true,2020-01-01 00:00:00", 3, "d"),
        ("1,s,01/02/2020,true,2020-01-01 00:00:00", 3, "d"),
        ("1,s,2020-01-01,yes,2020-01-01 00:00:00", 4, "b"),
        ("1,s,2020-01-01,true,2020-01-01 25:00:00", 5, "t"),
    ],
    ids=["int-text", "int-float", "int-overflow", "bad-date", "us-date", "bool", "hour"],
)
def test_bad_value_fails_with_location(tmp_path: Path, row: str, column: int, name: str) -> None:
    good = '7,"two\nlines",2021-05-06,false,2021-05-06T07:08:09\n8,plain,,,\n'
    src = write(tmp_path, "n,s,d,b,t\n" + good + row + "\n9,after,,,\n")
    expect_failure(src, tmp_path / "out", line=5, column=column, column_name=name, schema=SCHEMA)


@pytest.mark.parametrize("on_error", ["fail", "quarantine"])
def test_invalid_utf8_in_header(tmp_path: Path, on_error: str) -> None:
    src = write(tmp_path, b"a,b\xff\n1,2\n")
    expect_failure(src, tmp_path / "out", line=1, on_error=on_error, rejects=tmp_path / "r.csv")


def test_invalid_utf8_value_fails(tmp_path: Path) -> None:
    src = write(tmp_path, b'a,b\n1,"x\ny"\n2,ab\xffcd\n3,z\n')
    expect_failure(src, tmp_path / "out", line=4, column=2, column_name="b")


def test_invalid_utf8_value_quarantined(tmp_path: Path) -> None:
    src = write(tmp_path, b'a,b\n1,"x\ny"\n2,ab\xffcd\n3,z\n')
    dst, rej = tmp_path / "o.parquet", tmp_path / "rej.csv"
    stats = csv_to_parquet(src, dst, on_error="quarantine", rejects=rej)
    assert stats["rows"] == 2 and stats["rejected_rows"] == 1
    assert pq.read_table(dst).to_pydict() == {"a": [1, 3], "b": ["x\ny", "z"]}
    (r,) = read_rejects(rej)
    assert (r["line"], r["column"], r["column_name"]) == ("4", "2", "b")
    assert r["record"].startswith("2,ab") and r["record"].endswith("cd")


def test_nul_bytes_are_data(tmp_path: Path) -> None:
    src = write(tmp_path, b'a,b\n1,x\x00y\n2,"\x00,\x00"\n3,\x00\n')
    dst = tmp_path / "o.parquet"
    stats = csv_to_parquet(src, dst)
    assert stats["rows"] == 3
    assert pq.read_table(dst).to_pydict() == {"a": [1, 2, 3], "b": ["x\x00y", "\x00,\x00", "\x00"]}


# --------------------------------------------------------------------------- huge field


@pytest.mark.parametrize("quoted", [True, False])
def test_ten_megabyte_field(tmp_path: Path, quoted: bool) -> None:
    if quoted:
        unit = 'abc,"def"\nghi\r\n日本 '
        big = unit * (10_000_000 // len(unit.encode()) + 1)
        cell = '"' + big.replace('"', '""') + '"'
    else:
        big = "x" * 10_000_000 + "end"
        cell = big
    src = write(tmp_path, f"id,payload,tail\n1,{cell},a\n2,small,b\n")
    dst = tmp_path / "o.parquet"
    stats = csv_to_parquet(src, dst)
    assert stats["rows"] == 2
    assert stats["schema"]["payload"] == "string"
    table = pq.read_table(dst)
    payload = table["payload"].to_pylist()
    assert len(payload[0]) == len(big)
    assert payload[0] == big
    assert payload[1] == "small"
    assert table["tail"].to_pylist() == ["a", "b"]
    streamed = read_csv(src).read_all()
    assert streamed["payload"].to_pylist()[0] == big


# --------------------------------------------------------------------------- binary input


def _first_line_is_invalid_utf8(p: Path) -> bool:
    first = p.read_bytes().split(b"\n", 1)[0]
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.parametrize("kind", ["random", "gzip"])
@pytest.mark.parametrize("on_error", ["fail", "quarantine"])
def test_binary_file_named_csv(tmp_path: Path, kind: str, on_error: str) -> None:
    if kind == "random":
        src = random_binary(tmp_path / "data.csv", 65536, seed=7)
    else:
        src = gzip_of_csv(tmp_path / "data.csv", seed=7)
    assert _first_line_is_invalid_utf8(src)  # so even quarantine cannot read a header
    expect_failure(src, tmp_path / "out", on_error=on_error, rejects=tmp_path / "out" / "r.csv")
    with pytest.raises(InputFormatError):
        read_csv(src).read_all()


# --------------------------------------------------------------------------- files and paths


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        csv_to_parquet(tmp_path / "nope.csv", tmp_path / "o.parquet")
    with pytest.raises(FileNotFoundError):
        read_csv(tmp_path / "nope.csv")
    assert listing(tmp_path) == set()


def test_directory_as_source(tmp_path: Path) -> None:
    d = tmp_path / "dir.csv"
    d.mkdir()
    with pytest.raises(IsADirectoryError):
        csv_to_parquet(d, tmp_path / "o.parquet")
    with pytest.raises(IsADirectoryError):
        read_csv(d)
    assert listing(tmp_path) == {"dir.csv"}


def test_destination_in_missing_directory(tmp_path: Path) -> None:
    src = write(tmp_path, "a\n1\n")
    with pytest.raises(OSError):
        csv_to_parquet(src, tmp_path / "missing" / "o.parquet")
    assert listing(tmp_path) == {"in.csv"}


def test_destination_is_a_directory(tmp_path: Path) -> None:
    src = write(tmp_path, "a\n1\n")
    (tmp_path / "o.parquet").mkdir()
    with pytest.raises(OSError):
        csv_to_parquet(src, tmp_path / "o.parquet")
    assert listing(tmp_path) == {"in.csv", "o.parquet"}
    assert listing(tmp_path / "o.parquet") == set()


# ----------------------------------------------------------------- late failures / atomicity


@pytest.fixture(scope="module")
def late_bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, int]:
    return late_bad_value_case(tmp_path_factory.mktemp("late") / "late.csv", 6_000_000, seed=3)


def test_late_bad_value_with_schema_fails_atomically(tmp_path: Path, late_bad: Any) -> None:
    case, bad_line = late_bad
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "out.parquet"
    dst.write_bytes(b"previous content")
    err = expect_failure(
        case.path, out, line=bad_line, column=3, column_name="value", schema=case.types
    )
    assert err.reason
    assert dst.read_bytes() == b"previous content", "existing dst clobbered by a failed run"


def test_late_bad_value_inferred(tmp_path: Path, late_bad: Any) -> None:
    """Past the inference sample a non-int in an int column is an error at its line; if the
    kernel's sample happened to reach it, the column must be a string column instead."""
    case, bad_line = late_bad
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "out.parquet"
    try:
        stats = csv_to_parquet(case.path, dst)
    except InputFormatError as err:
        assert (err.line, err.column, err.column_name) == (bad_line, 3, "value"), str(err)
        assert listing(out) == set()
    else:
        assert stats["schema"]["value"] == "string"
        assert stats["rows"] == case.extra["rows"]


def test_late_bad_value_quarantined(tmp_path: Path, late_bad: Any) -> None:
    case, bad_line = late_bad
    dst, rej = tmp_path / "o.parquet", tmp_path / "rej.csv"
    stats = csv_to_parquet(case.path, dst, schema=case.types, on_error="quarantine", rejects=rej)
    assert stats["rows"] == case.extra["good_rows"]
    assert stats["rejected_rows"] == 1
    assert pq.ParquetFile(dst).metadata.num_rows == case.extra["good_rows"]
    (r,) = read_rejects(rej)
    assert r["line"] == str(bad_line)
    assert (r["column"], r["column_name"]) == ("3", "value")
    assert r["record"] == f'{case.extra["good_rows"] - 1},"bad one",12x34'
    ids = pq.read_table(dst, columns=["id"])["id"].to_pylist()
    assert ids == [*range(case.extra["good_rows"] - 1), case.extra["good_rows"]]


def test_fail_mode_writes_no_rejects(tmp_path: Path) -> None:
    src = write(tmp_path, "a,b\n1,2\n3\n")
    rej = tmp_path / "rej.csv"
    with pytest.raises(InputFormatError):
        csv_to_parquet(src, tmp_path / "o.parquet", rejects=rej)
    assert listing(tmp_path) == {"in.csv"}


# --------------------------------------------------------------------------- quarantine


def check_quarantine(case: BadCase, stats: dict[str, Any], dst: Path) -> None:
    good_n = len(case.good_values["n"])
    assert stats["rows"] == good_n
    assert stats["rejected_rows"] == len(case.bad_rows)
    assert stats["null_counts"] == {
        k: sum(v is None for v in vals) for k, vals in case.good_values.items()
    }
    table = pq.read_table(dst)
    assert table.num_rows == good_n
    assert table.to_pydict() == case.good_values


@pytest.mark.parametrize("line_ending", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_quarantine_csv_rejects(tmp_path: Path, line_ending: bytes) -> None:
    case = quarantine_case(tmp_path / "q.csv", line_ending)
    dst, rej = tmp_path / "o.parquet", tmp_path / "rejects.csv"
    stats = dict(
        csv_to_parquet(case.path, dst, schema=case.schema, on_error="quarantine", rejects=rej)
    )
    check_quarantine(case, stats, dst)
    rows = sorted(read_rejects(rej), key=lambda r: int(r["line"]))
    assert [int(r["line"]) for r in rows] == [b.line for b in case.bad_rows]
    for got, want in zip(rows, case.bad_rows, strict=True):
        where = f"line {want.line}: {got}"
        assert got["reason"], where
        assert want.reason_contains in got["reason"], where
        if want.column is not None:
            assert got["column"] == str(want.column), where
            assert got["column_name"] == want.column_name, where
        if "\ufffd" not in want.record:
            assert got["record"] in (want.record, want.record + line_ending.decode()), where


def test_quarantine_parquet_rejects(tmp_path: Path) -> None:
    case = quarantine_case(tmp_path / "q.csv")
    dst, rej = tmp_path / "o.parquet", tmp_path / "rejects.parquet"
    stats = dict(
        csv_to_parquet(case.path, dst, schema=case.schema, on_error="quarantine", rejects=rej)
    )
    check_quarantine(case, stats, dst)
    rejects = pq.read_table(rej)
    assert rejects.column_names == REJECT_COLUMNS
    assert sorted(int(x) for x in rejects["line"].to_pylist()) == [b.line for b in case.bad_rows]


def test_quarantine_ragged_rows(tmp_path: Path) -> None:
    src = write(tmp_path, 'a,b\n1,x\n2\n3,y,extra\n"4","multi\nline"\n5,z,\n6,w,,q\n')
    dst, rej = tmp_path / "o.parquet", tmp_path / "rej.csv"
    stats = csv_to_parquet(src, dst, on_error="quarantine", rejects=rej)
    assert stats["rows"] == 3 and stats["rejected_rows"] == 3
    assert stats["schema"] == {"a": "int64", "b": "string"}
    # A trailing delimiter ("5,z,") loses nothing: the row is read without its empty field.
    assert pq.read_table(dst).to_pydict() == {"a": [1, 4, 5], "b": ["x", "multi\nline", "z"]}
    rows = read_rejects(rej)
    assert [(r["line"], r["record"]) for r in rows] == [
        ("3", "2"),
        ("4", "3,y,extra"),
        ("8", "6,w,,q"),
    ]
    assert "expected 2 fields, found 1" in rows[0]["reason"]
    assert "expected 2 fields, found 3" in rows[1]["reason"]


def test_quarantine_all_rows_bad(tmp_path: Path) -> None:
    src = write(tmp_path, "a,b\n1\n2\n")
    dst, rej = tmp_path / "o.parquet", tmp_path / "rej.csv"
    stats = csv_to_parquet(src, dst, on_error="quarantine", rejects=rej)
    assert stats["rows"] == 0 and stats["rejected_rows"] == 2
    table = pq.read_table(dst)
    assert table.num_rows == 0 and table.column_names == ["a", "b"]
    assert len(read_rejects(rej)) == 2
