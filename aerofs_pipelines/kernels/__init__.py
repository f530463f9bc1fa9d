"""Typed Python face of the Rust kernels (``aerofs_pipelines._rust_core``).

Every kernel releases the GIL while it works and raises a Python exception, never a
panic: :class:`~aerofs_pipelines.kernels.errors.InputFormatError` (a ``ValueError``) with file,
line and column for malformed input, ``FileNotFoundError`` / ``IsADirectoryError`` /
``PermissionError`` for files that cannot be read, ``ValueError`` for bad arguments.

This module must stay light: never Dagster, and pyarrow only when a call needs it (the
gateway hashes uploads with :class:`Blake3` and carries no pyarrow: 40 MB of memory).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, TypeAlias, TypedDict

from aerofs_pipelines import _rust_core
from aerofs_pipelines.kernels.errors import InputFormatError, KernelError, KernelInternalError

__all__ = [
    "BegunFile",
    "Blake3",
    "ConversionStats",
    "Dialect",
    "DialectOption",
    "InputFormatError",
    "KernelError",
    "KernelInternalError",
    "SniffedDialect",
    "TextStats",
    "analyze_text",
    "begin_file",
    "binary_kind",
    "check_dialect",
    "csv_to_parquet",
    "describe_dialect",
    "dialect_changes",
    "digest",
    "read_csv",
    "sniff",
]

StrPath: TypeAlias = str | os.PathLike[str]
if TYPE_CHECKING:
    import pyarrow as pa

SchemaLike: TypeAlias = "pa.Schema | Mapping[str, pa.DataType | str]"
OnError: TypeAlias = Literal["fail", "quarantine"]
Compression: TypeAlias = Literal["zstd", "snappy", "lz4", "none"]
OtherColumns: TypeAlias = Literal["reject", "infer"]
"""A file's columns that a given schema does not name: refused, or typed by inference."""
ProgressCallback: TypeAlias = Callable[[int, int], None]
Ragged: TypeAlias = Literal["reject", "pad", "truncate"]


class Dialect(TypedDict, total=False):
    """What a CSV file looks like; every key is optional (a default, or the sniffed value).

    Defaults are RFC 4180: UTF-8, ``,``, ``"`` doubled inside quotes, one header row.
    """

    encoding: str
    """A WHATWG label: ``utf-8`` (a BOM is dropped), ``utf-16le``/``utf-16be``,
    ``windows-1252`` (also ``latin1``, ``cp1252``), ``iso-8859-15``, ``windows-1250``, ..."""
    delimiter: str
    """One or more characters: ``,`` ``;`` ``|`` ``\t`` ``, `` ``||``."""
    quote: str | None
    """The quote character, or None for no quoting."""
    escape: str | None
    """None: a quote inside quotes is doubled; else the escape character (``\\``)."""
    skip_rows: int
    """Lines before the header (titles, notes), skipped whatever they hold."""
    header_rows: int
    """0 (names ``column_1``...), 1, or several rows joined with a space per column."""
    comment: str | None
    """Lines starting with this prefix are skipped wherever they are."""
    skip_footer: int
    """Trailing lines (totals, footnotes) that are not table rows."""
    trim: bool
    """Strip spaces and tabs around unquoted fields."""
    null_values: list[str]
    """Field values that mean null, besides the empty field (``NA``, ``NULL``, ``-``)."""
    decimal: str
    """``.`` or ``,``."""
    thousands: str | None
    """Grouping separator of numbers (``.`` in ``1.234,5``), checked to group by three."""
    date_format: str | None
    """strftime-style (``%d.%m.%Y``); ISO-8601 is always read too."""
    timestamp_format: str | None
    """strftime-style (``%d/%m/%Y %H:%M``); ISO-8601 is always read too."""
    ragged: Ragged
    """Rows with another field count than the header: ``reject`` them, ``pad`` short
    ones with nulls, or ``truncate`` long ones."""


class SniffedDialect(Dialect):
    """A complete dialect (every key of :class:`Dialect`), as :func:`sniff` decided it."""

    confidence: float
    """0-1: encoding certainty x margin of the delimiter's win x row consistency (1.0
    when nothing was sniffed)."""


DialectOption: TypeAlias = Literal["auto"] | Dialect | Mapping[str, object] | None
"""``None``: the defaults; ``"auto"``: sniffed; a mapping: its keys over the defaults."""


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
    dialect: SniffedDialect
    """The dialect the file was read in (``confidence`` is 1.0 unless sniffed)."""
    dialect_sniffed: bool


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


_BY_NAME = b"aerofs.schema.by_name"
"""Schema metadata the kernel reads as ``other_columns="infer"`` (``csv/prepare.rs``)."""


def _schema(schema: SchemaLike | None, other_columns: OtherColumns = "reject") -> pa.Schema | None:
    import pyarrow as pa

    if other_columns not in ("reject", "infer"):
        raise ValueError(f"other_columns must be 'reject' or 'infer', got {other_columns!r}")
    if schema is None:
        return None
    arrow = (
        schema
        if isinstance(schema, pa.Schema)
        else pa.schema(
            pa.field(name, pa.type_for_alias(typ) if isinstance(typ, str) else typ)
            for name, typ in schema.items()
        )
    )
    if other_columns == "infer":
        arrow = arrow.with_metadata({**(arrow.metadata or {}), _BY_NAME: b"1"})
    return arrow


def _dialect(
    dialect: DialectOption, delimiter: str | None, has_header: bool | None
) -> tuple[dict[str, object], bool]:
    """The options to pass to the kernel, and whether to sniff the rest."""
    if dialect is None or dialect == "auto":
        options: dict[str, object] = {}
    elif isinstance(dialect, Mapping):
        options = dict(dialect)
    else:
        raise ValueError(f"dialect must be None, 'auto' or a mapping, got {dialect!r}")
    if delimiter is not None:
        options["delimiter"] = delimiter
    if has_header is not None:
        options["header_rows"] = int(has_header)
    return options, dialect == "auto"


def csv_to_parquet(
    src: StrPath,
    dst: StrPath,
    *,
    dialect: DialectOption = None,
    schema: SchemaLike | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    on_error: OnError = "fail",
    rejects: StrPath | None = None,
    compression: Compression = "zstd",
    progress: ProgressCallback | None = None,
    constant_columns: Mapping[str, str] | None = None,
    other_columns: OtherColumns = "reject",
) -> ConversionStats:
    """Convert a CSV/TSV file to Parquet, streaming in bounded memory on all cores.

    ``dialect`` says what the file looks like (:class:`Dialect`): None for RFC 4180
    UTF-8 with a header, ``"auto"`` to sniff it, or a mapping of the options that differ.
    ``delimiter`` and ``has_header`` override it (and constrain the sniffer). Files in
    the default shape (any one-byte delimiter) take the parallel fast path; others are
    transcoded and normalized on the way in, keeping their line numbers in errors.

    The schema is inferred from a sample unless ``schema`` is given (a ``pyarrow.Schema``
    or a mapping of column name to type). A file must have exactly the schema's columns,
    in its order, unless ``other_columns="infer"``: the schema then types the columns it
    names wherever they stand, the file's other columns are inferred, a nullable column
    of the schema that the file lacks is left out, and a non-nullable one is an error.
    Empty cells are nulls. An empty file, or one with only a header, is an empty table.
    With ``on_error="quarantine"`` every row that does not parse is left out of ``dst``
    and written with its line number and reason to
    ``rejects`` (CSV, or Parquet when the name ends in ``.parquet``). ``dst`` (and
    ``rejects``) appear atomically: a reader never sees a half-written file.
    ``progress(bytes_read, rows)`` is called a few times a second when given.
    ``constant_columns`` appends a non-null string column per entry holding that one
    value in every row (the lake's ``batch_id``); a file that has a column of that name
    is an ``InputFormatError``.
    """
    if on_error not in ("fail", "quarantine"):
        raise ValueError(f"on_error must be 'fail' or 'quarantine', got {on_error!r}")
    if compression not in ("zstd", "snappy", "lz4", "none"):
        raise ValueError(f"unknown compression {compression!r}")
    options, auto = _dialect(dialect, delimiter, has_header)
    stats: ConversionStats = _rust_core.csv_to_parquet(
        os.fspath(src),
        os.fspath(dst),
        _schema(schema, other_columns),
        options,
        auto,
        on_error,
        None if rejects is None else os.fspath(rejects),
        compression,
        progress,
        list((constant_columns or {}).items()),
    )
    return stats


def read_csv(
    src: StrPath,
    *,
    dialect: DialectOption = None,
    schema: SchemaLike | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    other_columns: OtherColumns = "reject",
) -> pa.RecordBatchReader:
    """Parse a CSV file with the same parser as :func:`csv_to_parquet`, as an Arrow stream.

    ``dialect``, ``delimiter``, ``has_header`` and ``other_columns`` as in
    :func:`csv_to_parquet`. Batches
    come through the Arrow C stream interface (no copies). A malformed row raises
    ``InputFormatError`` up front if it is in the inference sample, otherwise
    ``pyarrow.ArrowInvalid`` (carrying the same file:line:column message) while reading.
    """
    options, auto = _dialect(dialect, delimiter, has_header)
    reader: pa.RecordBatchReader = _rust_core.read_csv(
        os.fspath(src), _schema(schema, other_columns), options, auto
    )
    return reader


def sniff(src: StrPath, *, pinned: Dialect | Mapping[str, object] | None = None) -> SniffedDialect:
    """Decide the dialect of a CSV file from its first 64 KiB (and last 16 KiB).

    ``pinned`` fixes some options; the sniffer decides the others around them. An
    encoding that cannot be decided (neither UTF-8 nor plausible text in a single-byte
    code page, or mixed) raises ``InputFormatError`` naming it, never mojibake.
    """
    result: SniffedDialect = _rust_core.sniff(
        os.fspath(src), None if pinned is None else dict(pinned)
    )
    return result


def check_dialect(options: Dialect | Mapping[str, object]) -> SniffedDialect:
    """The complete dialect ``options`` describe over the defaults (``confidence`` 1.0).

    ``ValueError`` names the first unknown key or bad value (a quote that is part of the
    delimiter, an unsupported date directive, an unknown encoding, ...).
    """
    result: SniffedDialect = _rust_core.check_dialect(dict(options))
    return result


_DEFAULT_DIALECT: dict[str, object] = {}


def dialect_changes(dialect: Mapping[str, object]) -> dict[str, object]:
    """The options of ``dialect`` that differ from RFC 4180 (the kernel's defaults)."""
    if not _DEFAULT_DIALECT:
        _DEFAULT_DIALECT.update(check_dialect({}))
    return {
        key: value
        for key, value in dialect.items()
        if key not in ("confidence", "pinned") and _DEFAULT_DIALECT.get(key) != value
    }


def describe_dialect(dialect: Mapping[str, object]) -> str:
    """One line of what differs from RFC 4180 (``delimiter=';', decimal=','``)."""
    parts = [f"{key}={value!r}" for key, value in dialect_changes(dialect).items()]
    text = ", ".join(parts) or "RFC 4180"
    confidence = dialect.get("confidence")
    if isinstance(confidence, float) and confidence < 1.0:
        text += f" (confidence {confidence:.2f})"
    return text


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


Blake3 = _rust_core.Blake3
"""An incremental BLAKE3 hash (``update(bytes)`` releasing the GIL, ``hexdigest()``,
``length``): :func:`digest` of content that arrives in pieces, such as an HTTP upload."""


BegunFile = _rust_core.BegunFile
"""A new file being begun by a thread of its own (:func:`begin_file`): ``finish(parts)``
writes the file's parts but for the ``begun`` bytes and fsyncs it (parts that do not
start with those bytes: ``ValueError``), ``discard()`` removes it; either releases the
GIL, and a failed finish removes the file too."""


def begin_file(path: StrPath, parts: list[bytes]) -> BegunFile:
    """Create ``path`` (``FileExistsError`` if it exists; its folder made if missing) and
    write ``parts`` to it in a thread that holds no GIL, while the caller makes the rest.

    A new file's pages cost the kernel more than the bytes copied into them; a Python
    thread writing them handed the GIL back and forth with the caller at every system
    call, which cost the caller what the thread saved (docs/capacity.md)."""
    return _rust_core.begin_file(os.fspath(path), parts)


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
