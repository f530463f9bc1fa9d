"""What the lake's Iceberg tables cost: a batch's commit, and planning a scan of one batch.

    python -m bench.lake_tables                        # 100 and 1,000 batches, SQLite catalog
    python -m bench.lake_tables --sizes 100,1000,10000 --pg postgresql://postgres@127.0.0.1:5432/test

* **Commit overhead**: a ~10 MB CSV batch converted by the kernel (with its ``batch_id``
  column), then committed with ``lake.iceberg.commit_batch``; the commit's time as a share
  of the conversion's. Target: under 10 %.
* **Planning**: a table grown to N batches (one commit each, as the pipeline makes them),
  then ``scan(row_filter=batch_id == X).plan_files()`` for one batch, best of
  ``--repeat``; beside it, its peer for loose Parquet folders: listing the one batch's
  folder. Target: under 1 s at 1,000 batches.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.harness import format_table

COMMIT_TARGET = 0.10
PLAN_TARGET_S = 1.0


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="table sizes in batches")
    parser.add_argument("--batch-mb", type=float, default=10.0, help="the commit batch's CSV")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", help="a PostgreSQL URL for the catalog (default: SQLite)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    with tempfile.TemporaryDirectory(prefix="aerofs-lake-tables-") as tmp:
        root = Path(tmp)
        _settings(root, args.pg)
        from aerofs_pipelines import kernels
        from aerofs_pipelines.lake import iceberg

        catalog = iceberg.open_catalog()
        if args.pg:  # a clean slate in the shared database
            for ident in (
                catalog.list_tables(iceberg.NAMESPACE) if catalog.list_namespaces() else []
            ):
                catalog.drop_table(ident)
        tables = root / "lake" / "tables"

        # --- commit overhead of one ~10 MB batch
        src = _csv(root / "big.csv", args.batch_mb)
        convert_s, commit_s = [], []
        for attempt in range(args.repeat):
            batch = f"big-{attempt}"
            dst = tables / "big" / f"batch={batch}" / "orders.parquet"
            dst.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": batch})
            convert_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            iceberg.commit_batch(catalog, "big", batch, [str(dst)], location=str(tables / "big"))
            commit_s.append(time.perf_counter() - started)
        conv, comm = min(convert_s), min(commit_s)
        rows = [
            ["step", "seconds", "share of conversion"],
            [f"convert {src.stat().st_size / 1e6:.1f} MB CSV", f"{conv:.3f}", "1.00"],
            ["commit (one snapshot)", f"{comm:.3f}", f"{comm / conv:.3f}"],
        ]
        print("\n".join(format_table(rows, "<>>", rule="columns")))
        verdict = "met" if comm / conv < COMMIT_TARGET else "NOT met"
        print(f"commit overhead {comm / conv:.1%} of conversion (target < 10 %: {verdict})\n")

        # --- planning one batch's scan as the table grows
        small = _csv(root / "small.csv", 0.001)
        table_rows = [
            ["batches", "build s", "plan one batch (ms)", "list its folder (ms)", "ratio"]
        ]
        made, build = 0, 0.0
        worst = 0.0
        for size in sizes:
            started = time.perf_counter()
            while made < size:
                batch = f"b{made:06d}"
                dst = tables / "grow" / f"batch={batch}" / "part.parquet"
                dst.parent.mkdir(parents=True, exist_ok=True)
                kernels.csv_to_parquet(small, dst, constant_columns={"batch_id": batch})
                iceberg.commit_batch(
                    catalog, "grow", batch, [str(dst)], location=str(tables / "grow")
                )
                made += 1
            build += time.perf_counter() - started
            table = catalog.load_table(iceberg.table_identifier("grow"))
            probe = f"b{size // 2:06d}"
            flt = iceberg.in_batch_filter(probe)
            plan = _best(
                lambda t=table, f=flt: list(t.scan(row_filter=f).plan_files()), args.repeat
            )
            folder = tables / "grow" / f"batch={probe}"
            listing = _best(lambda d=folder: list(d.iterdir()), args.repeat)
            worst = max(worst, plan) if size <= 1000 else worst
            table_rows.append(
                [
                    str(size),
                    f"{build:.1f}",
                    f"{plan * 1000:.1f}",
                    f"{listing * 1000:.3f}",
                    f"{plan / listing:.0f}x" if listing else "-",
                ]
            )
        print("\n".join(format_table(table_rows, "<>>>>", rule="columns")))
        verdict = "met" if worst < PLAN_TARGET_S else "NOT met"
        print(f"planning at up to 1,000 batches: {worst * 1000:.1f} ms (target < 1 s: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
