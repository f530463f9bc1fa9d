"""The cross-batch catalog: which datasets the lake holds, with which batches and files.

A registered dataset's files are those its Iceberg table references now (a file that a
re-run replaced, or that only expired snapshots hold, is not listed); the unregistered
area's are listed from the lake's layout (``unregistered/tables/<name>/batch=<id>/``).
Sorted, so the same lake gives the same catalog.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pyiceberg.table import Table

from aerofs_pipelines.lake.iceberg import data_files
from aerofs_pipelines.lake.layout import TABLES, UNREGISTERED, parse_table_key
from aerofs_pipelines.lake.storage import Storage

__all__ = ["FILES_SCHEMA", "build_catalog"]

FILES_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("batch_id", pa.string()),
        ("file", pa.string()),
        ("key", pa.string()),
        ("bytes", pa.int64()),
        ("rows", pa.int64()),
        ("registered", pa.bool_()),
    ]
)


def _key(lake: Storage, path: str) -> str:
    """The lake key of a table's data file (its URI when it lies outside the lake)."""
    root = lake.uri("").rstrip("/") + "/"
    return path.removeprefix(root)


def build_catalog(lake: Storage, tables: Sequence[Table]) -> tuple[pa.Table, dict[str, Any]]:
    """The catalog rows (one per dataset file) and the per-dataset summary document, from
    the lake's ``tables`` (``lake.iceberg.all_tables``) and its unregistered area."""
    rows: list[dict[str, Any]] = []
    for table in tables:
        dataset = table.name()[-1]
        for f in data_files(table):
            key = _key(lake, f.path)
            parsed = parse_table_key(key)
            rows.append(
                {
                    "dataset": dataset,
                    "batch_id": f.batch_id,
                    "file": parsed.file if parsed else key.rsplit("/", 1)[-1],
                    "key": key,
                    "bytes": f.bytes,
                    "rows": f.rows,
                    "registered": True,
                }
            )
    for item in lake.list_files(f"{UNREGISTERED}/{TABLES}"):
        parsed = parse_table_key(item.key)
        if parsed is None or item.problem:
            continue
        rows.append(
            {
                "dataset": parsed.dataset,
                "batch_id": parsed.batch_id,
                "file": parsed.file,
                "key": item.key,
                "bytes": item.size,
                "rows": None,
                "registered": False,
            }
        )
    rows.sort(key=lambda r: (not r["registered"], r["dataset"], r["batch_id"], r["file"]))
    summary: dict[bool, dict[str, dict[str, Any]]] = {True: {}, False: {}}
    grouped: dict[tuple[bool, str], dict[str, Any]] = defaultdict(
        lambda: {"batches": set(), "files": 0, "bytes": 0, "rows": 0}
    )
    for r in rows:
        d = grouped[(r["registered"], r["dataset"])]
        d["batches"].add(r["batch_id"])
        d["files"] += 1
        d["bytes"] += r["bytes"]
        d["rows"] += r["rows"] or 0
    for (registered, name), d in sorted(grouped.items()):
        entry = {"batches": sorted(d["batches"]), "files": d["files"], "bytes": d["bytes"]}
        if registered:
            entry["rows"] = d["rows"]
        summary[registered][name] = entry
    doc = {"datasets": summary[True], "unregistered": summary[False]}
    return pa.Table.from_pylist(rows, schema=FILES_SCHEMA), doc
