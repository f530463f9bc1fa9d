"""CSV loading robustness: our kernel vs DuckDB (and polars) on polluted files, Pollock-style.

    python -m bench.robustness                          # default corpus: 85 files, seconds
    python -m bench.robustness --rows 8 --only delimiter,encoding -v
    python -m bench.robustness --json robustness.json --keep-corpus /tmp/pollock

The corpus (:mod:`bench.pollution`) is three seeded clean tables written as files that
each carry one pollution, with the clean table as ground truth and the dialect needed to
read it. Every file is loaded by every contender, twice over: with its dialect given to the
loader (``aerofs (given)``, ``duckdb (given)``) and with nothing given (``aerofs (auto)``,
``duckdb (auto)``, plus the references ``duckdb (auto+ignore)`` and ``polars (auto)``). Each
loaded table is scored against the ground truth (:func:`score`) on header, record and cell
precision/recall/F1, as in Pollock (Vitagliano et al., VLDB 2023); a load that raises, dies
or times out scores 0. Each contender runs in its own worker process (restarted after a
crash or a timeout), so a kernel under construction cannot take the run down. See
``bench/README.md`` ("Loading robustness") for the scoring rules and the DuckDB mapping.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import multiprocessing
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, TypeAlias

from aerofs_pipelines.kernels import Dialect
from bench.harness import format_table, write_json
from bench.pollution import (
    CorpusFile,
    build_corpus,
    normalise,
    read_with_dialect,
    row_counts,
    select_variants,
    write_manifest,
)

Loaded: TypeAlias = tuple[list[str], list[list[str]]]
"""A loaded table as normalised text: column names and rows."""


# ---------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


ZERO = PRF(0.0, 0.0, 0.0)


def prf(correct: int, produced: int, expected: int) -> PRF:
    """Precision = correct/produced, recall = correct/expected; nothing of nothing is 1."""
    if produced == 0 and expected == 0:
        return PRF(1.0, 1.0, 1.0)
    precision = correct / produced if produced else 0.0
    recall = correct / expected if expected else 0.0
    total = precision + recall
    return PRF(precision, recall, 2 * precision * recall / total if total else 0.0)


@dataclass(frozen=True)
class FileScore:
    header: PRF
    records: PRF
    cells: PRF
    error: str | None = None
    rows: int = 0
    """Rows the loader produced."""
    columns: int = 0
    seconds: float = 0.0

    @property
    def mean_f1(self) -> float:
        return (self.header.f1 + self.records.f1 + self.cells.f1) / 3


SYNTHETIC_NAME = re.compile(r"(?:column|col|field|f|c|_c|unnamed)[ _:]*\d+", re.IGNORECASE)


def header_cells(names: Sequence[str]) -> list[str]:
    """The header a loader produced: ``[]`` when every name is generated (``column0``,
    ``column_1``, ``f0``, ``Unnamed: 0``...), i.e. the loader says the file has no header."""
    names = [str(n).strip() for n in names]
    if names and all(SYNTHETIC_NAME.fullmatch(n) for n in names):
        return []
    return names


def score(
    expected_header: Sequence[str],
    expected_records: Sequence[Sequence[str]],
    loaded: Loaded | None,
    *,
    error: str | None = None,
    seconds: float = 0.0,
) -> FileScore:
    """Score a loaded table (names and normalised rows) against the ground truth.

    * header: cell ``i`` of the loaded header is correct when it equals expected name ``i``
      (generated names count as no header: :func:`header_cells`);
    * records: loaded rows are aligned in order with the expected ones (``difflib`` on whole
      rows, no junk heuristic, i.e. a diff of the two tables); a record is correct when it
      is identical to the expected record it is aligned with. For a loader that keeps the
      row order this is Pollock's multiset match, and it does not punish a dropped or an
      extra row more than once;
    * cells: equal rows count all their cells; in a changed stretch the rows are paired in
      order and cell ``j`` is correct when it equals expected cell ``j``. Precision =
      correct / cells produced, recall = correct / cells expected (data cells only; the
      header is scored on its own).

    ``loaded=None`` (the load failed: ``error``) scores 0 everywhere.
    """
    if loaded is None:
        return FileScore(ZERO, ZERO, ZERO, error=error or "no result", seconds=seconds)
    names, rows = loaded
    got_header = header_cells(names)
    header_ok = sum(a == b for a, b in zip(got_header, expected_header, strict=False))
    got = [tuple(r) for r in rows]
    want = [tuple(r) for r in expected_records]
    matcher = difflib.SequenceMatcher(None, got, want, autojunk=False)
    records_ok = cells_ok = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            records_ok += i2 - i1
            cells_ok += sum(len(got[i]) for i in range(i1, i2))
        elif tag == "replace":
            for k in range(min(i2 - i1, j2 - j1)):
                pairs = zip(got[i1 + k], want[j1 + k], strict=False)
                cells_ok += sum(a == b for a, b in pairs)
    return FileScore(
        header=prf(header_ok, len(got_header), len(expected_header)),
        records=prf(records_ok, len(got), len(want)),
        cells=prf(cells_ok, sum(map(len, got)), sum(map(len, want))),
        error=error,
        rows=len(got),
        columns=len(names),
        seconds=seconds,
    )


def score_file(file: CorpusFile, loaded: Loaded | None, **kw: Any) -> FileScore:
    return score(file.header, file.records, loaded, **kw)


# ---------------------------------------------------------------------------------------------
# Contenders


def normalised(names: Sequence[object], rows: Iterator[Sequence[object]] | Sequence[Any]) -> Loaded:
    return [str(n) for n in names], [[normalise(v) for v in row] for row in rows]


def _from_arrow(table: Any) -> Loaded:
    columns = [column.to_pylist() for column in table.columns]
    return normalised(table.column_names, zip(*columns, strict=True) if columns else [])


def load_aerofs(path: str, dialect: Dialect | None) -> Loaded:
    """``kernels.read_csv(path, dialect=<dict> | "auto").read_all()``."""
    from aerofs_pipelines import kernels

    read_csv: Any = kernels.read_csv  # the dialect= keyword is being added
    reader = read_csv(path, dialect="auto" if dialect is None else dict(dialect))
    return _from_arrow(reader.read_all())


DUCKDB_ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-16": "utf-16",
    "utf-16le": "utf-16",
    "windows-1252": "latin-1",
    "cp1252": "latin-1",
    "iso-8859-1": "latin-1",
    "latin-1": "latin-1",
}
"""DuckDB 2.0 reads utf-8, utf-16 and latin-1 without the ``encodings`` extension (which
needs a download); Windows-1252 is mapped to latin-1, which refuses the bytes 0x80-0x9F
(``€``, curly quotes, dashes)."""

DUCKDB_STRICT_MODE = False
"""``strict_mode`` in the "given" setting. ``false`` lets DuckDB read files that mix
``\\r\\n`` and ``\\n`` (which the dialect does not describe) and costs nothing elsewhere
on this corpus (both settings are compared in bench/README.md)."""

DUCKDB_AUTO: dict[str, object] = {}
"""``duckdb (auto)``: ``read_csv(path)`` with all defaults, as Pollock ran every loader."""
DUCKDB_AUTO_IGNORE: dict[str, object] = {"ignore_errors": True}
"""``duckdb (auto+ignore)``: defaults plus dropping bad rows (reference only)."""

DUCKDB_NOT_EXPRESSIBLE = (
    "skip_footer: no option; footer lines stay in (ignore_errors drops the ones that do not "
    "fit the column count or types)",
    "header_rows=2: only one header row; the group row is skipped (skip += 1) and the names "
    "come from the second row alone",
    "ragged=truncate: no option; ignore_errors=true (which in 2.0 keeps a long row whose "
    "extra cells are empty, dropping the extra cells)",
    "encoding=windows-1252: mapped to latin-1 (the encodings extension is not installed); "
    "files with bytes 0x80-0x9F fail",
    "trim: no option (cells are compared stripped anyway)",
)


def duckdb_given_options(dialect: Dialect) -> dict[str, object]:
    """The ``read_csv`` options that tell DuckDB a file's dialect (see DUCKDB_NOT_EXPRESSIBLE)."""
    quote = dialect["quote"] or ""
    options: dict[str, object] = {
        "delim": dialect["delimiter"],
        "quote": quote,
        "escape": quote if dialect["escape"] is None else dialect["escape"],
        "header": dialect["header_rows"] > 0,
        "skip": dialect["skip_rows"] + max(dialect["header_rows"] - 1, 0),
        "encoding": DUCKDB_ENCODINGS.get(dialect["encoding"].lower(), dialect["encoding"]),
        "nullstr": list(dialect["null_values"]) or [""],
        "decimal_separator": dialect["decimal"],
        "null_padding": dialect["ragged"] == "pad",
        "ignore_errors": True,
        "strict_mode": DUCKDB_STRICT_MODE,
    }
    optional = {
        "comment": dialect["comment"],
        "thousands": dialect["thousands"],
        "dateformat": dialect["date_format"],
        "timestampformat": dialect["timestamp_format"],
    }
    options.update({k: v for k, v in optional.items() if v})
    return options


def _sql_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_sql_literal(v) for v in value) + "]"
    raise TypeError(f"no SQL literal for {value!r}")


def duckdb_sql(path: str, options: Mapping[str, object]) -> str:
    args = [_sql_literal(path), *(f"{k} = {_sql_literal(v)}" for k, v in options.items())]
    return f"SELECT * FROM read_csv({', '.join(args)})"


def load_duckdb(path: str, options: Mapping[str, object]) -> Loaded:
    import duckdb

    con = duckdb.connect()
    try:
        relation = con.sql(duckdb_sql(path, options))
        return normalised(relation.columns, relation.fetchall())
    finally:
        con.close()


def load_polars(path: str) -> Loaded:
    import polars as pl

    frame = pl.read_csv(path)
    return normalised(frame.columns, frame.rows())


def _aerofs_given(path: str, dialect: Dialect) -> Loaded:
    return load_aerofs(path, dialect)


def _aerofs_auto(path: str, dialect: Dialect) -> Loaded:
    return load_aerofs(path, None)


def _duckdb_given(path: str, dialect: Dialect) -> Loaded:
    return load_duckdb(path, duckdb_given_options(dialect))


def _duckdb_auto(path: str, dialect: Dialect) -> Loaded:
    return load_duckdb(path, DUCKDB_AUTO)


def _duckdb_auto_ignore(path: str, dialect: Dialect) -> Loaded:
    return load_duckdb(path, DUCKDB_AUTO_IGNORE)


def _polars_auto(path: str, dialect: Dialect) -> Loaded:
    return load_polars(path)


def _reference_given(path: str, dialect: Dialect) -> Loaded:
    return read_with_dialect(Path(path), dialect)


def _available() -> str | None:
    return None


def _probe_aerofs() -> str | None:
    """Why ``aerofs`` cannot run (kernel not importable, no ``dialect=`` yet), or None."""
    try:
        from aerofs_pipelines import kernels
    except Exception as exc:  # the extension may be mid-rebuild
        return f"aerofs_pipelines.kernels does not import: {type(exc).__name__}: {exc}"
    try:
        parameters = inspect.signature(kernels.read_csv).parameters
    except (TypeError, ValueError):
        return None
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    if "dialect" not in parameters and not accepts_kwargs:
        return "not available: kernels.read_csv has no dialect= keyword yet"
    return None


def _probe_module(name: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        try:
            __import__(name)
        except ImportError as exc:
            return f"not available: {exc}"
        return None

    return probe


@dataclass(frozen=True)
class Contender:
    id: str
    name: str
    given: bool
    """True: the file's dialect is passed to the loader; False: nothing is."""
    load: Load
    """Module-level, so that it can be sent to a worker process."""
    probe: Callable[[], str | None]
    """Why the contender cannot run here, or None (called in the main process)."""
    describe: str


CONTENDERS: dict[str, Contender] = {
    c.id: c
    for c in (
        Contender(
            "aerofs-given",
            "aerofs (given)",
            True,
            _aerofs_given,
            _probe_aerofs,
            "kernels.read_csv(path, dialect=<the file's dialect>)",
        ),
        Contender(
            "duckdb-given",
            "duckdb (given)",
            True,
            _duckdb_given,
            _probe_module("duckdb"),
            "read_csv(path, <duckdb_given_options(dialect)>)",
        ),
        Contender(
            "aerofs-auto",
            "aerofs (auto)",
            False,
            _aerofs_auto,
            _probe_aerofs,
            'kernels.read_csv(path, dialect="auto")',
        ),
        Contender(
            "duckdb-auto",
            "duckdb (auto)",
            False,
            _duckdb_auto,
            _probe_module("duckdb"),
            "read_csv(path) with all defaults",
        ),
        Contender(
            "duckdb-auto-ignore",
            "duckdb (auto+ignore)",
            False,
            _duckdb_auto_ignore,
            _probe_module("duckdb"),
            "read_csv(path, ignore_errors=true) (reference)",
        ),
        Contender(
            "polars-auto",
            "polars (auto)",
            False,
            _polars_auto,
            _probe_module("polars"),
            "pl.read_csv(path) with all defaults (reference)",
        ),
        Contender(
            "reference-given",
            "reference (given)",
            True,
            _reference_given,
            _available,
            "bench.pollution.read_with_dialect, the dialect read in pure Python (not by default)",
        ),
    )
}
DEFAULT_CONTENDERS = tuple(c for c in CONTENDERS if c != "reference-given")
RATIO_PAIRS = (("aerofs-given", "duckdb-given"), ("aerofs-auto", "duckdb-auto"))


# ---------------------------------------------------------------------------------------------
# Running the loads (one worker process per contender)


@dataclass(frozen=True)
class Outcome:
    status: Literal["ok", "error", "unavailable"]
    loaded: Loaded | None = None
    error: str | None = None
    seconds: float = 0.0


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


Load: TypeAlias = Callable[[str, Dialect], Loaded]
"""A contender's load: ``(path, dialect) -> Loaded``, module-level (workers get it pickled)."""


def attempt(load: Load, path: str, dialect: Dialect) -> Outcome:
    """One load, never raising: any exception (a pyo3 panic is a BaseException) is an error."""
    start = time.perf_counter()
    try:
        loaded = load(path, dialect)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        seconds = time.perf_counter() - start
        message = _describe_error(exc)
        if isinstance(exc, TypeError) and "keyword argument 'dialect'" in str(exc):
            return Outcome("unavailable", error=f"not available: {message}")
        return Outcome("error", error=message, seconds=seconds)
    return Outcome("ok", loaded=loaded, seconds=time.perf_counter() - start)


def _serve(conn: Connection, load: Load) -> None:
    """A worker's loop: ``(path, dialect)`` in, :class:`Outcome` out, ``None`` to stop."""
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(attempt(load, *job))


class Runner:
    """Runs one contender's loads in the current process (``isolate=False``)."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self._job: tuple[str, Dialect] | None = None

    def submit(self, path: str, dialect: Dialect) -> None:
        self._job = (path, dialect)

    def collect(self, deadline: float) -> Outcome:
        assert self._job is not None
        job, self._job = self._job, None
        return attempt(self.load, *job)

    def close(self) -> None:
        pass


class WorkerRunner(Runner):
    """Runs one contender's loads in a worker process, restarted after a crash or timeout."""

    def __init__(self, load: Load, timeout: float) -> None:
        super().__init__(load)
        self.timeout = timeout
        self._ctx = multiprocessing.get_context("spawn")
        self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._process = self._ctx.Process(
            target=_serve,
            args=(child, self.load),
            name=f"robustness-{self.load.__name__}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent

    def _stop(self) -> int | None:
        self._conn.close()
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)
        return self._process.exitcode

    def submit(self, path: str, dialect: Dialect) -> None:
        try:
            self._conn.send((path, dialect))
        except (BrokenPipeError, OSError):
            self._stop()
            self._start()
            self._conn.send((path, dialect))

    def collect(self, deadline: float) -> Outcome:
        if not self._conn.poll(max(0.0, deadline - time.monotonic())):
            self._stop()
            self._start()
            return Outcome("error", error=f"timeout: no result in {self.timeout:g} s")
        try:
            outcome: Outcome = self._conn.recv()
        except (EOFError, OSError):
            code = self._stop()
            self._start()
            return Outcome("error", error=f"worker process died (exit code {code})")
        return outcome

    def close(self) -> None:
        try:
            self._conn.send(None)
            self._process.join(5)
        except (BrokenPipeError, OSError):
            pass
        self._stop()


# ---------------------------------------------------------------------------------------------
# A run and its report


@dataclass
class Report:
    seed: int
    tables: dict[str, int]
    """Clean table → rows."""
    files: list[CorpusFile]
    contenders: list[str]
    """Contender ids in display order (available or not)."""
    registry: dict[str, Contender]
    unavailable: dict[str, str] = field(default_factory=dict)
    scores: dict[str, list[FileScore]] = field(default_factory=dict)
    """Per available contender, one score per file (same order as ``files``)."""
    seconds: float = 0.0


@contextmanager
def _corpus_directory(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="aerofs-robustness-") as tmp:
        yield Path(tmp)


def run(
    *,
    seed: int = 42,
    rows: int | Sequence[int] | None = None,
    only: Sequence[str] | None = None,
    contenders: Sequence[str | Contender] | None = None,
    timeout: float = 30.0,
    isolate: bool = True,
    keep_corpus: Path | None = None,
) -> Report:
    """Build the corpus, load every file with every contender, score the results."""
    started = time.monotonic()
    unknown = [c for c in contenders or () if isinstance(c, str) and c not in CONTENDERS]
    if unknown:
        raise ValueError(f"unknown contenders {unknown}; known: {list(CONTENDERS)}")
    chosen = [
        c if isinstance(c, Contender) else CONTENDERS[c] for c in contenders or DEFAULT_CONTENDERS
    ]
    registry = {c.id: c for c in chosen}
    ids = list(registry)
    with _corpus_directory(keep_corpus) as directory:
        files = build_corpus(directory, seed=seed, rows=rows, only=only)
        if keep_corpus is not None:
            write_manifest(files, directory / "manifest.json")
        report = Report(seed, row_counts(rows), files, ids, registry)
        runners: dict[str, Runner] = {}
        for cid in ids:
            contender = registry[cid]
            reason = contender.probe()
            if reason is not None:
                report.unavailable[cid] = reason
                continue
            load = contender.load
            runners[cid] = WorkerRunner(load, timeout) if isolate else Runner(load)
            report.scores[cid] = []
        try:
            for file in files:
                for runner in runners.values():
                    runner.submit(str(file.path), file.dialect)
                deadline = time.monotonic() + timeout
                for cid, runner in list(runners.items()):
                    outcome = runner.collect(deadline)
                    if outcome.status == "unavailable":
                        report.unavailable[cid] = outcome.error or "not available"
                        del report.scores[cid]
                        runners.pop(cid).close()
                        continue
                    report.scores[cid].append(
                        score_file(
                            file, outcome.loaded, error=outcome.error, seconds=outcome.seconds
                        )
                    )
        finally:
            for runner in runners.values():
                runner.close()
    report.seconds = time.monotonic() - started
    return report


@dataclass(frozen=True)
class Summary:
    files: int
    header: float
    records: float
    cells: float
    errors: int
    seconds: float

    @property
    def mean(self) -> float:
        return (self.header + self.records + self.cells) / 3


def summarise(scores: Sequence[FileScore]) -> Summary:
    """Mean F1 of header, records and cells over files (every file weighs the same)."""
    n = len(scores)
    if n == 0:
        return Summary(0, float("nan"), float("nan"), float("nan"), 0, 0.0)
    return Summary(
        files=n,
        header=sum(s.header.f1 for s in scores) / n,
        records=sum(s.records.f1 for s in scores) / n,
        cells=sum(s.cells.f1 for s in scores) / n,
        errors=sum(s.error is not None for s in scores),
        seconds=sum(s.seconds for s in scores),
    )


def _variant_order(report: Report) -> list[str]:
    seen = {f.variant for f in report.files}
    return [v.id for v in select_variants(None) if v.id in seen]


def variant_summaries(report: Report, contender_id: str) -> dict[str, Summary]:
    scores = report.scores[contender_id]
    return {
        variant: summarise(
            [s for f, s in zip(report.files, scores, strict=True) if f.variant == variant]
        )
        for variant in _variant_order(report)
    }


def _cell(summary: Summary | None) -> str:
    if summary is None:
        return "n/a"
    text = f"{summary.header:.2f} {summary.records:.2f} {summary.cells:.2f}"
    return text + (f" !{summary.errors}" if summary.errors else "")


def variant_table(report: Report, given: bool) -> list[str]:
    """Per variant: ``header record cell`` mean F1 of each contender; ``!n`` = n loads failed."""
    ids = [c for c in report.contenders if report.registry[c].given is given]
    per = {c: variant_summaries(report, c) for c in ids if c in report.scores}
    counts = {v: sum(f.variant == v for f in report.files) for v in _variant_order(report)}
    rows: list[Sequence[str]] = [("variant", "files", *(report.registry[c].name for c in ids))]
    for variant, count in counts.items():
        cells = [_cell(per[c][variant]) if c in per else "n/a" for c in ids]
        rows.append((variant, str(count), *cells))
    totals = [_cell(summarise(report.scores[c])) if c in per else "n/a" for c in ids]
    rows.append(("TOTAL", str(len(report.files)), *totals))
    return format_table(rows, "<>" + "<" * len(ids), rule="columns")


def totals_table(report: Report) -> list[str]:
    header = ("contender", "header F1", "record F1", "cell F1", "mean", "errors", "load s", "")
    rows: list[Sequence[str]] = [header]
    for cid in report.contenders:
        name = report.registry[cid].name
        if cid not in report.scores:
            rows.append((name, "-", "-", "-", "-", "-", "-", report.unavailable.get(cid, "")))
            continue
        s = summarise(report.scores[cid])
        rows.append(
            (
                name,
                f"{s.header:.3f}",
                f"{s.records:.3f}",
                f"{s.cells:.3f}",
                f"{s.mean:.3f}",
                f"{s.errors}/{s.files}",
                f"{s.seconds:.2f}",
                "",
            )
        )
    return format_table(rows, "<>>>>>>.", rule="columns")


def ratios(report: Report) -> dict[str, dict[str, float] | None]:
    """aerofs total / duckdb total per metric (mean F1), for "given" and for "auto".

    Keyed ``"aerofs-given / duckdb-given"``; None when one of the two did not run.
    """
    result: dict[str, dict[str, float] | None] = {}
    for ours, theirs in RATIO_PAIRS:
        if ours not in report.registry or theirs not in report.registry:
            continue
        key = f"{ours} / {theirs}"
        if ours not in report.scores or theirs not in report.scores:
            result[key] = None
            continue
        a, b = summarise(report.scores[ours]), summarise(report.scores[theirs])
        result[key] = {
            metric: (
                getattr(a, metric) / getattr(b, metric) if getattr(b, metric) else float("inf")
            )
            for metric in ("header", "records", "cells", "mean")
        }
    return result


def ratio_lines(report: Report) -> list[str]:
    lines = []
    for key, values in ratios(report).items():
        ours, theirs = (report.registry[k.strip()].name for k in key.split("/"))
        if values is None:
            lines.append(f"{ours} / {theirs}: n/a (a contender is not available)")
        else:
            parts = ", ".join(f"{m} {v:.2f}x" for m, v in values.items())
            lines.append(f"{ours} / {theirs}: {parts}")
    return lines


def error_lines(report: Report) -> list[str]:
    lines = []
    for cid, scores in report.scores.items():
        for file, s in zip(report.files, scores, strict=True):
            if s.error is not None:
                lines.append(f"{report.registry[cid].name:22} {file.id:40} {s.error[:110]}")
    return lines


def render(report: Report, *, verbose: bool = False) -> str:
    tables = ", ".join(f"{name} {n}" for name, n in report.tables.items())
    out = [
        f"CSV loading robustness (Pollock-style), seed {report.seed}: {len(report.files)} files"
        f" from 3 clean tables (rows: {tables})",
        "Cells: mean F1 of header / record / cell over the variant's files; !n = n loads failed"
        " (scored 0).",
    ]
    for given, title in ((True, "Dialect given to the loader"), (False, "Nothing given (auto)")):
        if any(c.given is given for c in report.registry.values()):
            out += ["", title, *("  " + line for line in variant_table(report, given=given))]
    out += ["", "Totals (mean over all files)", *("  " + line for line in totals_table(report))]
    if lines := ratio_lines(report):
        out += ["", "Ratio of totals", *("  " + line for line in lines)]
    if verbose:
        out += ["", "Failed loads", *("  " + line for line in error_lines(report) or ["none"])]
    out.append(f"\n({report.seconds:.1f} s)")
    return "\n".join(out)


def to_json(report: Report) -> dict[str, Any]:
    available = report.scores
    return {
        "benchmark": "robustness",
        "seed": report.seed,
        "tables": report.tables,
        "seconds": report.seconds,
        "contenders": {
            cid: {
                "name": report.registry[cid].name,
                "given": report.registry[cid].given,
                "how": report.registry[cid].describe,
                "available": cid in available,
                "reason": report.unavailable.get(cid),
                "totals": asdict(summarise(available[cid])) if cid in available else None,
                "variants": {k: asdict(v) for k, v in variant_summaries(report, cid).items()}
                if cid in available
                else None,
            }
            for cid in report.contenders
        },
        "ratios": ratios(report),
        "duckdb": {
            "auto": DUCKDB_AUTO,
            "auto+ignore": DUCKDB_AUTO_IGNORE,
            "not_expressible": list(DUCKDB_NOT_EXPRESSIBLE),
        },
        "files": [
            {
                "id": f.id,
                "file": f.path.name,
                "variant": f.variant,
                "table": f.table,
                "bytes": f.size,
                "dialect": f.dialect,
                "duckdb_given_options": duckdb_given_options(f.dialect),
                "scores": {cid: asdict(available[cid][i]) for cid in available},
            }
            for i, f in enumerate(report.files)
        ],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.robustness", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--rows", type=int, help="rows of every clean table (default: 50, 120, 200)"
    )
    parser.add_argument("--only", help="comma-separated kinds or kind/variant ids")
    parser.add_argument(
        "--contenders",
        help=f"comma-separated ids (default: {', '.join(DEFAULT_CONTENDERS)}; or reference-given)",
    )
    parser.add_argument("--json", type=Path, help="write all scores to this JSON file")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per file")
    parser.add_argument("--in-process", action="store_true", help="no worker processes")
    parser.add_argument("--keep-corpus", type=Path, help="write the corpus (+ manifest.json) here")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the failed loads")
    return parser.parse_args(argv)


def _split(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(
        seed=args.seed,
        rows=args.rows,
        only=_split(args.only),
        contenders=_split(args.contenders),
        timeout=args.timeout,
        isolate=not args.in_process,
        keep_corpus=args.keep_corpus,
    )
    print(render(report, verbose=args.verbose))
    if args.json:
        write_json(args.json, to_json(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
