"""The polluted CSV corpus of the loading-robustness benchmark (:mod:`bench.robustness`).

In the spirit of Pollock (Vitagliano et al., "Pollock: A Data Loading Benchmark", VLDB
2023): three seeded clean tables (:func:`clean_tables`) are written as CSV files that each
carry one pollution (:data:`VARIANTS`: delimiter, quoting, line endings, preamble, comment
lines, footnotes, header shape, ragged rows, stray quotes, empty files, encodings, European
number format, null tokens; plus an unpolluted control). Every file comes with its ground
truth, the clean table as normalised text (:func:`normalise`), and the :class:`Dialect`
needed to read it. Nothing is stored: the corpus is a function of the seed and the row
counts (:func:`build_corpus`), written to a directory the caller owns.

Only the standard library is imported.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeAlias

from aerofs_pipelines.kernels import Dialect

GENERATOR_VERSION = 1
DEFAULT_ROWS = (50, 120, 200)
"""Rows of the three clean tables (``orders``, ``sensors``, ``staff``) by default."""
NULL_TOKENS = ("NA", "NULL", "n/a", "-")


# ---------------------------------------------------------------------------------------------
# Normalisation: how a loaded cell and a ground-truth cell are compared


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


def _canonical_number(number: Decimal) -> str:
    if not number.is_finite():
        return str(number)
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def normalise(value: object) -> str:
    """A cell as comparable text, whatever type the loader gave it.

    ``None``, NaN and ``""`` → ``""`` (null and empty are the same); numbers (ints, floats,
    decimals, and text that is a plain number with a ``.`` or a lone decimal comma) →
    shortest decimal form (``1.50``, ``1.5``, ``1,5`` and ``1.5e0`` → ``1.5``; ``3.0`` →
    ``3``); dates → ``YYYY-MM-DD``, timestamps at midnight too (others ``YYYY-MM-DD
    HH:MM:SS``); booleans → ``true``/``false``; other text is stripped of surrounding
    whitespace and otherwise kept. Thousands separators (``1.234,50``), other date formats
    (``31.12.2025``) and null tokens (``NA``) are *not* undone: reading them needs the
    dialect, which is what the benchmark measures.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(value) if math.isinf(value) else _canonical_number(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return "" if value.is_nan() else _canonical_number(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    try:
        if _NUMBER.fullmatch(text):
            return _canonical_number(Decimal(text))
        if _DECIMAL_COMMA.fullmatch(text):
            return _canonical_number(Decimal(text.replace(",", ".")))
    except InvalidOperation:  # pragma: no cover - the patterns only admit valid numbers
        pass
    return text


# ---------------------------------------------------------------------------------------------
# Clean tables


Value: TypeAlias = int | Decimal | dt.date | str | None
ColumnKind: TypeAlias = Literal["int", "decimal", "date", "text"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    group: str = ""
    """Label above this column in the two-row header variant (``""``: blank)."""
    places: int = 2
    """Decimal places written for ``decimal`` columns."""
    grouped: bool = False
    """European files write thousands separators in this (numeric) column."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# Every text value is Windows-1252-encodable (the windows_1252 variant writes them all),
# none contains ; | : # tab or a newline (the delimiters and comment prefix of the corpus),
# none starts with a quote or is a plain number.
PEOPLE = (
    "Anna Schmidt",
    "Smith, John",
    "O'Brien, Pat",
    "José Álvarez",
    "Zoë Müller",
    "François Lefèvre",
    "Søren Ørsted",
    "Ana Conceição",
    "Li Wei",
    "Jürgen Weiß",
    "Renée D\u2019Souza",
    "Björn Ångström",
    "Mary-Jane Watson",
    "Núñez, Inés",
)
CITIES = (
    "Zürich",
    "São Paulo",
    "Köln",
    "Málaga",
    "Reykjavík",
    "New York",
    "Saint-Étienne",
    "Århus",
    "Montréal",
    "Göteborg",
    "Cork",
)
PRODUCTS = (
    '27" monitor',
    '5" screen protector',
    "USB-C cable",
    "Desk lamp",
    "Chair, ergonomic",
    "Notebook A5",
    "Café crème pods",
    "Espresso cups (6)",
    "€5 gift card",
    "Cable 2 m",
    "Headset, wireless",
)
NOTES = (
    "",
    "",
    "urgent",
    "call before delivery",
    "left at door, signed",
    'customer said "thanks"',
    "n° 5 — fragile",
    "gift wrap",
    "paid in €",
    "re-send invoice",
    "Grüße an Frau Müller",
)
STATIONS = (
    "Zürich-Fluntern",
    "Säntis",
    "Genève, Cointrin",
    "Lugano",
    "Davos",
    "Bern / Zollikofen",
    "Neuchâtel",
)
STATUSES = ("ok", "ok", "ok", "check, sensor", "offline", "calibrated — ok", 'flag "manual"')
DEPARTMENTS = ("Sales", "R&D", "Finance, Controlling", "Logistics", "Ventes \u2013 Export", "IT")
MODES = ("onsite", "remote", "hybrid")

FIRST_ROWS: dict[str, dict[str, Value]] = {
    # Rows 0 and 1 of each table are partly fixed, so that even a smoke-size corpus has
    # é/ü/€ and a curly apostrophe (encodings) and a quote in a cell without a delimiter.
    "orders": {"customer": "Zoë Müller", "product": "€5 gift card", "note": "paid in €"},
    "sensors": {"station": "Zürich-Fluntern", "status": 'flag "manual"'},
    "staff": {"name": "Renée D\u2019Souza", "comment": "Grüße an Frau Müller"},
}
SECOND_ROWS: dict[str, dict[str, Value]] = {
    # ... and a null in a numeric column (null tokens).
    "orders": {"product": '27" monitor', "note": 'customer said "thanks"', "amount": None},
    "sensors": {"status": "check, sensor", "humidity": None},
    "staff": {"comment": 'customer said "thanks"', "bonus": None},
}


def _maybe(rng: random.Random, p_null: float, value: Value) -> Value:
    return None if rng.random() < p_null else value


def _date(rng: random.Random) -> dt.date:
    return dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(2557))


def _decimal(rng: random.Random, low: float, high: float, places: int) -> Decimal:
    scale = 10**places
    return Decimal(rng.randrange(round(low * scale), round(high * scale) + 1)).scaleb(-places)


def _amount(rng: random.Random) -> Decimal:
    """Spread over magnitudes so that some amounts need a thousands separator."""
    high = rng.choice((10, 100, 1000, 30_000))
    return _decimal(rng, 0.5, high, 2)


def _orders(rng: random.Random, n: int) -> Table:
    columns = (
        Column("order_id", "int"),
        Column("customer", "text", group="Customer"),
        Column("city", "text"),
        Column("order_date", "date", group="Order"),
        Column("quantity", "int", grouped=True),
        Column("amount", "decimal", group="Money", grouped=True),
        Column("product", "text", group="Item"),
        Column("note", "text"),
    )
    rows: list[dict[str, Value]] = []
    for i in range(n):
        qty = rng.randint(1000, 9999) if rng.random() < 0.15 else rng.randint(1, 40)
        rows.append(
            {
                "order_id": 1001 + i,
                "customer": rng.choice(PEOPLE),
                "city": rng.choice(CITIES),
                "order_date": _date(rng),
                "quantity": _maybe(rng, 0.05, qty),
                "amount": _maybe(rng, 0.1, _amount(rng)),
                "product": rng.choice(PRODUCTS),
                "note": rng.choice(NOTES),
            }
        )
    return _table("orders", columns, rows)


def _sensors(rng: random.Random, n: int) -> Table:
    columns = (
        Column("station", "text", group="Where"),
        Column("reading_date", "date"),
        Column("temperature", "decimal", group="Reading", places=1),
        Column("humidity", "int"),
        Column("pressure", "decimal", places=1, grouped=True),
        Column("status", "text", group="QA"),
    )
    rows: list[dict[str, Value]] = [
        {
            "station": rng.choice(STATIONS),
            "reading_date": _date(rng),
            "temperature": _decimal(rng, -15, 35, 1),
            "humidity": _maybe(rng, 0.08, rng.randint(10, 100)),
            "pressure": _maybe(rng, 0.05, _decimal(rng, 950, 1050, 1)),
            "status": rng.choice(STATUSES),
        }
        for _ in range(n)
    ]
    return _table("sensors", columns, rows)


def _staff(rng: random.Random, n: int) -> Table:
    columns = (
        Column("emp_id", "int"),
        Column("name", "text", group="Person"),
        Column("department", "text"),
        Column("hired", "date"),
        Column("salary", "decimal", group="Pay", grouped=True),
        Column("bonus", "decimal", grouped=True),
        Column("rating", "int"),
        Column("office", "text", group="Work"),
        Column("mode", "text"),
        Column("comment", "text"),
    )
    rows: list[dict[str, Value]] = [
        {
            "emp_id": 5000 + 3 * i,
            "name": rng.choice(PEOPLE),
            "department": rng.choice(DEPARTMENTS),
            "hired": _date(rng),
            "salary": _decimal(rng, 28_000, 140_000, 2),
            "bonus": _maybe(rng, 0.3, _decimal(rng, 500, 15_000, 2)),
            "rating": _maybe(rng, 0.1, rng.randint(1, 5)),
            "office": rng.choice(CITIES),
            "mode": rng.choice(MODES),
            "comment": rng.choice(NOTES),
        }
        for i in range(n)
    ]
    return _table("staff", columns, rows)


def _table(name: str, columns: tuple[Column, ...], rows: list[dict[str, Value]]) -> Table:
    for fixed, index in ((FIRST_ROWS, 0), (SECOND_ROWS, 1)):
        if index < len(rows):
            rows[index].update(fixed[name])
    return Table(name, columns, tuple(tuple(row[c.name] for c in columns) for row in rows))


GENERATORS: tuple[Callable[[random.Random, int], Table], ...] = (_orders, _sensors, _staff)
TABLE_NAMES = ("orders", "sensors", "staff")


def clean_tables(seed: int, rows: int | Sequence[int] | None = None) -> list[Table]:
    """The clean source tables: ``orders`` (8 columns), ``sensors`` (6), ``staff`` (10).

    ``rows``: one count for all, one per table, or None for :data:`DEFAULT_ROWS`.
    """
    return [
        gen(random.Random(f"aerofs-pollock/{GENERATOR_VERSION}/{seed}/{i}"), n)
        for i, (gen, n) in enumerate(zip(GENERATORS, row_counts(rows).values(), strict=True))
    ]


def row_counts(rows: int | Sequence[int] | None = None) -> dict[str, int]:
    """Table name → rows, from ``rows`` as :func:`clean_tables` takes it."""
    counts = DEFAULT_ROWS if rows is None else (rows,) * 3 if isinstance(rows, int) else rows
    if len(counts) != len(GENERATORS) or min(counts) < 2:
        raise ValueError(f"need {len(GENERATORS)} row counts >= 2, got {counts}")
    return dict(zip(TABLE_NAMES, counts, strict=True))


# ---------------------------------------------------------------------------------------------
# Dialects and layouts


_RAGGED: dict[str, Literal["reject", "pad", "truncate"]] = {
    "none": "reject",
    "short": "pad",
    "long": "truncate",
}

# The dialect of a corpus file is the kernel's own type (``kernels.Dialect``), read as:
# What a loader needs to know to read a corpus file (``kernels.read_csv(dialect=...)``).
#
# ``skip_rows`` counts the physical lines skipped first, above the header; comment lines
# (starting with ``comment``) are dropped wherever they are, above the header too (no
# corpus file has both, so skipping comments before or after counting agrees).
# ``header_rows`` = 2: the names are the non-blank cells of the two rows, top to bottom,
# joined with one space (no forward fill of blank group cells).
# ``ragged``: ``pad`` = short rows get nulls, ``truncate`` = extra (empty) cells at the
# end of long rows are dropped, ``reject`` = rows of the wrong width are bad rows.


Encoding: TypeAlias = Literal["utf-8", "utf-8-bom", "utf-16le-bom", "windows-1252"]


@dataclass(frozen=True)
class Layout:
    """How a clean table is written: one pollution is one or two fields off the default."""

    delimiter: str = ","
    quote: str | None = '"'
    escape: str | None = None
    """None: a quote inside a quoted cell is doubled."""
    raw_quotes: bool = False
    """Cells that contain the quote character but no delimiter are written unquoted."""
    eol: Literal["lf", "crlf", "mixed"] = "lf"
    encoding: Encoding = "utf-8"
    comment: str | None = None
    preamble: tuple[str, ...] = ()
    """Lines above the header (comment lines when they start with ``comment``)."""
    comments: tuple[tuple[int, str], ...] = ()
    """(data row index, line): comment lines written before those data rows."""
    footer: tuple[str, ...] = ()
    header_rows: int = 1
    ragged: Literal["none", "short", "long"] = "none"
    ragged_rows: frozenset[int] = frozenset()
    european: bool = False
    null_tokens: tuple[str, ...] = ()
    body: Literal["rows", "header_only", "empty"] = "rows"

    def dialect(self) -> Dialect:
        """The dialect that reads this layout back into the clean table."""
        comment = self.comment
        skipped = [line for line in self.preamble if not (comment and line.startswith(comment))]
        return Dialect(
            encoding={"utf-8-bom": "utf-8", "utf-16le-bom": "utf-16le"}.get(
                self.encoding, self.encoding
            ),
            delimiter=self.delimiter,
            quote=self.quote,
            escape=self.escape,
            skip_rows=len(skipped),
            header_rows=self.header_rows,
            comment=comment,
            skip_footer=len(self.footer),
            trim=False,
            null_values=["", *self.null_tokens],
            decimal="," if self.european else ".",
            thousands="." if self.european else None,
            date_format="%d.%m.%Y" if self.european else "%Y-%m-%d",
            timestamp_format=None,
            ragged=_RAGGED[self.ragged],
        )


# ---------------------------------------------------------------------------------------------
# Variants: one pollution each


LayoutFactory: TypeAlias = Callable[[Table, random.Random], Layout]


@dataclass(frozen=True)
class Variant:
    kind: str
    name: str
    describe: str
    layout: LayoutFactory
    once: bool = False
    """Written for the first table only (the file does not depend on the table)."""
    suffix: str = ".csv"

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


def _fixed(**fields: Any) -> LayoutFactory:
    def make(table: Table, rng: random.Random) -> Layout:
        return Layout(**fields)

    return make


def _some_rows(table: Table, rng: random.Random, share: float = 0.1) -> frozenset[int]:
    """About ``share`` of the data rows (at least one), never the first."""
    candidates = range(1, len(table.rows))
    return frozenset(rng.sample(candidates, max(1, round(share * len(table.rows)))))


def _title_lines(table: Table, rng: random.Random) -> Layout:
    lines = (
        f"{table.name.title()} export",
        "Generated: 2025-06-30 08:15 by ERP",
        "Region,North,,Q2",
    )
    return Layout(preamble=lines[: rng.randint(1, 3)])


def _comment_preamble(table: Table, rng: random.Random) -> Layout:
    lines = ("# exported by ERP v2.3", "# columns: see data dictionary", "# confidential")
    return Layout(comment="#", preamble=lines[: rng.randint(1, 3)])


def _comments_inside(table: Table, rng: random.Random) -> Layout:
    texts = ("# checked by QA", "# --- page 2 ---", "# figures provisional, see note 4")
    count = rng.randint(2, 3)
    at = sorted(rng.sample(range(1, len(table.rows)), min(count, len(table.rows) - 1)))
    return Layout(comment="#", comments=tuple(zip(at, texts, strict=False)))


def _total(table: Table) -> str:
    index = next(i for i, c in enumerate(table.columns) if c.kind == "decimal")
    values = [row[index] for row in table.rows]
    return str(sum(v for v in values if isinstance(v, int | Decimal)))


def _footnotes(table: Table, rng: random.Random) -> Layout:
    lines = (f"Total,,{_total(table)}", "Source: internal ERP export, 2025", "Figures in EUR")
    return Layout(footer=lines[: rng.randint(1, 3)])


def _ragged(which: Literal["short", "long"]) -> LayoutFactory:
    def make(table: Table, rng: random.Random) -> Layout:
        return Layout(ragged=which, ragged_rows=_some_rows(table, rng))

    return make


VARIANTS: tuple[Variant, ...] = (
    Variant("clean", "standard", "control: RFC 4180, comma, LF, one header row", _fixed()),
    Variant("delimiter", "semicolon", "delimiter ;", _fixed(delimiter=";")),
    Variant("delimiter", "pipe", "delimiter |", _fixed(delimiter="|")),
    Variant("delimiter", "tab", "delimiter tab", _fixed(delimiter="\t")),
    Variant("delimiter", "colon", "delimiter :", _fixed(delimiter=":")),
    Variant("delimiter", "comma_space", "two-byte delimiter ', '", _fixed(delimiter=", ")),
    Variant("delimiter", "double_pipe", "two-byte delimiter ||", _fixed(delimiter="||")),
    Variant("delimiter", "double_semicolon", "two-byte delimiter ;;", _fixed(delimiter=";;")),
    Variant("quote", "single", "quote char ' (doubled inside); \" is plain", _fixed(quote="'")),
    Variant("quote", "none", "no quoting at all, tab-delimited (safe: no tabs in cells)",
            _fixed(delimiter="\t", quote=None)),
    Variant("quote", "backslash_escape", 'quote " escaped as \\" (and \\ as \\\\)',
            _fixed(escape="\\")),
    Variant("line_terminator", "crlf", "every line ends \\r\\n", _fixed(eol="crlf")),
    Variant("line_terminator", "mixed", "\\r\\n and \\n mixed at random", _fixed(eol="mixed")),
    Variant("preamble", "title_lines", "1-3 title lines above the header", _title_lines),
    Variant("preamble", "comment_lines", "1-3 '#' lines above the header", _comment_preamble),
    Variant("comments", "inside_data", "2-3 '#' lines between data rows", _comments_inside),
    Variant("footnote", "trailing_lines", "1-3 lines below the table (Total,,N; Source: ...)",
            _footnotes),
    Variant("header", "none", "no header row", _fixed(header_rows=0)),
    Variant("header", "two_rows", "group row (blanks) above the names", _fixed(header_rows=2)),
    Variant("ragged", "short_rows", "~10% of rows miss their last cell", _ragged("short")),
    Variant("ragged", "long_rows", "~10% of rows have one extra empty cell", _ragged("long")),
    Variant("stray_quote", "unquoted", 'cells with " but no comma left unquoted (27" monitor)',
            _fixed(raw_quotes=True)),
    Variant("empty", "empty_file", "0 bytes", _fixed(body="empty"), once=True),
    Variant("empty", "header_only", "the header line and nothing else",
            _fixed(body="header_only")),
    Variant("encoding", "windows_1252", "Windows-1252 (é ü € \u2019 as single bytes)",
            _fixed(encoding="windows-1252")),
    Variant("encoding", "utf16le_bom_tab", "UTF-16 LE, BOM, tab, CRLF (Excel 'Unicode text')",
            _fixed(encoding="utf-16le-bom", delimiter="\t", eol="crlf"), suffix=".txt"),
    Variant("encoding", "utf8_bom", "UTF-8 with BOM", _fixed(encoding="utf-8-bom")),
    Variant("european", "decimal_comma", "; delimiter, 1.234,50 numbers, 31.12.2025 dates",
            _fixed(delimiter=";", european=True)),
    Variant("nulls", "tokens", "numeric nulls as NA / NULL / n/a / - (mixed)",
            _fixed(null_tokens=NULL_TOKENS)),
)  # fmt: skip


def variant_ids() -> list[str]:
    return [v.id for v in VARIANTS]


def select_variants(only: Sequence[str] | None) -> list[Variant]:
    """The variants named by kind (``delimiter``) or id (``delimiter/pipe``); all if None."""
    if not only:
        return list(VARIANTS)
    wanted = set(only)
    known = {v.kind for v in VARIANTS} | {v.id for v in VARIANTS}
    unknown = wanted - known
    if unknown:
        raise ValueError(f"unknown kinds/variants {sorted(unknown)}; known: {sorted(known)}")
    return [v for v in VARIANTS if v.kind in wanted or v.id in wanted]


# ---------------------------------------------------------------------------------------------
# Writing a file and its ground truth


def _group_thousands(digits: str, sep: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sep.join(parts)


def _cell_text(value: Value, column: Column, layout: Layout, rng: random.Random) -> str:
    if value is None:
        numeric = column.kind in ("int", "decimal")
        return rng.choice(layout.null_tokens) if layout.null_tokens and numeric else ""
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y" if layout.european else "%Y-%m-%d")
    if isinstance(value, str):
        return value
    text = f"{abs(value):.{column.places}f}" if isinstance(value, Decimal) else str(abs(value))
    sign = "-" if value < 0 else ""
    if not layout.european:
        return sign + text
    whole, _, fraction = text.partition(".")
    if column.grouped:
        whole = _group_thousands(whole, ".")
    return sign + whole + ("," + fraction if fraction else "")


def _quoted(cell: str, layout: Layout) -> str:
    quote, delimiter, escape = layout.quote, layout.delimiter, layout.escape
    breaks = "\r" in cell or "\n" in cell
    edges = bool(cell) and (cell[0] in delimiter or cell[-1] in delimiter)
    splits = delimiter in cell or edges
    if quote is None:
        if breaks or splits:
            raise ValueError(f"cell {cell!r} cannot be written unquoted with {delimiter!r}")
        return cell
    needs = breaks or splits or (quote in cell and not layout.raw_quotes)
    needs = needs or (escape is not None and escape in cell)
    if not needs:
        return cell
    if escape is None:
        body = cell.replace(quote, quote + quote)
    else:
        body = cell.replace(escape, escape + escape).replace(quote, escape + quote)
    return quote + body + quote


def _header_lines(table: Table, layout: Layout) -> list[list[str]]:
    if layout.header_rows == 0:
        return []
    names = list(table.names)
    if layout.header_rows == 1:
        return [names]
    return [[c.group for c in table.columns], names]


def expected_header(table: Table, layout: Layout) -> tuple[str, ...]:
    if layout.body == "empty" or layout.header_rows == 0:
        return ()
    if layout.header_rows == 1:
        return table.names
    return tuple(" ".join(p for p in (c.group, c.name) if p) for c in table.columns)


def expected_records(table: Table, layout: Layout) -> tuple[tuple[str, ...], ...]:
    if layout.body != "rows":
        return ()
    records = []
    for i, row in enumerate(table.rows):
        cells = [normalise(v) for v in row]
        if layout.ragged == "short" and i in layout.ragged_rows:
            cells[-1] = ""
        records.append(tuple(cells))
    return tuple(records)


def render(table: Table, layout: Layout, rng: random.Random) -> bytes:
    """The bytes of ``table`` written with ``layout`` (``rng`` picks null tokens, EOLs)."""
    if layout.body == "empty":
        return b""
    delimiter = layout.delimiter
    lines = list(layout.preamble)
    for cells in _header_lines(table, layout):
        lines.append(delimiter.join(_quoted(c, layout) for c in cells))
    comments: dict[int, list[str]] = {}
    for at, text in layout.comments:
        comments.setdefault(at, []).append(text)
    for i, row in enumerate(table.rows if layout.body == "rows" else ()):
        lines.extend(comments.get(i, ()))
        cells = [_cell_text(v, c, layout, rng) for v, c in zip(row, table.columns, strict=True)]
        if i in layout.ragged_rows and layout.ragged == "short":
            cells = cells[:-1]
        elif i in layout.ragged_rows and layout.ragged == "long":
            cells = [*cells, ""]
        lines.append(delimiter.join(_quoted(c, layout) for c in cells))
    lines.extend(layout.footer)
    eols = {"lf": ("\n",), "crlf": ("\r\n",), "mixed": ("\r\n", "\n")}[layout.eol]
    text = "".join(line + rng.choice(eols) for line in lines)
    if layout.encoding == "utf-8":
        return text.encode("utf-8")
    if layout.encoding == "utf-8-bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    if layout.encoding == "utf-16le-bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode("cp1252")


@dataclass(frozen=True)
class CorpusFile:
    """One polluted file, its dialect and its ground truth (normalised text)."""

    path: Path
    table: str
    kind: str
    variant: str
    """``kind/name``."""
    dialect: Dialect
    header: tuple[str, ...]
    records: tuple[tuple[str, ...], ...]
    size: int = field(default=0)

    @property
    def id(self) -> str:
        return f"{self.table}/{self.variant}"


def build_corpus(
    directory: Path,
    *,
    seed: int = 42,
    rows: int | Sequence[int] | None = None,
    only: Sequence[str] | None = None,
) -> list[CorpusFile]:
    """Write the corpus into ``directory`` (created if missing) and return its files."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for index, table in enumerate(clean_tables(seed, rows)):
        for variant in select_variants(only):
            if variant.once and index > 0:
                continue
            rng = random.Random(
                f"aerofs-pollock/{GENERATOR_VERSION}/{seed}/{table.name}/{variant.id}"
            )
            layout = variant.layout(table, rng)
            data = render(table, layout, rng)
            name = f"{variant.kind}__{variant.name}{variant.suffix}"
            if not variant.once:
                name = f"{table.name}__{name}"
            path = directory / name
            path.write_bytes(data)
            files.append(
                CorpusFile(
                    path=path,
                    table=table.name,
                    kind=variant.kind,
                    variant=variant.id,
                    dialect=layout.dialect(),
                    header=expected_header(table, layout),
                    records=expected_records(table, layout),
                    size=len(data),
                )
            )
    return files


def write_manifest(files: Sequence[CorpusFile], path: Path) -> None:
    """``manifest.json``: every file's dialect and ground truth (for kernel tests)."""
    entries = [
        {
            "file": f.path.name,
            "table": f.table,
            "variant": f.variant,
            "dialect": f.dialect,
            "header": list(f.header),
            "records": [list(r) for r in f.records],
        }
        for f in files
    ]
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Reference reader: what reading a corpus file with its dialect means


def _decode(data: bytes, encoding: str) -> str:
    name = encoding.lower().replace("_", "-")
    if name in ("utf-8", "utf8"):
        return data.decode("utf-8-sig")
    if name in ("utf-16le", "utf-16-le", "utf-16"):
        text = data.decode("utf-16-le" if name != "utf-16" else "utf-16")
        return text.removeprefix("\ufeff")
    return data.decode(name)


def _split_cells(line: str, dialect: Dialect) -> list[str]:
    """One line's cells; a quote opens a quoted cell only at the start of a cell."""
    delimiter, quote, escape = dialect["delimiter"], dialect["quote"], dialect["escape"]
    cells: list[str] = []
    i, n = 0, len(line)
    while True:
        if quote and line.startswith(quote, i):
            i += len(quote)
            parts: list[str] = []
            while i < n:
                if escape is not None and line.startswith(escape, i) and i + 1 < n:
                    parts.append(line[i + 1])
                    i += 2
                elif line.startswith(quote, i):
                    if escape is None and line.startswith(quote, i + 1):
                        parts.append(quote)
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    parts.append(line[i])
                    i += 1
            end = line.find(delimiter, i)
            end = n if end < 0 else end
            cells.append("".join(parts) + line[i:end])  # text after the closing quote is kept
        else:
            end = line.find(delimiter, i)
            end = n if end < 0 else end
            cells.append(line[i:end])
        if end >= n:
            return cells
        i = end + len(delimiter)


_GROUPED = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")


def _typed(cell: str, dialect: Dialect) -> str:
    text = cell.strip()
    if text in dialect["null_values"]:
        return ""
    if dialect["decimal"] == "," and (
        _DECIMAL_COMMA.fullmatch(text) or (dialect["thousands"] == "." and _GROUPED.fullmatch(text))
    ):
        text = text.replace(dialect["thousands"] or "", "").replace(",", ".")
    if dialect["date_format"]:
        try:
            return dt.datetime.strptime(text, dialect["date_format"]).date().isoformat()
        except ValueError:
            pass
    return normalise(text)


def read_with_dialect(path: Path, dialect: Dialect) -> tuple[list[str], list[list[str]]]:
    """Read a corpus file the way its dialect says (the ground truth's definition).

    A slow, line-based reference (cells never contain line breaks in this corpus), kept
    for the tests and as a readable statement of every :class:`Dialect` key: decode,
    drop comment lines, skip ``skip_rows`` lines and the last ``skip_footer``, join
    ``header_rows`` header lines, split cells, apply ``ragged``, null values, the number
    and date formats, then :func:`normalise`.
    """
    text = _decode(path.read_bytes(), dialect["encoding"])
    lines = re.split(r"\r\n|\n|\r", text)
    if lines and lines[-1] == "":
        lines.pop()
    comment = dialect["comment"]
    if comment:
        lines = [line for line in lines if not line.startswith(comment)]
    lines = lines[dialect["skip_rows"] :]
    if dialect["skip_footer"]:
        lines = lines[: -dialect["skip_footer"]]
    head = [_split_cells(line, dialect) for line in lines[: dialect["header_rows"]]]
    names = [" ".join(p.strip() for p in parts if p.strip()) for parts in zip(*head, strict=False)]
    width = len(names) if names else None
    records = []
    for line in lines[dialect["header_rows"] :]:
        cells = _split_cells(line, dialect)
        width = width or len(cells)
        if len(cells) < width and dialect["ragged"] == "pad":
            cells += [""] * (width - len(cells))
        elif len(cells) > width and dialect["ragged"] == "truncate":
            if any(c.strip() for c in cells[width:]):
                continue
            cells = cells[:width]
        if len(cells) != width:
            continue  # a bad row
        records.append([_typed(c, dialect) for c in cells])
    return names, records
