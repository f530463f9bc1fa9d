"""Tables: one CSV/TSV file of a batch converted by the Rust kernel into the lake, every
row carrying its ``batch_id`` (the lake tables' partition column)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aerofs_pipelines import kernels
from aerofs_pipelines.batch.dialects import recorded_dialect
from aerofs_pipelines.batch.errors import FILE_ERRORS, file_failure
from aerofs_pipelines.batch.formats import md_table
from aerofs_pipelines.batch.manifest import FileEntry
from aerofs_pipelines.lake.layout import BATCH_COLUMN, rejects_key
from aerofs_pipelines.lake.storage import Storage
from aerofs_pipelines.registry import Registry

__all__ = ["TABLE_OUTCOME_SCHEMA", "TableOutcome", "convert_table"]

PREVIEW_ROWS = 5

PREVIEW_COLUMNS = 20
"""A very wide table (thousands of columns) previews its first columns only."""


@dataclass(frozen=True)
class TableOutcome:
    """What happened to one table file of a batch."""

    file: str
    dataset: str
    status: str
    reason: str
    rows: int
    rejected_rows: int
    bytes_read: int
    bytes_written: int
    schema: str
    """Column → Arrow type, as JSON."""
    output: str | None
    rejects: str | None
    dialect: str = "{}"
    """The dialect the file was read in, as JSON."""
    registered: bool = True
    """False for a file no registry pattern matches (converted to the unregistered area)."""


TABLE_OUTCOME_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("dataset", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("rows", pa.int64()),
        ("rejected_rows", pa.int64()),
        ("bytes_read", pa.int64()),
        ("bytes_written", pa.int64()),
        ("schema", pa.string()),
        ("output", pa.string()),
        ("rejects", pa.string()),
        ("dialect", pa.string()),
        ("registered", pa.bool_()),
    ]
)


def _preview(path: Path) -> str:
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    batch = next(pf.iter_batches(batch_size=PREVIEW_ROWS, columns=names[:PREVIEW_COLUMNS]), None)
    if batch is None:
        return "(no rows)"
    table = md_table(batch.schema.names, [list(r.values()) for r in batch.to_pylist()])
    more = len(names) - PREVIEW_COLUMNS
    return table + (f"\n\n({more} more columns not shown)" if more > 0 else "")


def convert_table(
    entry: FileEntry,
    batch_id: str,
    landing: Storage,
    lake: Storage,
    registry: Registry,
    scratch: Path,
) -> tuple[TableOutcome, str | None]:
    """Convert one CSV/TSV file of a batch into the lake; the outcome and a preview."""
    dataset = entry.dataset or registry.match(entry.name).dataset
    registered = entry.registered is not False  # None: a manifest from before the flag
    spec = registry.get(dataset) if registered else None
    out_path, rej_path = scratch / "table.parquet", scratch / "rejects.parquet"
    if entry.output is None:
        raise ValueError(f"{entry.name}: the manifest gives this table no output key")
    out_key = entry.output
    rej_key = rejects_key(dataset, batch_id, entry.name, registered=registered)
    try:
        with landing.local_path(f"{batch_id}/{entry.name}") as src:
            stats = kernels.csv_to_parquet(
                src,
                out_path,
                dialect=recorded_dialect(entry.dialect),
                schema=spec.arrow_schema() if spec else None,
                other_columns=spec.other_columns if spec else "reject",
                on_error="quarantine",
                rejects=rej_path,
                constant_columns={BATCH_COLUMN: batch_id},
            )
    except FILE_ERRORS as exc:
        reason = file_failure(exc, entry.name, "conversion failed")
        failed = TableOutcome(
            file=entry.name,
            dataset=dataset,
            status="quarantined",
            reason=reason,
            rows=0,
            rejected_rows=0,
            bytes_read=0,
            bytes_written=0,
            schema="{}",
            output=None,
            rejects=None,
            registered=registered,
        )
        return failed, None
    lake.put_file(out_path, out_key)
    rejected = int(stats["rejected_rows"])
    if rejected:
        lake.put_file(rej_path, rej_key)
    else:
        lake.delete(rej_key)  # a previous run's rejects would be stale
    reason = f"{stats['rows']} rows" + (
        f", {rejected} rejected rows quarantined" if rejected else ""
    )
    outcome = TableOutcome(
        file=entry.name,
        dataset=dataset,
        status="processed",
        reason=reason,
        rows=int(stats["rows"]),
        rejected_rows=rejected,
        bytes_read=int(stats["bytes_read"]),
        bytes_written=int(stats["bytes_written"]),
        schema=json.dumps(stats["schema"]),
        output=out_key,
        rejects=rej_key if rejected else None,
        dialect=entry.dialect or json.dumps(stats["dialect"], sort_keys=True),
        registered=registered,
    )
    return outcome, _preview(out_path)
