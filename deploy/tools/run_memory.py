"""Peak memory of one batch's run, executed the way a run worker executes it.

Writes the deterministic sample batch (``--rows`` CSV rows) into a temporary landing
zone, registers it as a ``batches`` partition in a temporary SQLite instance (the repo's
``dagster_home/dagster.yaml``), then runs ``dagster job execute`` for ``process_batch``
on that partition in a child process, under ``/usr/bin/time -v`` when present, and
prints the child's peak resident set (``Maximum resident set size``) and wall time.

    .venv/bin/python deploy/tools/run_memory.py              # the sample batch (200 rows)
    .venv/bin/python deploy/tools/run_memory.py --rows 200000

The numbers in docs/capacity.md come from these commands.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="CSV rows of the sample batch")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="aerofs-run-memory-"))
    try:
        home, landing, lake = work / "home", work / "landing", work / "lake"
        home.mkdir()
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "AEROFS_LANDING": str(landing),
            "AEROFS_LAKE": str(lake),
        }
        for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST"):
            env.pop(name, None)
        py = sys.executable
        subprocess.run(
            [py, "-m", "aerofs_pipelines.sample_data", str(landing), "--rows", str(args.rows)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        register = (
            "import dagster as dg; "
            "dg.DagsterInstance.get().add_dynamic_partitions('batches', ['sample'])"
        )
        subprocess.run([py, "-c", register], env=env, check=True)
        dagster = str(Path(py).with_name("dagster"))
        cmd = [
            dagster, "job", "execute",
            "-m", "aerofs_pipelines.definitions", "-a", "defs",
            "-j", "process_batch",
            "--tags", json.dumps({"dagster/partition": "sample"}),
        ]  # fmt: skip
        timer = shutil.which("time") or "/usr/bin/time"
        use_time = os.path.exists(timer)
        if use_time:
            cmd = [timer, "-v", *cmd]
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            return proc.returncode
        peak_mb = None
        if use_time:
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
            peak_mb = int(found.group(1)) / 1024 if found else None
        csv_bytes = (landing / "sample" / "orders.csv").stat().st_size
        result = {
            "rows": args.rows,
            "csv_bytes": csv_bytes,
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(peak_mb, 1) if peak_mb is not None else None,
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"one run of process_batch, sample batch of {args.rows} rows "
                f"({csv_bytes / 1e6:.2f} MB CSV): wall {result['wall_s']} s, "
                f"peak RSS {result['peak_rss_mb']} MB"
            )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
