"""What a lake table holds for a batch, held against what the batch converted.

After each commit, ``lake/<dataset>`` checks its table with these: the batch's data files
must be exactly the ones the run published (none missing, none extra, none twice), and
its rows, read back from the table, must satisfy the dataset's schema. They see what a
reader of the table sees, whoever else wrote to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.table import Table

from aerofs_pipelines.batch.validation import dataset_failures
from aerofs_pipelines.lake.iceberg import batch_files, batch_table
from aerofs_pipelines.registry import DatasetSpec

__all__ = ["BatchAudit", "audit_batch"]


@dataclass(frozen=True)
class BatchAudit:
    """One batch of one table, as its checks see it."""

    batch_id: str
    files_problem: str | None
    """Why the table's files of the batch are not exactly the published ones, if so."""
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    """pandera failure cases of the batch's rows (batch, file, column, check, value, row)."""


def _files_problem(published: Sequence[str], held: Sequence[str]) -> str | None:
    missing = sorted(set(published) - set(held))
    extra = sorted(set(held) - set(published))
    twice = sorted({f for f in held if list(held).count(f) > 1})
    parts = [
        f"{what}: {', '.join(files[:5])}"
        for what, files in (("missing", missing), ("not of this run", extra), ("twice", twice))
        if files
    ]
    return "; ".join(parts) or None


def audit_batch(
    table: Table | None, spec: DatasetSpec, batch_id: str, published: Sequence[str]
) -> BatchAudit:
    """Check the table (None: not created yet) for one batch whose ``published`` data
    files (URIs as the commit registered them) the run committed or found in place."""
    held = batch_files(table, batch_id) if table is not None else []
    problem = _files_problem(published, held)
    if table is None or not held:
        return BatchAudit(batch_id, problem, 0)
    rows = batch_table(table, batch_id)
    failures, _ = dataset_failures(rows, spec, batch_id, ".".join(table.name()))
    return BatchAudit(batch_id, problem, rows.num_rows, failures)
