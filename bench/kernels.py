"""Benchmark the Rust kernels against their peers: CSV → Parquet and text statistics.

    python -m bench.kernels --csv-mb 20 --text-mb 5          # smoke run
    python -m bench.kernels                                  # full run: 1024 MB CSV, 200 MB text

The entry point (also of the children, ``--run-one``): it wires the contenders of
:mod:`bench.contenders` (our kernels and their peers, one function each) into the harness
of :mod:`bench.harness` (a fresh subprocess per contender, wall time and peak RSS, tables,
targets, agreement checks, options). See ``bench/README.md`` for what is measured and the
targets.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench import harness
from bench.contenders import CONTENDERS, pyarrow_batches

SUITE = harness.Suite(
    module="bench.kernels",
    description=__doc__.splitlines()[0],
    contenders=CONTENDERS,
    csv_reference=pyarrow_batches,
)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    return harness.main(SUITE, argv)


if __name__ == "__main__":
    sys.exit(main())
