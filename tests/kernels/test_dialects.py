"""Dialects through the Python API: the exports users land, sniffed and read value by
value; given dialects; bad options and undecidable input refused with clear errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from aerofs_pipelines import kernels
from aerofs_pipelines.kernels import InputFormatError
from tests.support.dialect_corpus import EXPORTS, Export

DEFAULTS = kernels.check_dialect({})


@pytest.fixture
def export_path(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    export: Export = request.param
    path = tmp_path / export.name
    path.write_bytes(export.data)
    return path


@pytest.mark.parametrize("export", EXPORTS, ids=[e.name for e in EXPORTS])
def test_sniffer_decides_the_dialect(tmp_path: Path, export: Export) -> None:
    path = tmp_path / export.name
    path.write_bytes(export.data)
    sniffed = kernels.sniff(path)
    decided = {k: sniffed[k] for k in export.sniffed}  # type: ignore[literal-required]
    if "null_values" in decided:
        decided["null_values"] = sorted(decided["null_values"])
        assert decided["null_values"] == sorted(export.sniffed["null_values"])
        decided["null_values"] = export.sniffed["null_values"]
    assert decided == export.sniffed
    assert 0.0 < sniffed["confidence"] <= 1.0


@pytest.mark.parametrize("export", EXPORTS, ids=[e.name for e in EXPORTS])
def test_auto_reads_the_table_value_by_value(tmp_path: Path, export: Export) -> None:
    path = tmp_path / export.name
    path.write_bytes(export.data)
    table = kernels.read_csv(path, dialect="auto").read_all()
    assert table.column_names == export.columns
    assert table.to_pylist() == export.rows
    for column, typ in export.types.items():
        assert str(table.schema.field(column).type) == typ, column
    # The conversion reads the same table and says which dialect it used.
    dst = tmp_path / "out.parquet"
    stats = kernels.csv_to_parquet(path, dst, dialect="auto")
    assert pq.read_table(dst).to_pylist() == export.rows
    assert stats["dialect_sniffed"] is True
    assert stats["dialect"] == {**kernels.sniff(path), "confidence": stats["dialect"]["confidence"]}


def test_a_given_dialect_reads_without_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("# export\nA;B\n1,5;x\n# note\n2;NULL\n".encode("cp1252"))
    dialect: kernels.Dialect = {
        "encoding": "cp1252",
        "delimiter": ";",
        "comment": "#",
        "decimal": ",",
        "null_values": ["NULL"],
    }
    table = kernels.read_csv(path, dialect=dialect).read_all()
    assert table.to_pylist() == [{"A": 1.5, "B": "x"}, {"A": 2.0, "B": None}]
    stats = kernels.csv_to_parquet(path, tmp_path / "o.parquet", dialect=dialect)
    assert stats["dialect_sniffed"] is False
    assert stats["dialect"]["encoding"] == "windows-1252"
    assert stats["dialect"]["confidence"] == 1.0


def test_explicit_arguments_override_the_sniffer(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a;b\n1;2\n3;4\n")
    table = kernels.read_csv(path, dialect="auto", has_header=False).read_all()
    assert table.column_names == ["column_1", "column_2"]
    assert kernels.sniff(path, pinned={"delimiter": ","})["delimiter"] == ","
    one_column = kernels.read_csv(path, dialect="auto", delimiter=",").read_all()
    assert one_column.column_names == ["a;b"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ""}, "delimiter must not be empty"),
        ({"quote": "ab"}, "one ASCII character"),
        ({"delimiter": ";", "quote": ";"}, "part of the delimiter"),
        ({"encoding": "klingon"}, "unknown encoding"),
        ({"date_format": "%Q"}, "%Q is not supported"),
        ({"ragged": "sometimes"}, "'reject', 'pad' or 'truncate'"),
        ({"skip_rows": -1}, "non-negative integer"),
        ({"header_rows": True}, "got a bool"),
        ({"decimal": ",", "thousands": ","}, "differ from decimal"),
        ({"delimeter": ";"}, 'unknown dialect option "delimeter"'),
    ],
)
def test_bad_options_are_refused_by_name(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ValueError, match=message):
        kernels.check_dialect(options)
    with pytest.raises(ValueError, match=message):
        kernels.read_csv(path, dialect=options)
    with pytest.raises(ValueError, match=message):
        kernels.csv_to_parquet(path, tmp_path / "o.parquet", dialect=options)
    assert not (tmp_path / "o.parquet").exists()


def test_undecidable_encoding_is_named_not_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("id,name\n1,Jürgen\n2,Zoë\n".encode() + b"3,Fran\xe7ois\n")
    with pytest.raises(InputFormatError, match="undecidable encoding") as info:
        kernels.sniff(path)
    assert info.value.path == str(path)
    with pytest.raises(InputFormatError, match="undecidable encoding"):
        kernels.csv_to_parquet(path, tmp_path / "o.parquet", dialect="auto")
    # Without sniffing, UTF-8 is assumed and the bad byte is reported where it is.
    with pytest.raises(InputFormatError, match="invalid UTF-8"):
        kernels.csv_to_parquet(path, tmp_path / "o.parquet")


def test_wrong_given_encoding_fails_with_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a\n\x00\xd8\n")
    with pytest.raises(InputFormatError, match="not valid UTF-16LE"):
        kernels.read_csv(path, dialect={"encoding": "utf-16le"}).read_all()


def test_errors_keep_the_files_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Title\nsubtitle\nid;n\n1;2\n# comment\n3;oops\n")
    dialect: kernels.Dialect = {"delimiter": ";", "skip_rows": 2, "comment": "#"}
    with pytest.raises(InputFormatError) as info:
        kernels.csv_to_parquet(
            path, tmp_path / "o.parquet", dialect=dialect, schema={"id": "int64", "n": "int64"}
        )
    assert (info.value.line, info.value.column, info.value.column_name) == (6, 2, "n")


def test_describe_dialect_names_what_differs() -> None:
    assert kernels.describe_dialect(DEFAULTS) == "RFC 4180"
    text = kernels.describe_dialect({**DEFAULTS, "delimiter": ";", "confidence": 0.5})
    assert text == "delimiter=';' (confidence 0.50)"
