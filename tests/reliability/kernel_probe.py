"""Run every kernel on every file of a folder and report what happened, one JSON per line.

``python -m tests.reliability.kernel_probe DIR`` -- run in a child process by
``test_bad_input.py``, so that a crash (a panic that escapes as an abort, a segfault) kills
this process and shows as a non-zero exit code instead of taking pytest down. Named pipes
are left out: opening one blocks until a writer comes (the storage layer never opens them).

``python -m tests.reliability.kernel_probe --memory FILE OP`` prints the peak RSS growth
(bytes) of one kernel call on FILE (OP: ``convert``, ``read``, ``analyze``, ``digest``).
"""

from __future__ import annotations

import json
import os
import resource
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from aerofs_pipelines import kernels
from aerofs_pipelines.batch.dialects import SUFFIX_DELIMITERS
from aerofs_pipelines.kernels.errors import KernelError
from aerofs_pipelines.registry import load_registry


def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    """``{"ok": True, ...}`` or the exception's type, message and location."""
    try:
        result = fn()
    except BaseException as exc:  # a PanicException is a BaseException
        out: dict[str, Any] = {
            "ok": False,
            "type": type(exc).__name__,
            "module": type(exc).__module__,
            "message": str(exc),
            "kernel_error": isinstance(exc, KernelError),
        }
        if isinstance(exc, KernelError):
            out.update(path=exc.path, line=exc.line, column=exc.column, reason=exc.reason)
        return out
    return {"ok": True, "result": result}


def probe(path: Path, name: str, scratch: Path) -> dict[str, Any]:
    """Every kernel on ``path`` (named ``name`` in its batch)."""
    report: dict[str, Any] = {"name": name}
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIX_DELIMITERS:
        spec = load_registry().match(name).spec
        schema = spec.arrow_schema() if spec else None
        delimiter = SUFFIX_DELIMITERS[suffix]

        def convert(on_error: str) -> dict[str, int]:
            dst, rejects = scratch / f"{on_error}.parquet", scratch / f"{on_error}.rejects.csv"
            stats = kernels.csv_to_parquet(
                path,
                dst,
                schema=schema,
                delimiter=delimiter,
                on_error=on_error,  # type: ignore[arg-type]
                rejects=rejects if on_error == "quarantine" else None,
            )
            import pyarrow.parquet as pq

            assert pq.read_metadata(dst).num_rows == stats["rows"]
            if stats["rejected_rows"]:
                assert rejects.exists(), "rejected rows but no rejects file"
            return {"rows": stats["rows"], "rejected_rows": stats["rejected_rows"]}

        report["convert_fail"] = outcome(lambda: convert("fail"))
        report["convert_quarantine"] = outcome(lambda: convert("quarantine"))
        opened = outcome(lambda: kernels.read_csv(path, schema=schema, delimiter=delimiter))
        if opened["ok"]:
            reader: pa.RecordBatchReader = opened.pop("result")
            opened["result"] = "opened"
            report["read_rows"] = outcome(lambda: sum(b.num_rows for b in reader))
        report["read_open"] = opened
    report["analyze"] = outcome(
        lambda: {k: v for k, v in kernels.analyze_text(path).items() if k != "top_words"}
    )
    report["digest"] = outcome(lambda: kernels.digest(path))
    return report


def probe_folder(folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="aerofs-probe-") as tmp:
        for entry in sorted(os.listdir(folder)):
            path = folder / entry
            if stat.S_ISFIFO(path.lstat().st_mode):
                continue
            scratch = Path(tmp) / str(len(os.listdir(tmp)))
            scratch.mkdir()
            print(json.dumps(probe(path, entry, scratch), default=str), flush=True)


def memory(path: Path, op: str) -> int:
    """Peak RSS growth (bytes) of one kernel call on ``path``."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix="aerofs-probe-") as tmp:
        if op == "convert":
            dst, rejects = Path(tmp) / "o.parquet", Path(tmp) / "r.parquet"
            kernels.csv_to_parquet(path, dst, on_error="quarantine", rejects=rejects)
        elif op == "read":
            sum(b.num_rows for b in kernels.read_csv(path))
        elif op == "analyze":
            kernels.analyze_text(path)
        elif op == "digest":
            kernels.digest(path)
        else:
            raise SystemExit(f"unknown op {op!r}")
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024  # Linux: KiB


def main(argv: list[str]) -> int:
    if argv[:1] == ["--memory"]:
        print(memory(Path(argv[1]), argv[2]))
    else:
        probe_folder(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
