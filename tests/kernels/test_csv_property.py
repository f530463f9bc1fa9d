"""Property tests: typed round trips, and arbitrary bytes never crash or hang the kernel."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import random
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aerofs_pipelines.kernels import csv_to_parquet, read_csv
from aerofs_pipelines.kernels.errors import InputFormatError, KernelError, KernelInternalError
from tests.support.csv_cases import FALSE_VALUES, TRUE_VALUES, Layout, mixed_case, type_name

UTC = dt.UTC

# Reproducible in CI: derandomized, no example database, our own hang guard instead of
# hypothesis' deadline (which cannot interrupt a call that never returns).
PROFILE = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

HANG_TIMEOUT = 30.0

# --------------------------------------------------------------------------- value strategies

NO_CR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00")


def _date_text(d: dt.date | dt.datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


@st.composite
def _ts_text(draw: st.DrawFn, d: dt.datetime) -> str:
    sep = draw(st.sampled_from(["T", " "]))
    text = _date_text(d) + sep + f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    us = d.microsecond
    if us:
        text += draw(st.sampled_from([f".{us:06d}", f".{us:06d}000", f".{us:06d}".rstrip("0")]))
    else:
        text += draw(st.sampled_from(["", ".0", ".000000000"]))
    return text


def _bool_cell(v: bool) -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from(TRUE_VALUES if v else FALSE_VALUES).map(lambda t: (t, v))


def _naive_cell(d: dt.datetime) -> st.SearchStrategy[tuple[str, Any]]:
    return _ts_text(d).map(lambda t: (t, d))


@st.composite
def _aware_cell(draw: st.DrawFn, d: dt.datetime) -> tuple[str, Any]:
    text = draw(_ts_text(d.replace(tzinfo=None)))
    off = d.utcoffset()
    assert off is not None
    minutes = int(off.total_seconds() // 60)
    if minutes == 0:
        text += draw(st.sampled_from(["Z", "+00:00"]))
    else:
        sign = "+" if minutes > 0 else "-"
        text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return text, d.astimezone(UTC)


def _text_cell(s: str) -> st.SearchStrategy[tuple[str, Any]]:
    return (
        st.booleans().map(lambda crlf: s.replace("\n", "\r\n") if crlf else s).map(lambda v: (v, v))
    )


TZ = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))

# kind -> (arrow type, strategy of (text, expected value))
KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy[tuple[str, Any]]]] = {
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1).map(lambda v: (str(v), v))),
    "double": (
        pa.float64(),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda v: (repr(v), v)),
    ),
    "bool": (pa.bool_(), st.booleans().flatmap(_bool_cell)),
    "date": (pa.date32(), st.dates().map(lambda d: (_date_text(d), d))),
    "ts": (
        pa.timestamp("us"),
        st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)).flatmap(_naive_cell),
    ),
    "tsz": (
        pa.timestamp("us", tz="UTC"),
        st.datetimes(dt.datetime(1900, 1, 2), dt.datetime(2200, 1, 1), timezones=TZ).flatmap(
            _aware_cell
        ),
    ),
    # A letter prefix keeps strings from being inferred as another type (or null).
    "text": (pa.string(), st.text(NO_CR, max_size=20).map(lambda s: "s" + s).flatmap(_text_cell)),
}

HEADER_NAME = st.text(NO_CR, min_size=0, max_size=8).map(lambda s: "h" + s)


@st.composite
def typed_tables(draw: st.DrawFn) -> dict[str, Any]:
    ncols = draw(st.integers(1, 6))
    names = draw(st.lists(HEADER_NAME, min_size=ncols, max_size=ncols, unique=True))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=ncols, max_size=ncols))
    nrows = draw(st.integers(1, 20))
    texts: list[list[str]] = [[] for _ in range(nrows)]
    values: dict[str, list[Any]] = {n: [] for n in names}
    for name, kind in zip(names, kinds, strict=True):
        cell = st.one_of(st.none(), KINDS[kind][1])
        for r in range(nrows):
            c = draw(cell)
            texts[r].append("" if c is None else c[0])
            values[name].append(None if c is None else c[1])
    types = {
        n: (KINDS[k][0] if any(v is not None for v in values[n]) else pa.string())
        for n, k in zip(names, kinds, strict=True)
    }
    return {"names": names, "texts": texts, "values": values, "types": types}


def _write_csv(path: Path, names: list[str], rows: list[list[str]], terminator: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator=terminator)
    w.writerow(names)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode())


def _normalize(table: pa.Table) -> pa.Table:
    return table.cast(
        pa.schema(
            [
                pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
                for f in table.schema
            ]
        )
    )


@settings(max_examples=250, **PROFILE)
@given(table=typed_tables(), terminator=st.sampled_from(["\n", "\r\n"]))
def test_typed_roundtrip(table: dict[str, Any], terminator: str) -> None:
    names, values, types = table["names"], table["values"], table["types"]
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.csv", Path(d) / "out.parquet"
        _write_csv(src, names, table["texts"], terminator)
        stats = csv_to_parquet(src, dst)
        assert stats["rows"] == len(table["texts"])
        assert stats["columns"] == names
        assert stats["schema"] == {n: type_name(types[n]) for n in names}
        assert stats["null_counts"] == {n: sum(v is None for v in values[n]) for n in names}
        got = _normalize(pq.read_table(dst))
        assert got.schema == pa.schema([pa.field(n, types[n]) for n in names])
        for n in names:
            assert got[n].to_pylist() == values[n], n
        streamed = _normalize(read_csv(src).read_all())
        assert streamed.equals(got)


@settings(max_examples=150, **PROFILE)
@given(
    rows=st.lists(
        st.lists(st.text(NO_CR, max_size=12), min_size=3, max_size=3), min_size=1, max_size=15
    ),
    terminator=st.sampled_from(["\n", "\r\n"]),
)
def test_any_strings_roundtrip_with_explicit_schema(rows: list[list[str]], terminator: str) -> None:
    """With an all-string schema nothing is inferred: "123", "true", " " stay as written."""
    names = ["a", "b", "c"]
    schema = pa.schema([(n, pa.string()) for n in names])
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.csv", Path(d) / "out.parquet"
        _write_csv(src, names, rows, terminator)
        stats = csv_to_parquet(src, dst, schema=schema)
        assert stats["rows"] == len(rows)
        got = _normalize(pq.read_table(dst))
        for j, n in enumerate(names):
            assert got[n].to_pylist() == [r[j] if r[j] != "" else None for r in rows], n


# --------------------------------------------------------------------------- fuzzing


def guarded(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """Run fn in a thread; fail the test if it does not finish within HANG_TIMEOUT."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HANG_TIMEOUT)
    assert not t.is_alive(), f"kernel call hung for more than {HANG_TIMEOUT}s"
    return box.get("result"), box.get("error")


def check_outcome(error: BaseException | None, *, arrow_ok: bool = False) -> None:
    if error is None:
        return
    assert not isinstance(error, KernelInternalError), f"kernel panicked: {error!r}"
    allowed: tuple[type[BaseException], ...] = (InputFormatError, KernelError, OSError)
    if arrow_ok:
        allowed += (pa.ArrowInvalid,)
    assert isinstance(error, allowed), f"unexpected {type(error).__name__}: {error!r}"


def exercise(data: bytes, schema: pa.Schema | None = None, delimiter: str = ",") -> None:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "fuzz.csv"
        src.write_bytes(data)
        for on_error in ("fail", "quarantine"):
            dst, rej = Path(d) / f"{on_error}.parquet", Path(d) / f"{on_error}.rejects.csv"
            stats, err = guarded(
                lambda dst=dst, rej=rej, on_error=on_error: csv_to_parquet(
                    src,
                    dst,
                    schema=schema,
                    delimiter=delimiter,
                    on_error=on_error,
                    rejects=rej if on_error == "quarantine" else None,
                )
            )
            check_outcome(err)
            if err is None:
                assert pq.ParquetFile(dst).metadata.num_rows == stats["rows"]
                if on_error == "fail":
                    assert stats["rejected_rows"] == 0
            else:
                assert not dst.exists(), "output left behind after a failure"

        def stream() -> pa.Table:
            return read_csv(src, schema=schema, delimiter=delimiter).read_all()

        table, err = guarded(stream)
        check_outcome(err, arrow_ok=True)
        if err is None:
            assert isinstance(table, pa.Table)


@functools.cache
def seed_files() -> list[tuple[bytes, pa.Schema]]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        for i, layout in enumerate(
            [
                Layout(),
                Layout(line_ending="\r\n", bom=True, quote_prob=0.3),
                Layout(trailing_newline=False),
            ]
        ):
            case = mixed_case(Path(d) / f"seed{i}.csv", 12, 100 + i, layout)
            out.append((case.path.read_bytes(), case.schema()))
    return out


SPECIAL = [
    b'"',
    b",",
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b'""',
    b"\t",
    b"\xc3",
]


@st.composite
def mutated_csv(draw: st.DrawFn) -> tuple[bytes, pa.Schema | None]:
    data, schema = draw(st.sampled_from(seed_files()))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        pos = draw(st.integers(0, len(buf)))
        if op == "insert":
            buf[pos:pos] = draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 8))]
        elif op == "replace" and pos < len(buf):
            buf[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del buf[pos:]
        elif op == "duplicate":
            end = min(len(buf), pos + draw(st.integers(1, 64)))
            buf[pos:pos] = buf[pos:end]
    use_schema = draw(st.booleans())
    return bytes(buf), (schema if use_schema else None)


@settings(max_examples=300, **PROFILE)
@given(case=mutated_csv())
def test_mutated_csv_never_crashes(case: tuple[bytes, pa.Schema | None]) -> None:
    data, schema = case
    exercise(data, schema)


@settings(max_examples=200, **PROFILE)
@given(
    data=st.binary(max_size=600)
    | st.lists(st.sampled_from([*SPECIAL, b"a", b"1", b"2020-01-01"]), max_size=60).map(b"".join),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
def test_random_bytes_never_crash(data: bytes, delimiter: str) -> None:
    exercise(data, None, delimiter)


def test_fuzz_corpus_is_valid_before_mutation() -> None:
    """The mutation seeds themselves convert cleanly (so mutations start from valid CSV)."""
    for data, schema in seed_files():
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "s.csv"
            src.write_bytes(data)
            stats = csv_to_parquet(src, Path(d) / "o.parquet", schema=schema)
            assert stats["rows"] == 12


def test_seeded_random_mutations_of_large_rows() -> None:
    """A few deterministic mutations of a bigger file (spans more than one parse chunk)."""
    rng = random.Random(99)
    with tempfile.TemporaryDirectory() as d:
        base = mixed_case(Path(d) / "big.csv", 3000, 77).path.read_bytes()
    for _ in range(4):
        buf = bytearray(base)
        for _ in range(20):
            pos = rng.randrange(len(buf))
            buf[pos:pos] = rng.choice(SPECIAL)
        exercise(bytes(buf))
