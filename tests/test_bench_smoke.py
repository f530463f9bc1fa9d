"""The benchmarks still run and their outputs still agree, at smoke sizes (timings at
these sizes mean nothing: targets are judged on the full runs, bench/README.md)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _section(output: str, title: str) -> list[str]:
    """The indented lines under a heading line ``title``."""
    lines = output.splitlines()
    start = lines.index(title) + 1
    body = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        body.append(line.strip())
    return body


def test_kernel_benchmark_smoke_agrees(tmp_path: Path) -> None:
    out = _run("bench.kernels", "--csv-mb", "5", "--text-mb", "2", "--repeat", "1")
    for title in ("CSV agreement", "Text agreement"):
        checks = _section(out, title)
        assert checks, f"no {title} section"
        failed = [c for c in checks if not c.startswith(("PASS", "INFO"))]
        assert not failed, failed
    statuses = re.findall(r"^\S+\s+[\d.]+\s+[\d.]+\s+\d+\s+\S+\s+[\d.]+x\s+(\S+)$", out, re.M)
    assert statuses and set(statuses) == {"ok"}, statuses


def test_lake_write_benchmark_smoke(tmp_path: Path) -> None:
    out = _run(
        "bench.lake_writes",
        "--sizes",
        "100,2000",
        "--writes",
        "20",
        "--repeat",
        "1",
        "--dir",
        str(tmp_path),
    )
    rows = [line for line in out.splitlines() if re.match(r"\s+[\d,]+\s+\d", line)]
    assert len(rows) == 2, out
    assert "aerofs later write at 2,000 files / at 100:" in out
    assert list(tmp_path.iterdir()) == []  # its folders are removed


def test_lake_tables_benchmark_smoke() -> None:
    out = _run("bench.lake_tables", "--sizes", "5", "--batch-mb", "0.5", "--repeat", "1")
    assert "commit overhead" in out
    assert re.search(r"^5\s+\S+\s+\S+", out, re.M), out


def test_lake_tables_counts_each_merge_at_its_share() -> None:
    """A window of 100 commits ending on the 1,000th (a merge made once in 1,000 commits)
    counts that merge a tenth; merges made once in 10 or 100 count in full."""
    from bench.lake_tables import _amortized, _merge_period

    assert [_merge_period(n) for n in (7, 10, 100, 1000, 2000, 10_000)] == [
        1,
        10,
        100,
        1000,
        1000,
        1000,
    ]
    window = [(n, 101.0 if n == 1000 else 1.0) for n in range(901, 1001)]
    assert _amortized(window) == pytest.approx((99 * 1.0 + 0.1 * 101.0) / 99.1)
    plain = [(n, 101.0 if n == 900 else 1.0) for n in range(801, 901)]  # a merge of 100
    assert _amortized(plain) == pytest.approx(2.0)


def test_latency_benchmark_smoke(tmp_path: Path) -> None:
    """One batch through ``aerofs serve`` (embedded): every mark is found in the instance's
    records, in causal order, and the stages add up to ingest -> processed."""
    from bench.latency import STAGES, TOTAL

    report = tmp_path / "latency.json"
    out = _run(
        "bench.latency",
        *("--setups", "embedded", "--batches", "1", "--warmup", "0", "--jitter", "0"),
        *("--json", str(report)),
    )
    assert re.search(r"^embedded\s+1\s+\d+\.\d+", out, re.M), out
    (setup,) = json.loads(report.read_text())["setups"]
    (batch,) = setup["batches"]
    assert (batch["status"], batch["runs"]) == ("SUCCESS", 1), batch
    marks = [batch[start] for _, start, _ in STAGES] + [batch[STAGES[-1][2]]]
    assert all(isinstance(m, float) for m in marks), marks
    assert marks[1:] == sorted(marks[1:]), marks  # tick started ... success, in order
    stages = {row["stage"]: row["median"] for row in setup["stages"]}
    parts = [stages[name] for name, _, _ in STAGES]
    assert not any(math.isnan(p) for p in parts), stages
    assert math.isclose(sum(parts), stages[TOTAL[0]], abs_tol=1e-6), stages
