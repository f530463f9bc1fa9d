"""Typed Python face of the Rust kernels (``aerofs_pipelines._rust_core``).

Every kernel releases the GIL while it works and raises a Python exception, never a
panic: :class:`~aerofs_pipelines.kernels.errors.InputFormatError` (a ``ValueError``) with file,
line and column for malformed input, ``FileNotFoundError`` / ``IsADirectoryError`` /
``PermissionError`` for files that cannot be read, ``ValueError`` for bad arguments.

This module must stay light: it imports pyarrow but never Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Literal, TypeAlias, TypedDict

import pyarrow as pa

from aerofs_pipelines import _rust_core
from aerofs_pipelines.kernels.errors import InputFormatError, KernelError, KernelInternalError

__all__ = [
    "ConversionStats",
    "InputFormatError",
    "KernelError",
    "KernelInternalError",
    "TextStats",
    "analyze_text",
    "binary_kind",
    "csv_to_parquet",
    "digest",
    "read_csv",
]

StrPath: TypeAlias = str | os.PathLike[str]
SchemaLike: TypeAlias = pa.Schema | Mapping[str, pa.DataType | str]
OnError: TypeAlias = Literal["fail", "quarantine"]
Compression: TypeAlias = Literal["zstd", "snappy", "lz4", "none"]
ProgressCallback: TypeAlias = Callable[[int, int], None]


class ConversionStats(TypedDict):
    """What :func:`csv_to_parquet` returns."""

    rows: int
    """Rows written to the Parquet file."""
    rejected_rows: int
    """Rows quarantined (``on_error="quarantine"``); 0 otherwise."""
    bytes_read: int
    bytes_written: int
    columns: list[str]
    null_counts: dict[str, int]
    schema: dict[str, str]
    """Column name → Arrow type, as written."""
    row_groups: int
    seconds: float


class TextStats(TypedDict):
    """What :func:`analyze_text` returns."""

    bytes: int
    lines: int
    words: int
    chars: int
    unique_words: int
    top_words: list[list[str | int]]
    """``[word, count]`` pairs, most frequent first, ties broken by word."""
    invalid_utf8_bytes: int


def _schema(schema: SchemaLike | None) -> pa.Schema | None:
    if schema is None or isinstance(schema, pa.Schema):
        return schema
    fields = []
    for name, typ in schema.items():
        fields.append(pa.field(name, pa.type_for_alias(typ) if isinstance(typ, str) else typ))
    return pa.schema(fields)


def _delimiter(delimiter: str) -> int:
    raw = delimiter.encode()
    if len(raw) != 1 or raw in (b'"', b"\n", b"\r"):
        raise ValueError(
            f"delimiter must be one ASCII character other than quote or newline, got {delimiter!r}"
        )
    return raw[0]


def csv_to_parquet(
    src: StrPath,
    dst: StrPath,
    *,
    schema: SchemaLike | None = None,
    delimiter: str = ",",
    has_header: bool = True,
    on_error: OnError = "fail",
    rejects: StrPath | None = None,
    compression: Compression = "zstd",
    progress: ProgressCallback | None = None,
) -> ConversionStats:
    """Convert a CSV/TSV file to Parquet, streaming in bounded memory on all cores.

    The schema is inferred from a sample unless ``schema`` is given (a ``pyarrow.Schema``
    or a mapping of column name to type). Empty cells are nulls. With
    ``on_error="quarantine"`` every row that does not parse is left out of ``dst`` and
    written with its line number and reason to ``rejects`` (CSV, or Parquet when the
    name ends in ``.parquet``). ``dst`` (and ``rejects``) appear atomically: a reader
    never sees a half-written file. ``progress(bytes_read, rows)`` is called a few
    times a second when given.
    """
    if on_error not in ("fail", "quarantine"):
        raise ValueError(f"on_error must be 'fail' or 'quarantine', got {on_error!r}")
    if compression not in ("zstd", "snappy", "lz4", "none"):
        raise ValueError(f"unknown compression {compression!r}")
    stats: ConversionStats = _rust_core.csv_to_parquet(
        os.fspath(src),
        os.fspath(dst),
        _schema(schema),
        _delimiter(delimiter),
        has_header,
        on_error,
        None if rejects is None else os.fspath(rejects),
        compression,
        progress,
    )
    return stats


def read_csv(
    src: StrPath,
    *,
    schema: SchemaLike | None = None,
    delimiter: str = ",",
    has_header: bool = True,
) -> pa.RecordBatchReader:
    """Parse a CSV file with the same parser as :func:`csv_to_parquet`, as an Arrow stream.

    Batches come through the Arrow C stream interface (no copies). A malformed row
    raises ``InputFormatError`` up front if it is in the inference sample, otherwise
    ``pyarrow.ArrowInvalid`` (carrying the same file:line:column message) while reading.
    """
    reader: pa.RecordBatchReader = _rust_core.read_csv(
        os.fspath(src), _schema(schema), _delimiter(delimiter), has_header
    )
    return reader


def analyze_text(src: StrPath, *, top_k: int = 20) -> TextStats:
    """Count bytes, lines, words, chars and unique words, and find the top-k words.

    Words are maximal runs of Unicode letters, digits and underscores (Python's ``\\w+``),
    lowercased. Invalid UTF-8 bytes are counted in ``invalid_utf8_bytes`` and otherwise
    act as separators; they are never fatal.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    stats: TextStats = _rust_core.analyze_text(os.fspath(src), top_k)
    return stats


def digest(src: StrPath) -> str:
    """Hex BLAKE3 hash of a file's content (64 hex digits), computed streaming."""
    result: str = _rust_core.digest(os.fspath(src))
    return result


def binary_kind(src: StrPath) -> str | None:
    """What the file is when it is not UTF-8 text (e.g. ``"gzip-compressed data"``), else None.

    Decided from the first 4 KiB, by the same rules ``csv_to_parquet`` and ``read_csv`` use to
    refuse a file: known compressed/binary signatures, UTF-16 byte order marks, NUL bytes
    together with invalid UTF-8.
    """
    result: str | None = _rust_core.binary_kind(os.fspath(src))
    return result
