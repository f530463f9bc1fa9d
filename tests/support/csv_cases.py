"""Seeded generators of tricky CSV files, with the values a correct parser must produce.

Every generator is deterministic for a given seed. A generated file comes with its
expected column names, Arrow types (what inference must find), Python values (``None``
for null) and the physical line on which each data row starts, so tests can check the
kernel both against pyarrow's own CSV parser and against an oracle independent of it.

Conventions (they follow the kernel contract):

* empty cells, quoted or not, are null in every column;
* timestamps are ``YYYY-MM-DD[T or space]HH:MM:SS[.fraction]``, fractions of up to nine
  digits are truncated to microseconds (only post-1970 values get more than six digits,
  so truncation and flooring agree); values with ``Z`` / ``+HH:MM`` are converted to UTC;
* booleans are ``true`` / ``false`` in random letter case.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

UTC = dt.UTC
BOM = "\ufeff"


@dataclass
class Cell:
    text: str | None
    """The field's content before quoting; ``None`` for an empty (null) cell."""
    value: Any
    """What the kernel must produce (``None`` for null)."""


@dataclass
class CsvCase:
    """A generated file and what a correct conversion of it yields."""

    path: Path
    columns: list[str]
    types: dict[str, pa.DataType]
    values: dict[str, list[Any]]
    row_lines: list[int]
    """Physical (1-based) line on which each data row starts."""
    delimiter: str = ","
    has_header: bool = True
    size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.row_lines)

    def null_counts(self) -> dict[str, int]:
        return {name: sum(v is None for v in vals) for name, vals in self.values.items()}

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, self.types[n]) for n in self.columns])

    def expected_table(self) -> pa.Table:
        return pa.table({n: pa.array(self.values[n], self.types[n]) for n in self.columns})


def type_name(t: pa.DataType) -> str:
    """The kernel's short type name (``int64``, ``date32``, ``timestamp[us, tz=UTC]``)."""
    if pa.types.is_large_string(t):
        return "string"
    if t == pa.date32():
        return "date32"
    return str(t)


# --------------------------------------------------------------------------- values


def random_case(rng: random.Random, word: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def all_cases(word: str) -> list[str]:
    return ["".join(chars) for chars in itertools.product(*[(c.lower(), c.upper()) for c in word])]


TRUE_VALUES = all_cases("true")
FALSE_VALUES = all_cases("false")

TRICKY_STRINGS = [
    "hello, world",
    'say "hi"',
    '"',
    '""',
    ",",
    ",,,",
    "line1\nline2",
    "crlf1\r\nline2",
    "a\n\nb",
    "ends with newline\n",
    "\nstarts with newline",
    "ünïcödé ✓ 日本語 🎉",
    "Ελληνικά, кириллица",
    "  padded  ",
    " ",
    "tab\there",
    "123",
    "-4.5e10",
    "true",
    "2021-01-01",
    "2021-01-01T00:00:00Z",
    'trailing quote"',
    '"leading quote',
    "emoji 👩‍👩‍👧 family",
    "back\\slash",
]

WORD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCXYZ éüßøçñ日本語中文🙂 ,\"\n'-_."


def gen_int(rng: random.Random) -> Cell:
    r = rng.random()
    if r < 0.02:
        v = rng.choice([0, -1, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1])
    elif r < 0.3:
        v = rng.randint(-1000, 1000)
    else:
        v = rng.randint(-(2**62), 2**62)
    return Cell(str(v), v)


def gen_float(rng: random.Random) -> Cell:
    r = rng.random()
    if r < 0.2:
        v = rng.randint(-100000, 100000)  # plain integers mixed into a float column
        return Cell(str(v), float(v))
    if r < 0.25:
        text = rng.choice(
            ["1e10", "1.5E-3", "-0.0", "0.0", "5e-324", "1.7976931348623157e+308", "-2.5e+300"]
        )
        return Cell(text, float(text))
    if r < 0.6:
        v = round(rng.uniform(-1e6, 1e6), rng.randint(0, 6))
    else:
        v = rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30)
    return Cell(repr(v), v)


def gen_bool(rng: random.Random) -> Cell:
    v = rng.random() < 0.5
    return Cell(random_case(rng, "true" if v else "false"), v)


def gen_date(rng: random.Random) -> Cell:
    if rng.random() < 0.01:
        d = rng.choice([dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1)])
    else:
        d = dt.date.fromordinal(
            rng.randint(dt.date(1900, 1, 1).toordinal(), dt.date(2100, 1, 1).toordinal())
        )
    return Cell(d.isoformat(), d)


def _ts_parts(rng: random.Random, min_year: int) -> tuple[dt.datetime, str, str]:
    """A naive datetime (microsecond-truncated) and its text without any offset."""
    ndigits = rng.choice([0, 0, 1, 3, 6, 6, 7, 9])
    year_lo = max(min_year, 1971) if ndigits > 6 else min_year
    base = dt.datetime(year_lo, 1, 1) + dt.timedelta(
        seconds=rng.randint(
            0, (dt.datetime(2099, 12, 31) - dt.datetime(year_lo, 1, 1)).days * 86400
        )
    )
    digits = "".join(rng.choice("0123456789") for _ in range(ndigits))
    micros = int(digits[:6].ljust(6, "0")) if digits else 0
    value = base.replace(microsecond=micros)
    sep = rng.choice(["T", " "])
    text = base.strftime("%Y-%m-%d") + sep + base.strftime("%H:%M:%S")
    if digits:
        text += "." + digits
    return value, text, sep


def gen_ts_naive(rng: random.Random) -> Cell:
    value, text, _ = _ts_parts(rng, 1900)
    return Cell(text, value)


def gen_ts_utc(rng: random.Random) -> Cell:
    local, text, _ = _ts_parts(rng, 1902)
    r = rng.random()
    if r < 0.3:
        text += "Z"
        offset = dt.timedelta(0)
    elif r < 0.4:
        text += "+00:00"
        offset = dt.timedelta(0)
    else:
        hours, minutes = rng.randint(0, 14), rng.choice([0, 15, 30, 45])
        sign = rng.choice([1, -1])
        offset = sign * dt.timedelta(hours=hours, minutes=minutes)
        text += f"{'+' if sign > 0 else '-'}{hours:02d}:{minutes:02d}"
    value = local.replace(tzinfo=dt.timezone(offset)).astimezone(UTC)
    return Cell(text, value)


def gen_text(rng: random.Random) -> Cell:
    r = rng.random()
    if r < 0.3:
        s = rng.choice(TRICKY_STRINGS)
    else:
        s = "".join(rng.choice(WORD_ALPHABET) for _ in range(rng.randint(1, 40)))
    if rng.random() < 0.1:
        s = s.replace("\n", "\r\n")
    return Cell(s, s)


def gen_label(rng: random.Random) -> Cell:
    s = rng.choice(["plain", 'x"y', "a,b", "über", "Z", "42abc", "NaNa", "x y"])
    return Cell(s, s)


GENERATORS = {
    "int": (gen_int, pa.int64()),
    "double": (gen_float, pa.float64()),
    "bool": (gen_bool, pa.bool_()),
    "date": (gen_date, pa.date32()),
    "ts": (gen_ts_naive, pa.timestamp("us")),
    "tsz": (gen_ts_utc, pa.timestamp("us", tz="UTC")),
    "text": (gen_text, pa.string()),
    "label": (gen_label, pa.string()),
}

# (header name, generator kind, null probability). The first data row of every column
# except "empty" is non-null and decides the type unambiguously (a float for "amount",
# letters for "text"), so inference never depends on the sample size.
MIXED_COLUMNS: list[tuple[str, str, float]] = [
    ("id", "int", 0.0),
    ("amount", "double", 0.1),
    ("flag", "bool", 0.1),
    ("day", "date", 0.1),
    ("ts_naive", "ts", 0.1),
    ("ts_utc", "tsz", 0.1),
    ("text", "text", 0.1),
    ("label, quoted", "label", 0.2),
    ("empty", "empty", 1.0),
    ("sparse ünï", "int", 0.8),
]

FIRST_ROW = {
    "int": Cell("1", 1),
    "double": Cell("0.5", 0.5),
    "text": Cell('alpha, "beta"', 'alpha, "beta"'),
    "label": Cell("plain", "plain"),
}


def mixed_types() -> dict[str, pa.DataType]:
    return {
        name: (pa.string() if kind == "empty" else GENERATORS[kind][1])
        for name, kind, _ in MIXED_COLUMNS
    }


def gen_mixed_rows(rng: random.Random, n: int) -> list[list[Cell]]:
    rows = []
    for i in range(n):
        row = []
        for _name, kind, null_p in MIXED_COLUMNS:
            if kind == "empty":
                row.append(Cell(None, None))
            elif i == 0:
                row.append(FIRST_ROW.get(kind) or GENERATORS[kind][0](rng))
            elif rng.random() < null_p:
                row.append(Cell(None, None))
            else:
                row.append(GENERATORS[kind][0](rng))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- rendering


def quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def render_field(text: str | None, delimiter: str, rng: random.Random, quote_prob: float) -> str:
    if text is None or text == "":
        return '""' if rng.random() < 0.3 else ""
    if any(c in text for c in (delimiter, '"', "\n", "\r")) or rng.random() < quote_prob:
        return quote(text)
    return text


def render_record(fields: list[str], delimiter: str) -> str:
    return delimiter.join(fields)


@dataclass
class Layout:
    """How records become a file."""

    line_ending: str = "\n"  # "\n", "\r\n" or "mixed"
    bom: bool = False
    trailing_newline: bool = True
    blank_last_line: bool = False
    delimiter: str = ","
    has_header: bool = True
    quote_prob: float = 0.05


def assemble(records: list[str], layout: Layout, rng: random.Random) -> tuple[str, list[int]]:
    """Join records (already rendered) into file text; returns text and each record's line."""
    parts: list[str] = []
    lines: list[int] = []
    line = 1
    for i, rec in enumerate(records):
        lines.append(line)
        parts.append(rec)
        line += rec.count("\n")
        last = i == len(records) - 1
        if not last or layout.trailing_newline:
            if layout.line_ending == "mixed":
                parts.append(rng.choice(["\n", "\r\n"]))
            else:
                parts.append(layout.line_ending)
            line += 1
    if layout.blank_last_line:
        parts.append("\r\n" if layout.line_ending == "\r\n" else "\n")
    text = "".join(parts)
    if layout.bom:
        text = BOM + text
    return text, lines


def write_case(
    path: Path,
    names: list[str],
    types: dict[str, pa.DataType],
    rows: list[list[Cell]],
    layout: Layout,
    rng: random.Random,
    *,
    out_names: list[str] | None = None,
) -> CsvCase:
    d = layout.delimiter
    records = []
    if layout.has_header:
        records.append(render_record([render_field(n, d, rng, 0.1) for n in names], d))
    for row in rows:
        records.append(
            render_record([render_field(c.text, d, rng, layout.quote_prob) for c in row], d)
        )
    text, lines = assemble(records, layout, rng)
    data = text.encode("utf-8")
    path.write_bytes(data)
    if layout.has_header:
        lines = lines[1:]
    out_names = out_names or names
    return CsvCase(
        path=path,
        columns=out_names,
        types={o: types[n] for o, n in zip(out_names, names, strict=True)},
        values={o: [row[j].value for row in rows] for j, o in enumerate(out_names)},
        row_lines=lines,
        delimiter=d,
        has_header=layout.has_header,
        size=len(data),
    )


def mixed_case(path: Path, n_rows: int, seed: int, layout: Layout | None = None) -> CsvCase:
    """A file with every column kind, nulls, quoting, multi-line values and unicode."""
    rng = random.Random(seed)
    layout = layout or Layout()
    names = [n for n, _, _ in MIXED_COLUMNS]
    rows = gen_mixed_rows(rng, n_rows)
    out_names = names if layout.has_header else [f"column_{i + 1}" for i in range(len(names))]
    return write_case(path, names, mixed_types(), rows, layout, rng, out_names=out_names)


def large_case(path: Path, target_bytes: int, seed: int, line_ending: str = "\n") -> CsvCase:
    """A ~target_bytes file built quickly by sampling rows from a pool of generated rows.

    The pool includes a few very long multi-line quoted values so that chunk
    boundaries land inside quoted fields. Values are not kept (too many); the case has
    ``values`` empty but ``extra["null_counts"]`` and ``rows``.
    """
    rng = random.Random(seed)
    names = [n for n, _, _ in MIXED_COLUMNS]
    pool_rows = gen_mixed_rows(rng, 4000)
    text_idx = names.index("text")
    for k in range(1, 6):
        big = ('long quoted, "value"\n' * rng.randint(50, 1000)) + str(k)
        pool_rows[k * 97][text_idx] = Cell(big, big)
    layout = Layout(line_ending=line_ending)
    pool = [
        render_record([render_field(c.text, ",", rng, layout.quote_prob) for c in row], ",")
        for row in pool_rows
    ]
    header = render_record([render_field(n, ",", rng, 0.0) for n in names], ",")
    avg = sum(len(r.encode()) + len(line_ending) for r in pool) / len(pool)
    n = max(1, int(target_bytes / avg))
    picks = [0, *rng.choices(range(len(pool)), k=n - 1)]
    body = line_ending.join(pool[i] for i in picks)
    data = (header + line_ending + body + line_ending).encode("utf-8")
    path.write_bytes(data)
    nulls = {name: 0 for name in names}
    counts: dict[int, int] = {}
    for i in picks:
        counts[i] = counts.get(i, 0) + 1
    for i, c in counts.items():
        for j, name in enumerate(names):
            if pool_rows[i][j].value is None:
                nulls[name] += c
    newlines_per = [r.count("\n") + 1 for r in pool]
    last_line = 1 + sum(newlines_per[i] for i in picks[:-1]) + 1
    return CsvCase(
        path=path,
        columns=names,
        types=mixed_types(),
        values={},
        row_lines=[],
        size=len(data),
        extra={"rows": n, "null_counts": nulls, "last_row_line": last_line},
    )


# --------------------------------------------------------------------------- pyarrow oracle


def pyarrow_reference(
    path: Path,
    columns: list[str],
    types: dict[str, pa.DataType],
    *,
    delimiter: str = ",",
    has_header: bool = True,
) -> pa.Table:
    """Parse ``path`` with pyarrow's CSV reader into the given schema (nulls: empty only).

    Timestamps are parsed at nanosecond precision and truncated to microseconds.
    """
    column_types = {}
    for name in columns:
        t = types[name]
        if pa.types.is_timestamp(t):
            t = pa.timestamp("ns", tz=t.tz)
        column_types[name] = t
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=columns, skip_rows=1 if has_header else 0, block_size=1 << 22
        ),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            true_values=TRUE_VALUES,
            false_values=FALSE_VALUES,
        ),
    )
    arrays = [table[n].cast(types[n], safe=False) for n in columns]
    return pa.table(arrays, names=columns)


# --------------------------------------------------------------------------- bad inputs


@dataclass
class BadRow:
    """A row that must be rejected: where, and why."""

    line: int
    column: int | None
    column_name: str | None
    reason_contains: str
    record: str
    """The raw record text, without its line terminator."""


@dataclass
class BadCase:
    path: Path
    schema: pa.Schema | None
    good_values: dict[str, list[Any]]
    bad_rows: list[BadRow]
    size: int = 0


def build_file(path: Path, records: list[bytes], line_ending: bytes = b"\n") -> list[int]:
    """Write records (raw bytes) joined by line_ending + trailing one; return start lines."""
    lines = []
    line = 1
    for rec in records:
        lines.append(line)
        line += rec.count(b"\n") + 1
    path.write_bytes(line_ending.join(records) + line_ending)
    return lines


def quarantine_case(path: Path, line_ending: bytes = b"\n") -> BadCase:
    """Good rows interleaved with every kind of bad row, under an explicit schema.

    Multi-line quoted values in good rows shift the physical line numbers, so the
    expected lines check that the kernel counts newlines inside quoted fields.
    """
    schema = pa.schema(
        [
            ("n", pa.int64()),
            ("s", pa.string()),
            ("d", pa.date32()),
            ("b", pa.bool_()),
            ("t", pa.timestamp("us")),
        ]
    )
    good: dict[str, list[Any]] = {f.name: [] for f in schema}
    bad: list[BadRow] = []
    records: list[bytes] = [b"n,s,d,b,t"]
    kinds: list[tuple[str, Any]] = []

    def add_good(n: int, s: str | None, d: dt.date | None, b: bool | None, t: dt.datetime | None):
        fields = [
            str(n),
            "" if s is None else quote(s),
            "" if d is None else d.isoformat(),
            "" if b is None else str(b).lower(),
            "" if t is None else t.isoformat(sep=" "),
        ]
        records.append(",".join(fields).encode())
        kinds.append(("good", None))
        for k, v in zip(("n", "s", "d", "b", "t"), (n, s, d, b, t), strict=True):
            good[k].append(v)

    def add_bad(raw: bytes, column: int | None, name: str | None, reason: str):
        records.append(raw)
        kinds.append(("bad", (column, name, reason, raw)))

    day = dt.date(2020, 2, 29)
    ts = dt.datetime(2021, 3, 4, 5, 6, 7, 890000)
    add_good(1, "multi\nline\nvalue", day, True, ts)
    add_bad(b'2,"x",2020-01-01,true', None, None, "expected 5 fields, found 4")
    add_good(3, "plain", None, False, None)
    add_bad(b"abc,y,2020-01-01,true,2020-01-01 00:00:00", 1, "n", "")
    add_good(5, 'quote " and, comma\r\nand crlf', day, None, ts)
    add_bad(
        b'6,"z\nz",2020-01-01,true,2020-01-01 00:00:00,extra',
        None,
        None,
        "expected 5 fields, found 6",
    )
    add_good(7, None, day, True, ts)
    add_bad(b"8,w,2020-13-01,true,2020-01-01 00:00:00", 3, "d", "")
    add_bad(b"9,w,2020-01-01,maybe,2020-01-01 00:00:00", 4, "b", "")
    add_bad(b"10,w,2020-01-01,true,yesterday", 5, "t", "")
    add_bad(b"11,bad \xff\xfe utf8,2020-01-01,true,2020-01-01 00:00:00", 2, "s", "")
    add_good(12, "after the bad ones", day, False, ts)
    add_bad(b"1.5,w,2020-01-01,true,2020-01-01 00:00:00", 1, "n", "")
    add_bad(b"99999999999999999999,w,2020-01-01,true,2020-01-01 00:00:00", 1, "n", "")
    add_good(15, "last", None, None, None)

    lines = build_file(path, records, line_ending)
    for (kind, info), line in zip(kinds, lines[1:], strict=True):
        if kind == "bad":
            column, name, reason, raw = info
            record = raw.decode("utf-8", errors="replace")
            bad.append(BadRow(line, column, name, reason, record))
    return BadCase(
        path=path, schema=schema, good_values=good, bad_rows=bad, size=path.stat().st_size
    )


def late_bad_value_case(path: Path, target_bytes: int, seed: int) -> tuple[CsvCase, int]:
    """An int column whose only non-int value comes after ``target_bytes`` of good rows.

    Returns the case (types as inferred from the good rows) and the line of the bad row.
    Earlier rows contain multi-line quoted values so the line number must be counted.
    """
    rng = random.Random(seed)
    chunks = ["id,note,value\n"]
    line = 2
    size = len(chunks[0])
    i = 0
    while size < target_bytes:
        note = "two\nlines" if i % 7 == 0 else f"row {i}"
        rec = f'{i},"{note}",{rng.randint(-(10**9), 10**9)}\n'
        chunks.append(rec)
        size += len(rec)
        line += rec.count("\n")
        i += 1
    bad_line = line
    chunks.append(f'{i},"bad one",12x34\n')
    chunks.append(f'{i + 1},"after",5\n')
    data = "".join(chunks).encode()
    path.write_bytes(data)
    case = CsvCase(
        path=path,
        columns=["id", "note", "value"],
        types={"id": pa.int64(), "note": pa.string(), "value": pa.int64()},
        values={},
        row_lines=[],
        size=len(data),
        extra={"rows": i + 2, "good_rows": i + 1},
    )
    return case, bad_line


def random_binary(path: Path, size: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    return path


def gzip_of_csv(path: Path, seed: int) -> Path:
    buf = io.StringIO()
    rng = random.Random(seed)
    buf.write("a,b,c\n")
    for i in range(2000):
        buf.write(f"{i},{rng.random()},word{rng.randint(0, 99)}\n")
    path.write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))
    return path
