"""A batch's table file as the pipeline writes it into the lake, for the lake's tests:
today's (every row with its ``batch_id``), and a release's from before the tables."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from aerofs_pipelines import kernels


def batch_file(
    lake: Path,
    batch: str,
    name: str,
    text: str,
    dataset: str = "orders",
    *,
    schema: pa.Schema | None = None,
) -> str:
    """CSV ``text`` converted by the kernel (with the registry's ``schema``, or inferred
    types), every row with its ``batch_id``, to
    ``<lake>/tables/<dataset>/batch=<batch>/<name>.parquet``; its path."""
    src = lake.parent / f"{batch}-{name}.csv"
    src.write_text(text)
    dst = lake / "tables" / dataset / f"batch={batch}" / f"{name}.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    kernels.csv_to_parquet(src, dst, schema=schema, constant_columns={"batch_id": batch})
    return str(dst)


def pre_table_file(
    lake: Path,
    dataset: str,
    batch: str,
    name: str,
    text: str,
    *,
    schema: pa.Schema | None = None,
    days_ago: float = 30,
) -> Path:
    """CSV ``text`` as a release before the tables wrote it: converted with the
    registry's ``schema`` (or inferred types), no ``batch_id`` column, at
    ``<lake>/tables/<dataset>/batch=<batch>/<name>.parquet``, last modified ``days_ago``."""
    src = lake.parent / f"old-{dataset}-{batch}-{name}.csv"
    src.write_text(text)
    dst = lake / "tables" / dataset / f"batch={batch}" / f"{name}.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    kernels.csv_to_parquet(src, dst, schema=schema)
    then = time.time() - days_ago * 86_400
    os.utime(dst, (then, then))
    return dst
