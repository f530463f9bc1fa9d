"""What the lake's Iceberg tables cost: a batch's commit, and planning a scan of one batch.

    python -m bench.lake_tables                        # 100, 1,000 and 10,000 batches, SQLite
    python -m bench.lake_tables --sizes 100,1000 --pg postgresql://postgres@127.0.0.1:5432/test

One table grows batch by batch, one commit each, as the pipeline makes them (small
batches, kernel-converted, one Parquet file each). At each size N of ``--sizes``:

* **Commit overhead per batch**, against the conversion it follows. ``--repeat`` batches
  of ~``--batch-mb`` MB of CSV are converted by the kernel (with their ``batch_id``
  column; the output synced to disk, as the pipeline's lake storage writes it) and each
  committed to the table with ``lake.iceberg.commit_batch``, in turn, so
  both share the machine's load; medians of each. Beside it the mean commit of the last
  ``--window`` batches before N: a per-batch cost that includes the commits that merge
  manifests, each at its share (:func:`_amortized`: N is a round number, and so is the
  schedule of merges, so the N-th commit merges the most, once in 1,000 commits at
  1,000 and 10,000). The overhead is the larger of the two, as a share of the
  conversion.
  Target: under 10 % at 100 and 1,000 batches. That is the commit of a process that
  commits batch after batch (a backlog's single-run backfill). Beside it, the **first
  commit of a new process**, as a run that processes one batch makes it (the run's
  process reads the table's metadata file, opens the catalog's database and resolves
  its Avro schemas first): ``--first`` processes, each converting one batch and then
  committing it, median.
* **Planning** ``scan(row_filter=batch_id == X).plan_files()`` for one batch in the middle
  of the table, best of ``--repeat``; beside it, its peer for loose Parquet folders:
  listing that batch's folder. Target: under 1 s at 1,000 batches.

No snapshot expires while the table grows: ``lake_maintenance`` expires snapshots older
than ``AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS`` (7 days) once a day, so a backlog of 10,000
batches committed within days keeps every snapshot, and each commit rewrites metadata
naming them all: the worst case. After the largest size the bench runs the maintenance's
expiry once (keeping ``defs.maintenance.KEEP_LAST``), times it, and measures once more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import format_table

COMMIT_TARGET = 0.10
COMMIT_TARGET_SIZES = (100, 1000)
PLAN_TARGET_S = 1.0
PLAN_TARGET_SIZE = 1000
KEEP_LAST = 10
"""``aerofs_pipelines.defs.maintenance.KEEP_LAST``, without importing Dagster here."""


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _csv(path: Path, megabytes: float, start: int = 0) -> Path:
    rows = []
    i = start
    size = 0
    while size < megabytes * 1_000_000:
        line = f"{i},customer {i % 977},{i * 1.25:.2f},2025-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
        rows.append(line)
        size += len(line)
        i += 1
    path.write_text("order_id,customer,amount,order_date\n" + "".join(rows))
    return path


def _settings(root: Path, pg: str | None) -> None:
    os.environ["DAGSTER_HOME"] = str(root / "home")
    os.environ["AEROFS_LAKE"] = str(root / "lake")
    if pg:
        os.environ["AEROFS_LAKE_CATALOG_URL"] = pg.replace(
            "postgresql://", "postgresql+psycopg2://"
        )


def _sync(path: Path) -> None:
    """Make a converted file durable, as the pipeline's lake storage does before a commit
    may name it (``lake.storage.atomic_target``): the commit's own sync then no longer
    pays for flushing it."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _ratio(value: float) -> str:
    """As the harness prints ratios (``bench.harness.render_table``)."""
    return f"{value:.2f}x"


class _Table:
    """The growing table: small batches, one commit each, every commit timed."""

    def __init__(self, root: Path, catalog: Any) -> None:
        from aerofs_pipelines import kernels
        from aerofs_pipelines.lake import iceberg

        self.kernels, self.iceberg, self.catalog = kernels, iceberg, catalog
        self.location = root / "lake" / "tables" / "grow"
        self.small = _csv(root / "small.csv", 0.001)
        self.commits: list[tuple[int, float]] = []  # (the table's count of commits, seconds)
        self.batches = 0

    def folder(self, batch: str) -> Path:
        return self.location / f"batch={batch}"

    def commit(self, batch: str, path: Path) -> float:
        started = time.perf_counter()
        self.iceberg.commit_batch(
            self.catalog, "grow", batch, [str(path)], location=str(self.location)
        )
        took = time.perf_counter() - started
        self.batches += 1
        self.commits.append((self.batches, took))
        return took

    def grow_to(self, size: int) -> None:
        while self.batches < size:
            batch = f"b{self.batches:06d}"
            dst = self.folder(batch) / "part.parquet"
            dst.parent.mkdir(parents=True, exist_ok=True)
            self.kernels.csv_to_parquet(self.small, dst, constant_columns={"batch_id": batch})
            _sync(dst)
            self.commit(batch, dst)

    def big_batches(
        self, src: Path, repeat: int, batch: str | None = None
    ) -> tuple[list[float], list[float]]:
        """``repeat`` batches of ``src``: each converted, then committed (seconds of each)."""
        convert_s, commit_s = [], []
        for _ in range(repeat):
            batch_id = batch or f"b{self.batches:06d}"  # ids in order, as dates are
            dst = self.folder(batch_id) / "orders.parquet"
            dst.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            self.kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": batch_id})
            _sync(dst)
            convert_s.append(time.perf_counter() - started)
            commit_s.append(self.commit(batch_id, dst))
        return convert_s, commit_s

    def plan(self, batch: str, repeat: int) -> tuple[float, float]:
        """Best seconds to plan one batch's scan, and to list its folder."""
        table = self.catalog.load_table(self.iceberg.table_identifier("grow"))
        flt = self.iceberg.in_batch_filter(batch)
        tasks = list(table.scan(row_filter=flt).plan_files())
        assert len(tasks) == 1, f"{batch}: {len(tasks)} files planned"
        plan = _best(lambda: list(table.scan(row_filter=flt).plan_files()), repeat)
        listing = _best(lambda: list(self.folder(batch).iterdir()), repeat)
        return plan, listing

    def snapshots(self) -> int:
        return len(self.catalog.load_table(self.iceberg.table_identifier("grow")).snapshots())


def _merge_period(n: int) -> int:
    """Commits between two merges like the one a table's ``n``-th commit of one file makes
    (1: it merges nothing): every ``MERGE_FANOUT`` commits merge as many manifests of a
    level into one of the next, up to manifests of ``MERGE_MAX_FILES`` files
    (``lake.iceberg``)."""
    from aerofs_pipelines.lake.iceberg import MERGE_FANOUT, MERGE_MAX_FILES

    period = 1
    while n % (period * MERGE_FANOUT) == 0 and period * MERGE_FANOUT <= MERGE_MAX_FILES:
        period *= MERGE_FANOUT
    return period


def _amortized(commits: Sequence[tuple[int, float]]) -> float:
    """Mean seconds of ``commits`` (each the table's count of commits, and its seconds),
    each merge counted at its share: a merge made once in 1,000 commits counts a tenth
    in a window of 100 that holds it; the window's own mean counted it ten times over."""
    weights = [min(1.0, len(commits) / _merge_period(n)) for n, _ in commits]
    return sum(w * s for w, (_, s) in zip(weights, commits, strict=True)) / sum(weights)


def _first_commit(root: Path, src: Path, batch: str, pg: str | None) -> tuple[float, float]:
    """Seconds to convert ``src`` and then to commit it, in a new process (imports and
    the catalog's opening not counted: a run's process has made them)."""
    script = (
        "import json, sys; from pathlib import Path; from bench import lake_tables as b;"
        f"root = Path(sys.argv[1]); b._settings(root, {pg!r});"
        "from aerofs_pipelines.lake import iceberg; catalog = iceberg.open_catalog();"
        "grow = b._Table(root, catalog);"
        "convert, commit = grow.big_batches(Path(sys.argv[2]), 1, batch=sys.argv[3]);"
        "print(json.dumps([convert[0], commit[0]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(root), str(src), batch],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    convert, commit = json.loads(out.strip().splitlines()[-1])
    return float(convert), float(commit)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="table sizes in batches")
    parser.add_argument("--batch-mb", type=float, default=10.0, help="the timed batches' CSV")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--window", type=int, default=100, help="commits averaged before each size")
    parser.add_argument("--first", type=int, default=3, help="new processes' commits at each size")
    parser.add_argument("--pg", help="a PostgreSQL URL for the catalog (default: SQLite)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    with tempfile.TemporaryDirectory(prefix="aerofs-lake-tables-") as tmp:
        root = Path(tmp)
        _settings(root, args.pg)
        from aerofs_pipelines.lake import iceberg

        catalog = iceberg.open_catalog()
        if args.pg:  # a clean slate in the shared database
            for ident in (
                catalog.list_tables(iceberg.NAMESPACE) if catalog.list_namespaces() else []
            ):
                catalog.drop_table(ident)
        src = _csv(root / "big.csv", args.batch_mb)
        grow = _Table(root, catalog)
        print(
            f"one table grown batch by batch; timed batches: {src.stat().st_size / 1e6:.1f} MB "
            f"of CSV, {args.repeat} at each size; catalog: "
            f"{'PostgreSQL' if args.pg else 'SQLite'}\n"
        )

        commit_rows = [
            [
                "batches",
                "build s",
                "convert ms",
                "commit ms",
                f"last {args.window} ms",
                "commit / convert",
                "new process ms",
                "its share",
            ]
        ]
        plan_rows = [["batches", "snapshots", "plan one batch ms", "list its folder ms", "ratio"]]
        overheads: dict[int, float] = {}
        plans: dict[int, float] = {}
        started = time.perf_counter()

        def measure(size: int, label: str, *, expired: bool = False) -> None:
            window = _amortized(grow.commits[-args.window :])
            convert_s, commit_s = grow.big_batches(src, args.repeat)
            conv = statistics.median(convert_s)
            per_batch = max(statistics.median(commit_s), window)
            if not expired:
                overheads[size] = per_batch / conv
            firsts = [
                _first_commit(root, src, f"b{grow.batches + i:06d}", args.pg)
                for i in range(args.first)
            ]
            grow.batches += len(firsts)
            first = statistics.median(c for _, c in firsts) if firsts else float("nan")
            first_share = first / statistics.median(v for v, _ in firsts) if firsts else 0.0
            commit_rows.append(
                [
                    label,
                    f"{time.perf_counter() - started:.0f}",
                    _ms(conv),
                    _ms(statistics.median(commit_s)),
                    _ms(window),
                    _ratio(per_batch / conv),
                    _ms(first),
                    _ratio(first_share),
                ]
            )
            plan, listing = grow.plan(f"b{size // 2:06d}", args.repeat)
            if not expired:
                plans[size] = plan
            plan_rows.append(
                [
                    label,
                    str(grow.snapshots()),
                    _ms(plan),
                    f"{listing * 1000:.3f}",
                    _ratio(plan / listing),
                ]
            )

        for size in sizes:
            grow.grow_to(size)
            measure(size, str(size))
        expiry = time.perf_counter()
        expired = iceberg.expire_snapshots(
            catalog, "grow", older_than=datetime.now(UTC), keep_last=KEEP_LAST
        )
        expiry = time.perf_counter() - expiry
        grow.commits.clear()
        grow.grow_to(grow.batches + args.window)
        measure(sizes[-1], f"{sizes[-1]}, expired", expired=True)

        print("\n".join(format_table(commit_rows, "<>>>>>>>", rule="columns")))
        print(
            f"(convert: the kernel, {src.stat().st_size / 1e6:.1f} MB CSV; commit: those batches' "
            f"commits; last {args.window}: mean commit of the batches before, each merge of "
            f"manifests at its share; medians of "
            f"{args.repeat}; new process: a run's one commit, after its conversion, in a "
            f"process of its own, median of {args.first}, and its share of that conversion)"
        )
        for size, overhead in overheads.items():
            verdict = "met" if overhead < COMMIT_TARGET else "NOT met"
            target = "target" if size in COMMIT_TARGET_SIZES else "target at 100 and 1,000"
            print(
                f"commit overhead at {size:,} batches: {overhead:.1%} of the conversion "
                f"({target} < 10 %: {verdict})"
            )
        print()
        print("\n".join(format_table(plan_rows, "<>>>>", rule="columns")))
        at = max((s for s in plans if s <= PLAN_TARGET_SIZE), default=None)
        if at is not None:
            verdict = "met" if plans[at] < PLAN_TARGET_S else "NOT met"
            print(
                f"planning at {at:,} batches: {plans[at] * 1000:.1f} ms (target < 1 s: {verdict})"
            )
        print(
            f"\nbuilt {grow.batches:,} batches in {time.perf_counter() - started:.0f} s; "
            f"expiry as lake_maintenance runs it (keep {KEEP_LAST}) took {expiry:.1f} s "
            f"for {expired:,} snapshots"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
