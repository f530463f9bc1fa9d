"""The cross-batch catalog: which datasets the lake holds, with which batches and files.

Read from the lake's layout (``tables/<dataset>/batch=<id>/<file>.parquet``), sorted,
so the same lake gives the same catalog.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from aerofs_pipelines.lake.layout import TABLES, parse_table_key
from aerofs_pipelines.lake.storage import Storage

__all__ = ["FILES_SCHEMA", "build_catalog"]

FILES_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("batch_id", pa.string()),
        ("file", pa.string()),
        ("key", pa.string()),
        ("bytes", pa.int64()),
    ]
)


def build_catalog(lake: Storage) -> tuple[pa.Table, dict[str, Any]]:
    """The catalog rows (one per dataset file) and the per-dataset summary document."""
    rows: list[dict[str, Any]] = []
    for item in lake.list_files(TABLES):
        table = parse_table_key(item.key)
        if table is None or item.problem:
            continue
        rows.append(
            {
                "dataset": table.dataset,
                "batch_id": table.batch_id,
                "file": table.file,
                "key": item.key,
                "bytes": item.size,
            }
        )
    rows.sort(key=lambda r: (r["dataset"], r["batch_id"], r["file"]))
    by_dataset: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"batches": set(), "files": 0, "bytes": 0}
    )
    for r in rows:
        d = by_dataset[r["dataset"]]
        d["batches"].add(r["batch_id"])
        d["files"] += 1
        d["bytes"] += r["bytes"]
    datasets = {
        name: {"batches": sorted(d["batches"]), "files": d["files"], "bytes": d["bytes"]}
        for name, d in sorted(by_dataset.items())
    }
    return pa.Table.from_pylist(rows, schema=FILES_SCHEMA), {"datasets": datasets}
