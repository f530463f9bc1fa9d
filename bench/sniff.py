"""What sniffing a file's dialect costs: ``kernels.sniff`` vs DuckDB's ``sniff_csv``.

    python -m bench.sniff                     # the robustness corpus + one 64 MB file
    python -m bench.sniff --big-mb 256 --repeat 7

The corpus is :mod:`bench.pollution`'s (85 small polluted files); the big file shows the
cost is bounded by the sample (64 KiB head, 16 KiB tail), not by the file. Each file is
sniffed ``--repeat`` times by each contender in this process; the best time counts.
Target: under 5 ms per file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.harness import format_table
from bench.pollution import build_corpus

TARGET_MS = 5.0


def _best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _big_file(directory: Path, megabytes: int) -> Path:
    """A plain CSV of about ``megabytes`` MB (the same block repeated)."""
    path = directory / "big.csv"
    block = "".join(f"{i},name {i},{i * 1.5:.2f},2025-01-{1 + i % 28:02d}\n" for i in range(10_000))
    with path.open("w") as f:
        f.write("id,name,amount,day\n")
        for _ in range(max(1, megabytes * 1_000_000 // len(block))):
            f.write(block)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per file; best counts")
    parser.add_argument("--big-mb", type=int, default=64, help="size of the big file")
    args = parser.parse_args(argv)

    import duckdb

    from aerofs_pipelines import kernels

    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="aerofs-sniff-") as tmp:
        files = [f.path for f in build_corpus(Path(tmp) / "corpus") if f.size > 0]
        big = _big_file(Path(tmp), args.big_mb)
        rows = []
        ours: list[float] = []
        theirs: list[float] = []
        for path in [*files, big]:

            def ours_sniff(p: Path = path) -> object:
                return kernels.sniff(p)

            def duckdb_sniff(p: Path = path) -> object:
                return con.execute("SELECT * FROM sniff_csv(?)", [str(p)]).fetchall()

            a = _best_ms(ours_sniff, args.repeat)
            try:
                d = _best_ms(duckdb_sniff, args.repeat)
            except duckdb.Error:
                d = float("nan")  # DuckDB cannot sniff it (UTF-16, mixed line ends)
            if path == big:
                rows.append([f"{path.name} ({args.big_mb} MB)", f"{a:.2f}", f"{d:.2f}"])
            else:
                ours.append(a)
                theirs.append(d)
        sniffable = [(a, d) for a, d in zip(ours, theirs, strict=True) if d == d]
        rows.insert(
            0,
            [
                f"corpus: {len(ours)} files, mean",
                f"{statistics.fmean(ours):.2f}",
                f"{statistics.fmean(d for _, d in sniffable):.2f}",
            ],
        )
        rows.insert(1, ["corpus: max", f"{max(ours):.2f}", f"{max(d for _, d in sniffable):.2f}"])
    print("Sniffing a dialect, ms per file (best of", args.repeat, "runs)")
    table = [["file", "aerofs sniff", "duckdb sniff_csv"], *rows]
    for line in format_table(table, "<>>", rule="columns"):
        print("  " + line)
    ratio = statistics.fmean(a for a, _ in sniffable) / statistics.fmean(d for _, d in sniffable)
    print(
        f"\nRatio aerofs / duckdb (mean over the {len(sniffable)} files both sniff): {ratio:.2f}x"
    )
    verdict = "met" if max(ours) < TARGET_MS else "MISSED"
    print(f"Target < {TARGET_MS} ms per file: {verdict} (max {max(ours):.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
