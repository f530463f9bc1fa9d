"""A batch's table file as the pipeline writes it into the lake, for the lake's tests."""

from __future__ import annotations

from pathlib import Path

from aerofs_pipelines import kernels


def batch_file(lake: Path, batch: str, name: str, text: str, dataset: str = "orders") -> str:
    """CSV ``text`` converted by the kernel, every row with its ``batch_id``, to
    ``<lake>/tables/<dataset>/batch=<batch>/<name>.parquet``; its path."""
    src = lake.parent / f"{batch}-{name}.csv"
    src.write_text(text)
    dst = lake / "tables" / dataset / f"batch={batch}" / f"{name}.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": batch})
    return str(dst)
