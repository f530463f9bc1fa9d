"""The harness of the kernel benchmark: measuring, results, tables, targets, checks, CLI.

:mod:`bench.kernels` wires it to the contenders of :mod:`bench.contenders` (a
:class:`Suite`). Every Python contender runs in its own fresh subprocess (``python -m
bench.kernels --run-one ...``, which lands in :func:`run_child`), so its peak RSS is its
own: the child reports its ``VmHWM`` (the high-water mark of its address space, fresh at
``exec``), not ``ru_maxrss`` from ``os.wait4``, which on Linux inherits the parent's RSS at
fork/exec and is kept in the JSON for reference only. The wall time is taken inside the
child around the work only (imports excluded). Commands (``cat``, ``wc -w``) are spawned
directly, timed from the parent, and their ``VmHWM`` polled from ``/proc``. A contender
that fails is reported as FAILED with its error; it never stops the run.

:func:`format_table` and :func:`write_json` serve the other benchmarks too. Only the
standard library is imported at module level: the children's base RSS stays theirs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # bench.datagen imports pyarrow: keep it out of the children's base RSS
    from bench.datagen import Dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
CSV_TARGET_PEERS = ("pyarrow", "pyarrow-stream", "polars", "duckdb")
CSV_SPEED_FACTOR = 0.8
RSS_LIMIT_MB = 300.0
TEXT_SPEEDUP_VS_RE = 20.0

Json = dict[str, Any]
Work = Callable[[str, str], Json]
"""A contender's work: ``(src, dst) -> result``; ``dst`` is a Parquet path (CSV section)."""
Batches = Callable[[str], Iterator[Any]]
"""A streamed parse of a CSV file into pyarrow record batches."""


# ---------------------------------------------------------------------------------------------
# What an entry point gives the harness


@dataclass(frozen=True)
class Contender:
    """One way of doing a section's job, run in its own process."""

    name: str
    section: str
    """``csv`` or ``text``."""
    description: str
    work: Work | None = None
    """Python work run in the child (``None`` for commands)."""
    imports: tuple[str, ...] = ()
    """Modules imported before the clock starts."""
    command: tuple[str, ...] = ()
    """argv prefix for command contenders; the source path is appended."""
    writes_parquet: bool = False


@dataclass(frozen=True)
class Suite:
    """A benchmark: its contenders and how the harness reaches them."""

    module: str
    """The entry module: children run ``python -m MODULE --run-one ...``."""
    description: str
    """One line, for ``--help``."""
    contenders: tuple[Contender, ...]
    csv_reference: Batches
    """The parse of the CSV that aerofs's Parquet output must agree with."""


def find_contender(contenders: Sequence[Contender], section: str, name: str) -> Contender:
    """The contender ``name`` of ``section``."""
    for contender in contenders:
        if contender.section == section and contender.name == name:
            return contender
    raise KeyError(f"no {section} contender named {name!r}")


# ---------------------------------------------------------------------------------------------
# Child side


def hwm_mb(pid: int | str = "self") -> float | None:
    """Peak RSS (``VmHWM``) in MiB of a live process's current image, ``None`` if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _self_peak_mb() -> float:
    """This process's peak RSS: ``VmHWM``, else ``ru_maxrss`` (which may include the parent's)."""
    peak = hwm_mb()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(
    contenders: Sequence[Contender], section: str, name: str, src: str, dst: str, result_path: str
) -> int:
    """Import, then time one contender's work; write a JSON report to ``result_path``."""
    report: Json = {"ok": False}
    try:
        contender = find_contender(contenders, section, name)
        assert contender.work is not None, f"{name} is a command, not Python work"
        start = time.perf_counter()
        for module in contender.imports:
            importlib.import_module(module)
        report["import_seconds"] = time.perf_counter() - start
        report["base_rss_mb"] = _self_peak_mb()
        start = time.perf_counter()
        report["result"] = contender.work(src, dst)
        report["seconds"] = time.perf_counter() - start
        report["peak_rss_mb"] = _self_peak_mb()
        report["ok"] = True
    except BaseException as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    Path(result_path).write_text(json.dumps(report, default=str))
    return 0 if report["ok"] else 1


# ---------------------------------------------------------------------------------------------
# Parent side: spawning and measuring


@dataclass
class Measurement:
    """One run of one contender."""

    ok: bool
    seconds: float
    """Work time (child-measured for Python, spawn→exit for commands)."""
    process_seconds: float
    peak_rss_mb: float
    """The child's own peak RSS (``VmHWM``)."""
    wait4_maxrss_mb: float
    """``ru_maxrss`` from ``os.wait4``: includes the parent's RSS at spawn, reference only."""
    base_rss_mb: float | None = None
    """Peak RSS after the imports, before the work."""
    rows: int | None = None
    output_bytes: int | None = None
    result: Json = field(default_factory=dict)
    error: str | None = None


@dataclass
class _Exit:
    code: int
    wait4_maxrss_mb: float
    polled_hwm_mb: float


class _HwmPoller(threading.Thread):
    """Polls a child's ``VmHWM`` until stopped (for commands, which cannot report it)."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, hwm_mb(self.pid) or 0.0)
            self.done.wait(self.interval)


def _wait_with_timeout(pid: int, timeout: float) -> _Exit:
    """Reap ``pid`` with ``os.wait4``, killing it after ``timeout`` seconds."""
    timer = threading.Timer(timeout, lambda: os.kill(pid, signal.SIGKILL))
    poller = _HwmPoller(pid)
    timer.start()
    poller.start()
    try:
        _, status, usage = os.wait4(pid, 0)
    finally:
        timer.cancel()
        poller.done.set()
    poller.join()
    return _Exit(os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, poller.peak)


def _spawn(argv: Sequence[str], stdout: Path, stderr: Path, timeout: float) -> _Exit:
    """Run ``argv`` to completion in the repo root."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO_ROOT)
    result = _wait_with_timeout(proc.pid, timeout)
    proc.returncode = result.code  # reaped by wait4; keep Popen from waiting again
    return result


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip() if path.exists() else ""
    return " | ".join(text.splitlines()[-lines:])


def _failure(code: int, stderr: Path, timeout: float) -> str:
    if code == -signal.SIGKILL:
        return f"killed (timeout {timeout:g}s or OOM)"
    return f"exit code {code}: {_tail(stderr)}"


def _measure_command(contender: Contender, src: str, work: Path, timeout: float) -> Measurement:
    stdout, stderr = work / "stdout", work / "stderr"
    start = time.perf_counter()
    ex = _spawn([*contender.command, src], stdout, stderr, timeout)
    seconds = time.perf_counter() - start
    peak = ex.polled_hwm_mb or math.nan  # nan: exited before the first poll
    m = Measurement(ex.code == 0, seconds, seconds, peak, ex.wait4_maxrss_mb)
    if not m.ok:
        m.error = _failure(ex.code, stderr, timeout)
    elif contender.command[0] == "wc":
        m.result["words"] = int(stdout.read_text().split()[0])
    return m


def _measure_python(
    module: str, contender: Contender, src: str, dst: Path, work: Path, timeout: float
) -> Measurement:
    stdout, stderr, report_path = work / "stdout", work / "stderr", work / "report.json"
    argv = [sys.executable, "-m", module, "--run-one", contender.name]
    argv += ["--section", contender.section, "--src", src, "--dst", str(dst)]
    argv += ["--report", str(report_path)]
    start = time.perf_counter()
    ex = _spawn(argv, stdout, stderr, timeout)
    elapsed = time.perf_counter() - start
    m = Measurement(False, math.nan, elapsed, ex.polled_hwm_mb, ex.wait4_maxrss_mb)
    if not report_path.exists():
        m.error = _failure(ex.code, stderr, timeout)
        return m
    report = json.loads(report_path.read_text())
    m.base_rss_mb = report.get("base_rss_mb")
    if not report["ok"]:
        m.error = report["error"]
        return m
    m.ok, m.seconds, m.result = True, report["seconds"], report["result"] or {}
    m.peak_rss_mb = max(report["peak_rss_mb"], ex.polled_hwm_mb)
    return m


def _parquet_facts(m: Measurement, dst: Path) -> None:
    """Record the row count and size of a contender's Parquet output (or fail it)."""
    import pyarrow.parquet as pq

    if not dst.exists():
        m.ok, m.error = False, f"no output at {dst}"
        return
    m.rows = pq.read_metadata(dst).num_rows
    m.output_bytes = dst.stat().st_size


def measure(
    module: str, contender: Contender, src: str, timeout: float, keep: Path | None = None
) -> Measurement:
    """Run ``contender`` once on ``src`` in a temp dir; move its output to ``keep`` if given.

    Python work runs in a child ``python -m MODULE --run-one ...`` (``module``: the entry point).
    """
    with tempfile.TemporaryDirectory(prefix=f"aerofs-bench-{contender.name}-") as tmp:
        work = Path(tmp)
        dst = work / "out.parquet"
        if contender.command:
            return _measure_command(contender, src, work, timeout)
        m = _measure_python(module, contender, src, dst, work, timeout)
        if m.ok and contender.writes_parquet:
            _parquet_facts(m, dst)
            if keep is not None and m.ok:
                shutil.move(dst, keep)
        elif m.ok and "rows" in m.result:
            m.rows = int(m.result["rows"])
        return m


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class ContenderResult:
    """All runs of one contender, summarised: best wall time, worst peak RSS."""

    name: str
    section: str
    description: str
    runs: list[Measurement]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs) and bool(self.runs)

    @property
    def seconds(self) -> float:
        return min(r.seconds for r in self.runs) if self.ok else math.nan

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs) if self.runs else math.nan

    @property
    def error(self) -> str | None:
        return next((r.error for r in self.runs if not r.ok), None)

    @property
    def last(self) -> Measurement:
        return self.runs[-1]

    def to_json(self) -> Json:
        """JSON-ready summary plus every run."""
        return {
            "name": self.name,
            "section": self.section,
            "description": self.description,
            "ok": self.ok,
            "seconds": None if math.isnan(self.seconds) else self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
            "error": self.error,
            "runs": [asdict(r) for r in self.runs],
        }


def run_section(
    suite: Suite,
    section: str,
    dataset: Dataset,
    names: Sequence[str] | None,
    repeat: int,
    timeout: float,
    keep_dir: Path,
) -> list[ContenderResult]:
    """Run the section's contenders (all, or ``names``) ``repeat`` times each."""
    results = []
    for contender in suite.contenders:
        if contender.section != section or (names and contender.name not in names):
            continue
        print(f"  {section}: {contender.name} ...", end="", flush=True)
        runs = []
        for i in range(repeat):
            keep = keep_dir / f"{section}-{contender.name}.parquet" if i == repeat - 1 else None
            if section != "csv" or contender.name != "aerofs":
                keep = None  # only aerofs's output is kept, for the agreement checks
            runs.append(measure(suite.module, contender, dataset.path, timeout, keep))
        result = ContenderResult(contender.name, section, contender.description, runs)
        print(f" {result.seconds:.2f}s" if result.ok else f" FAILED ({result.error})")
        results.append(result)
    return results


# ---------------------------------------------------------------------------------------------
# Tables and JSON files (bench.gateway and bench.pipeline use these too)


def format_table(rows: Sequence[Sequence[str]], align: str, rule: str | None = None) -> list[str]:
    """The lines of a text table: cells two spaces apart, the first row the header.

    ``align`` has a letter per column: ``<`` left, ``>`` right, ``.`` as it is (not padded:
    for a free last column). ``rule`` underlines the header: ``"line"`` with dashes as long
    as the header line, ``"columns"`` with dashes as wide as each column; None: not at all.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    lines = []
    for row in rows:
        cells = (
            cell.ljust(w) if how == "<" else cell.rjust(w) if how == ">" else cell
            for cell, w, how in zip(row, widths, align, strict=True)
        )
        lines.append("  ".join(cells))
    if rule == "line":
        lines.insert(1, "-" * len(lines[0]))
    elif rule == "columns":
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (anything else as its ``str``), newline-terminated."""
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------------------------
# The section tables


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def render_table(results: Sequence[ContenderResult], dataset: Dataset) -> str:
    """The section's table: time, throughput, memory, ratio to aerofs, status."""
    aerofs = next((r for r in results if r.name == "aerofs" and r.ok), None)
    header = ("contender", "wall s", "MB/s", "peak RSS MB", "base RSS MB", "ratio", "status")
    rows: list[Sequence[str]] = [header]
    for r in results:
        ratio = r.seconds / aerofs.seconds if aerofs and r.ok else math.nan
        base = r.last.base_rss_mb
        status = "ok" if r.ok else f"FAILED: {(r.error or '')[:90]}"
        rows.append(
            (
                r.name,
                _fmt(r.seconds, ".3f"),
                _fmt(dataset.bytes / MB / r.seconds if r.ok else math.nan, ".1f"),
                _fmt(r.peak_rss_mb, ".0f"),
                _fmt(base, ".0f"),
                _fmt(ratio, ".2f") + ("x" if r.ok and aerofs else ""),
                status,
            )
        )
    return "\n".join(format_table(rows, "<>>>>>.", rule="line"))


# ---------------------------------------------------------------------------------------------
# Targets and agreement checks


@dataclass
class Check:
    """A PASS/FAIL/SKIP line: a performance target or an agreement check."""

    kind: str
    """``target`` or ``check``."""
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"  {self.status:4}  {self.name}: {self.detail}"


def _by_name(results: Sequence[ContenderResult]) -> dict[str, ContenderResult]:
    return {r.name: r for r in results}


def csv_targets(results: Sequence[ContenderResult]) -> list[Check]:
    """Targets (i)-(iii) of the issue."""
    got = _by_name(results)
    aerofs = got.get("aerofs")
    if aerofs is None:
        return [Check("target", "csv", "SKIP", "aerofs not run")]
    if not aerofs.ok:
        return [Check("target", "csv", "FAIL", f"aerofs failed: {aerofs.error}")]
    checks = []
    peers = [got[n] for n in CSV_TARGET_PEERS if n in got and got[n].ok]
    name = f"(i) aerofs wall <= {CSV_SPEED_FACTOR} x fastest of {'/'.join(CSV_TARGET_PEERS)}"
    if peers:
        best = min(peers, key=lambda r: r.seconds)
        limit = CSV_SPEED_FACTOR * best.seconds
        status = "PASS" if aerofs.seconds <= limit else "FAIL"
        detail = f"{aerofs.seconds:.3f}s vs limit {limit:.3f}s ({best.name} {best.seconds:.3f}s)"
        checks.append(Check("target", name, status, detail))
    else:
        checks.append(Check("target", name, "SKIP", "no peer succeeded"))
    rss = aerofs.peak_rss_mb
    status = "PASS" if rss < RSS_LIMIT_MB else "FAIL"
    checks.append(
        Check("target", f"(ii) aerofs peak RSS < {RSS_LIMIT_MB:.0f} MB", status, f"{rss:.0f} MB")
    )
    nodates = got.get("polars-nodates")
    name = "(iii) stretch: aerofs faster than polars-nodates"
    if nodates is not None and nodates.ok:
        status = "PASS" if aerofs.seconds < nodates.seconds else "FAIL"
        detail = f"{aerofs.seconds:.3f}s vs {nodates.seconds:.3f}s"
        checks.append(Check("target", name, status, detail))
    else:
        checks.append(Check("target", name, "SKIP", "polars-nodates not run or failed"))
    return checks


def text_targets(results: Sequence[ContenderResult]) -> list[Check]:
    """Target (iv): ≥ 20x faster than re+Counter, and faster than ``wc -w``."""
    got = _by_name(results)
    aerofs = got.get("aerofs")
    if aerofs is None:
        return [Check("target", "text", "SKIP", "aerofs not run")]
    if not aerofs.ok:
        return [Check("target", "text", "FAIL", f"aerofs failed: {aerofs.error}")]
    checks = []
    for peer, factor, label in (
        ("re-counter", TEXT_SPEEDUP_VS_RE, f"(iv.a) aerofs >= {TEXT_SPEEDUP_VS_RE:g}x faster than"),
        ("wc", 1.0, "(iv.b) aerofs faster than"),
    ):
        name = f"{label} {peer}"
        other = got.get(peer)
        if other is None or not other.ok:
            checks.append(Check("target", name, "SKIP", f"{peer} not run or failed"))
            continue
        speedup = other.seconds / aerofs.seconds
        status = "PASS" if speedup >= factor and (factor > 1 or speedup > 1) else "FAIL"
        detail = f"{speedup:.2f}x ({aerofs.seconds:.3f}s vs {other.seconds:.3f}s)"
        checks.append(Check("target", name, status, detail))
    return checks


def row_count_checks(results: Sequence[ContenderResult], dataset: Dataset) -> list[Check]:
    """Every output that knows its row count has exactly the generated rows."""
    checks = []
    for r in results:
        if r.ok and r.last.rows is not None:
            status = "PASS" if r.last.rows == dataset.rows else "FAIL"
            detail = f"{r.last.rows} rows, generated {dataset.rows}"
            checks.append(Check("check", f"rows {r.name}", status, detail))
    return checks


def text_agreement(results: Sequence[ContenderResult]) -> list[Check]:
    """aerofs (required) and polars (informational) agree with re+Counter."""
    got = _by_name(results)
    ref = got.get("re-counter")
    if ref is None or not ref.ok:
        return [Check("check", "text agreement", "SKIP", "re-counter not run or failed")]
    expected = ref.last.result
    checks: list[Check] = []
    for name, keys in (
        ("aerofs", ("words", "unique_words", "top_words", "bytes", "chars")),
        ("polars", ("words", "unique_words", "top_words")),
    ):
        other = got.get(name)
        if other is None or not other.ok:
            continue
        for key in keys:
            ours, theirs = other.last.result.get(key), expected.get(key)
            status = "PASS" if ours == theirs else "FAIL"
            shown = f"{ours}" if key != "top_words" else f"{(ours or [])[:3]}..."
            detail = shown if status == "PASS" else f"{shown} != re+Counter {theirs}"
            checks.append(Check("check", f"text {name} {key} == re+Counter", status, detail))
    if "aerofs" in got and got["aerofs"].ok:
        lines = (got["aerofs"].last.result.get("lines"), expected.get("lines"))
        detail = f"aerofs lines {lines[0]}, count of '\\n' {lines[1]} (informational)"
        checks.append(Check("check", "text lines", "INFO", detail))
    return checks or [Check("check", "text agreement", "SKIP", "no aerofs/polars result")]


# --- CSV value agreement: aerofs Parquet vs pyarrow's parse of the CSV ---------------------


def _normalise(column: Any, target_type: Any) -> Any:
    """Cast a pyarrow-parsed column to aerofs's type (e.g. timestamp[s] → timestamp[us])."""
    import pyarrow as pa

    if column.type == target_type:
        return column
    both_timestamps = pa.types.is_timestamp(column.type) and pa.types.is_timestamp(target_type)
    if both_timestamps and column.type.tz is None and target_type.tz is not None:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
    return column.cast(target_type)


def _parquet_batches(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(path).iter_batches(batch_size=65_536)


def _head(batches: Iterator[Any], n: int) -> Any:
    """The first ``n`` rows of a batch stream, as a Table."""
    import pyarrow as pa

    taken, rows = [], 0
    for batch in batches:
        taken.append(batch)
        rows += batch.num_rows
        if rows >= n:
            break
    return pa.Table.from_batches(taken).slice(0, n) if taken else None


def _first_difference(left: Any, right: Any) -> str:
    """Describe the first index where two equal-length arrays differ."""
    import pyarrow.compute as pc

    same = pc.fill_null(pc.equal(left, right), False)
    both_null = pc.and_(pc.is_null(left), pc.is_null(right))
    differs = pc.invert(pc.or_(same, both_null))
    index = pc.index(differs, True).as_py()
    if index < 0:
        return "equal values, different chunking/metadata"
    return f"row {index}: aerofs {left[index]!r} vs pyarrow {right[index]!r}"


def exact_head_checks(src: str, aerofs_path: Path, n: int, reference: Batches) -> list[Check]:
    """Compare the first ``n`` rows of aerofs's output with pyarrow's parse, column by column."""
    ours = _head(_parquet_batches(aerofs_path), n)
    theirs = _head(reference(src), n)
    if ours is None or theirs is None:
        return [Check("check", "csv head", "FAIL", "empty output")]
    checks = []
    for name in theirs.column_names:
        label = f"first {min(n, ours.num_rows)} rows, column {name}"
        if name not in ours.column_names:
            checks.append(Check("check", label, "FAIL", "missing in aerofs output"))
            continue
        left = ours[name].combine_chunks()
        try:
            right = _normalise(theirs[name].combine_chunks(), left.type)
        except Exception as exc:
            detail = f"types differ: aerofs {left.type}, pyarrow {theirs[name].type} ({exc})"
            checks.append(Check("check", label, "FAIL", detail))
            continue
        ok = len(left) == len(right) and left.equals(right)
        detail = f"{left.type}" if ok else _first_difference(left, right)
        checks.append(Check("check", label, "PASS" if ok else "FAIL", detail))
    return checks


def _exact_int_sum(column: Any) -> int:
    """Sum of an integer column without int64 overflow (timestamps in us overflow quickly)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.cast(pa.int64())
    high = pc.divide(column, 1_000_000)  # truncates; high * 1e6 + low == value exactly
    low = pc.subtract(column, pc.multiply(high, 1_000_000))
    return (pc.sum(high).as_py() or 0) * 1_000_000 + (pc.sum(low).as_py() or 0)


def _update_aggregates(agg: dict[str, Json], batch: Any, types: dict[str, Any]) -> None:
    """Fold one batch into per-column aggregates (nulls, sums, min/max, true counts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in batch.schema.names:
        column = batch.column(name)
        if name in types:
            with contextlib.suppress(Exception):
                column = _normalise(column, types[name])
        a = agg.setdefault(name, {"type": str(column.type), "nulls": 0})
        a["nulls"] += column.null_count
        typ = column.type
        if pa.types.is_boolean(typ):
            a["true"] = a.get("true", 0) + (pc.sum(column).as_py() or 0)
            continue
        if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
            column = column.cast(pa.int64() if pa.types.is_timestamp(typ) else pa.int32())
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            a["utf8_bytes"] = a.get("utf8_bytes", 0) + (
                pc.sum(pc.binary_length(column)).as_py() or 0
            )
        elif pa.types.is_integer(column.type):
            a["sum"] = a.get("sum", 0) + _exact_int_sum(column)
        else:
            a["sum"] = a.get("sum", 0) + (pc.sum(column).as_py() or 0)
        mm = pc.min_max(column).as_py()
        if mm["min"] is not None:
            a["min"] = mm["min"] if "min" not in a else min(a["min"], mm["min"])
            a["max"] = mm["max"] if "max" not in a else max(a["max"], mm["max"])


def _aggregates(batches: Iterator[Any], types: dict[str, Any]) -> dict[str, Json]:
    agg: dict[str, Json] = {}
    for batch in batches:
        _update_aggregates(agg, batch, types)
    return agg


def _same_aggregate(ours: Json, theirs: Json) -> bool:
    """Equal aggregates; float sums compared with a relative tolerance (summation order)."""
    for key in (set(ours) | set(theirs)) - {"type"}:
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6):
                return False
        elif key != "type" and a != b:
            return False
    return True


def aggregate_checks(src: str, aerofs_path: Path, reference: Batches) -> list[Check]:
    """Whole-file per-column aggregates of aerofs's output vs pyarrow's streamed parse."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(aerofs_path)
    types = {f.name: f.type for f in schema}
    ours = _aggregates(_parquet_batches(aerofs_path), {})
    theirs = _aggregates(reference(src), types)
    checks = []
    for name, expected in theirs.items():
        got = ours.get(name)
        label = f"all rows, column {name} aggregates"
        if got is None:
            checks.append(Check("check", label, "FAIL", "missing in aerofs output"))
            continue
        ok = _same_aggregate(got, expected)
        shown = {k: v for k, v in got.items() if k != "type"}
        detail = f"{shown}" if ok else f"aerofs {got} != pyarrow {expected}"
        checks.append(Check("check", label, "PASS" if ok else "FAIL", detail[:160]))
    return checks


def csv_agreement(src: str, keep_dir: Path, head_rows: int, reference: Batches) -> list[Check]:
    """aerofs's Parquet equals pyarrow's parse of the same file (``reference``): head exactly,
    all rows by aggregates."""
    aerofs_path = keep_dir / "csv-aerofs.parquet"
    if not aerofs_path.exists():
        return [Check("check", "csv values aerofs vs pyarrow", "SKIP", "no aerofs output")]
    try:
        head = exact_head_checks(src, aerofs_path, head_rows, reference)
        return head + aggregate_checks(src, aerofs_path, reference)
    except Exception as exc:
        return [
            Check("check", "csv values aerofs vs pyarrow", "FAIL", f"{type(exc).__name__}: {exc}")
        ]


# ---------------------------------------------------------------------------------------------
# Driver


def _versions() -> Json:
    from importlib.metadata import PackageNotFoundError, version

    found: Json = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for package in ("aerofs-pipelines", "pyarrow", "polars", "duckdb"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _print_checks(title: str, checks: Sequence[Check]) -> None:
    print(f"\n{title}")
    for check in checks:
        print(check.line())


Results = Sequence[ContenderResult]


def _run_and_report(
    suite: Suite,
    section: str,
    dataset: Dataset,
    args: argparse.Namespace,
    names: Sequence[str] | None,
    keep_dir: Path,
    *,
    heading: str,
    title: str,
    targets: Callable[[Results], list[Check]],
    checks: Callable[[Results], list[Check]],
) -> Json:
    """Run the section's contenders on ``dataset``; print the table, targets and checks."""
    _print_dataset(dataset)
    results = run_section(suite, section, dataset, names, args.repeat, args.timeout, keep_dir)
    print(f"\n{heading}")
    print(render_table(results, dataset))
    met = targets(results)
    _print_checks(f"{title} targets", met)
    agreed = checks(results)
    _print_checks(f"{title} agreement", agreed)
    return {
        "dataset": asdict(dataset),
        "contenders": [r.to_json() for r in results],
        "targets": [asdict(c) for c in met],
        "checks": [asdict(c) for c in agreed],
    }


def run_csv(
    suite: Suite, args: argparse.Namespace, names: Sequence[str] | None, keep_dir: Path
) -> Json:
    """Generate/load the CSV, run its contenders, print the table, targets and checks."""
    from bench.datagen import generate_csv

    dataset = generate_csv(args.seed, args.csv_mb)

    def checks(results: Results) -> list[Check]:
        rows = row_count_checks(results, dataset)
        return rows + csv_agreement(dataset.path, keep_dir, args.check_rows, suite.csv_reference)

    return _run_and_report(
        suite,
        "csv",
        dataset,
        args,
        names,
        keep_dir,
        heading=f"CSV → Parquet (zstd), {dataset.bytes / MB:.1f} MB, {dataset.rows} rows",
        title="CSV",
        targets=csv_targets,
        checks=checks,
    )


def run_text(
    suite: Suite, args: argparse.Namespace, names: Sequence[str] | None, keep_dir: Path
) -> Json:
    """Generate/load the text, run its contenders, print the table, targets and checks."""
    from bench.datagen import generate_text

    dataset = generate_text(args.seed, args.text_mb)
    return _run_and_report(
        suite,
        "text",
        dataset,
        args,
        names,
        keep_dir,
        heading=f"Text statistics, {dataset.bytes / MB:.1f} MB, {dataset.rows} words drawn",
        title="Text",
        targets=text_targets,
        checks=text_agreement,
    )


def _print_dataset(dataset: Dataset) -> None:
    how = "cached" if dataset.cached else "generated"
    print(
        f"\n{dataset.kind} data: {dataset.path} ({dataset.bytes / MB:.1f} MB, {dataset.rows} "
        f"rows; {how}, generation took {dataset.generate_seconds:.1f}s)"
    )


def parse_args(suite: Suite, argv: Sequence[str] | None) -> argparse.Namespace:
    """The options of ``python -m MODULE`` (bench/README.md), checked against the suite."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {suite.module}", description=suite.description
    )
    parser.add_argument("--csv-mb", type=float, default=1024, help="CSV size (default 1024)")
    parser.add_argument("--text-mb", type=float, default=200, help="text size (default 200)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=("csv", "text"))
    parser.add_argument("--contenders", help="comma-separated names (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best wall")
    parser.add_argument("--json", type=Path, help="write all results to this JSON file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--check-rows", type=int, default=20_000, help="rows compared exactly")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target or check fails")
    # Internal: run one contender in this (child) process.
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--dst", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.contenders:
        known = {c.name for c in suite.contenders}
        unknown = set(args.contenders.split(",")) - known
        if unknown:
            parser.error(f"unknown contenders {sorted(unknown)}; known: {sorted(known)}")
    return args


def main(suite: Suite, argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, in a child, one contender); the exit code."""
    args = parse_args(suite, argv)
    if args.run_one:
        return run_child(
            suite.contenders, args.section, args.run_one, args.src, args.dst, args.report
        )
    names = args.contenders.split(",") if args.contenders else None
    report: Json = {"versions": _versions(), "seed": args.seed, "repeat": args.repeat}
    print(f"aerofs kernel benchmark: {json.dumps(report['versions'])}")
    with tempfile.TemporaryDirectory(prefix="aerofs-bench-keep-") as keep:
        if args.only in (None, "csv"):
            report["csv"] = run_csv(suite, args, names, Path(keep))
        if args.only in (None, "text"):
            report["text"] = run_text(suite, args, names, Path(keep))
    if args.json:
        write_json(args.json, report)
        print(f"\nresults written to {args.json}")
    failed = [
        c
        for section in ("csv", "text")
        for c in report.get(section, {}).get("targets", [])
        + report.get(section, {}).get("checks", [])
        if c["status"] == "FAIL"
    ]
    return 1 if args.strict and failed else 0


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """This process's environment with ``values`` set (None: removed), restored after."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved)


def _set_environment(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
