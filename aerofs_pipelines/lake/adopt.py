"""Bringing the batches of a lake from before the tables into them (``aerofs tables adopt``).

Releases before the Iceberg tables wrote each table file as loose Parquet,
``tables/<name>/batch=<id>/<stem>.parquet``, without a ``batch_id`` column, and put the
files no registry pattern matched under ``tables/<their stem>/`` too. No table references
them, and the orphan sweep keeps them only because they are older than their table
(``lake.orphans``). :func:`adopt_old_batches` walks ``tables/`` for such files (not
referenced by the table, written before it was created, or with no table yet) and, batch
by batch:

- ``adopt``: a registered dataset's batch the table does not hold: each file conformed
  to the dataset's schema as today's conversion writes it (``batch_id`` last), written
  beside the original under a key derived from the original's content (a re-run writes
  the same key), committed with :func:`~aerofs_pipelines.lake.iceberg.commit_batch` (one
  snapshot, exactly once), then the originals deleted;
- ``superseded``: the table already holds the batch (it was re-run since): the old files
  are earlier versions of it, and are deleted;
- ``move``: a name the registry does not know: moved to the unregistered area
  (``unregistered/tables/<name>/batch=<id>/``), where today's conversion puts such files.

A batch that cannot be conformed (its columns changed since, a type conflict) is reported
with the file, column and reason and left as it is; the others go on. Every step can be
repeated after a crash: the new files' keys are fixed by the originals' content, and the
originals go last. No Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow.types as pat
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from aerofs_pipelines import kernels
from aerofs_pipelines.lake.iceberg import (
    LakeTableError,
    batch_rows,
    commit_batch,
    find_table,
)
from aerofs_pipelines.lake.layout import (
    BATCH_COLUMN,
    TABLES,
    TableFile,
    parse_table_key,
    table_key,
)
from aerofs_pipelines.lake.orphans import TableFiles
from aerofs_pipelines.lake.storage import Storage, StoredFile, scratch_dir
from aerofs_pipelines.registry import DatasetSpec, Registry

__all__ = ["AdoptReport", "BatchAdoption", "adopt_old_batches"]

Action = Literal["adopt", "superseded", "move"]

VERSION_CHARS = 12
"""Hex digits of the original's BLAKE3 digest in an adopted file's key (as many as a
converted file's version has)."""


@dataclass(frozen=True)
class BatchAdoption:
    """What adopt does (or, in a dry run, would do) with one old batch folder."""

    name: str
    """The folder under ``tables/``: a dataset, or the stem of an unregistered file."""
    batch_id: str
    action: Action
    files: tuple[str, ...]
    """The old files (lake keys)."""
    rows: int = 0
    """Rows the batch brings to its table (``adopt``)."""
    written: tuple[str, ...] = ()
    """Where the rows went: the adopted files, or the moved files' new keys."""
    snapshot_id: int | None = None
    """The snapshot that committed an adopted batch."""
    problem: str | None = None
    """Why the batch was left as it is (file, column and reason)."""
    done: bool = False
    """The lake was changed (never in a dry run)."""


@dataclass(frozen=True)
class AdoptReport:
    """Every old batch folder found, in order, and what became of it."""

    batches: tuple[BatchAdoption, ...]
    dry_run: bool
    skipped: tuple[str, ...] = ()
    """Names whose files were left alone, and why (a table outside this lake)."""

    @property
    def failed(self) -> tuple[BatchAdoption, ...]:
        return tuple(b for b in self.batches if b.problem is not None)


class _Unfit(Exception):
    """A file that cannot be conformed to its dataset's schema."""


def adopt_old_batches(
    lake: Storage, catalog: Catalog, registry: Registry, *, dry_run: bool = False
) -> AdoptReport:
    """Find the old batch folders under ``tables/`` and adopt, delete or move them (see
    the module's docstring); with ``dry_run``, only say what would be done."""
    batches: list[BatchAdoption] = []
    skipped: list[str] = []
    for name in lake.list_dirs(TABLES):
        folder = f"{TABLES}/{name}"
        table = find_table(catalog, name)
        if table is not None and table.location().rstrip("/") != lake.uri(folder):
            skipped.append(
                f"{name}: its table lives at {table.location()}, outside this lake "
                f"({lake.uri(folder)}): its files are left alone"
            )
            continue
        old = _old_files(lake, folder, table)
        if not old:
            continue
        spec = registry.get(name)
        held = set(batch_rows(table)) if table is not None and spec is not None else set()
        for batch_id, files in sorted(old.items()):
            if spec is None:
                batches.append(_move(lake, name, batch_id, files, dry_run))
            elif batch_id in held:
                batches.append(_supersede(lake, name, batch_id, files, dry_run))
            else:
                batches.append(_adopt(lake, catalog, spec, batch_id, files, dry_run))
    return AdoptReport(tuple(batches), dry_run, tuple(skipped))


_Old = list[tuple[StoredFile, TableFile]]
"""An old batch folder's files: as listed, and as their keys read."""


def _old_files(lake: Storage, folder: str, table: Table | None) -> dict[str, _Old]:
    """The folder's data files no table references and written before it (every one
    when there is no table yet), by batch."""
    files = TableFiles.of(table) if table is not None else None
    found: dict[str, _Old] = {}
    for item in lake.list_files(folder):
        parsed = parse_table_key(item.key)
        if parsed is None or item.problem:
            continue
        if files is not None and (files.references(lake, item.key) or not files.predates(item)):
            continue  # the table's own, or of its era: the orphan sweep's business
        found.setdefault(parsed.batch_id, []).append((item, parsed))
    return found


def _keys(files: _Old) -> tuple[str, ...]:
    return tuple(item.key for item, _ in files)


def _supersede(
    lake: Storage, name: str, batch_id: str, files: _Old, dry_run: bool
) -> BatchAdoption:
    """The table holds the batch from a later run: the old files are earlier versions."""
    if not dry_run:
        for key in _keys(files):
            lake.delete(key)
    return BatchAdoption(name, batch_id, "superseded", _keys(files), done=not dry_run)


def _move(lake: Storage, name: str, batch_id: str, files: _Old, dry_run: bool) -> BatchAdoption:
    """An unregistered name's files, to where today's conversion puts them (copy, then
    delete: a crash in between leaves a copy that the next run writes again)."""
    moves = [
        (item.key, table_key(name, batch_id, parsed.file, registered=False))
        for item, parsed in files
    ]
    if not dry_run:
        for old, new in moves:
            with lake.local_path(old) as path:
                lake.put_file(path, new)
            lake.delete(old)
    written = tuple(new for _, new in moves)
    return BatchAdoption(name, batch_id, "move", _keys(files), written=written, done=not dry_run)


@dataclass(frozen=True)
class _Conformed:
    source: str
    target: str
    local: Path
    rows: int


def _adopt(
    lake: Storage,
    catalog: Catalog,
    spec: DatasetSpec,
    batch_id: str,
    files: _Old,
    dry_run: bool,
) -> BatchAdoption:
    """Conform, write and commit one old batch of a registered dataset; the originals
    go once the commit landed."""
    targets = {}
    for item, parsed in files:
        with lake.local_path(item.key) as path:
            version = kernels.digest(path)[:VERSION_CHARS]
        targets[item.key] = table_key(spec.name, batch_id, parsed.file, version)
    # a run that died before its commit left its own outputs beside their originals:
    # they are written again, not adopted as old files themselves
    theirs = set(targets.values())
    files = [(item, parsed) for item, parsed in files if item.key not in theirs]
    plan = BatchAdoption(
        spec.name,
        batch_id,
        "adopt",
        _keys(files),
        written=tuple(targets[item.key] for item, _ in files),
    )
    with scratch_dir("adopt") as scratch:
        done: list[_Conformed] = []
        for n, (item, _) in enumerate(files):
            try:
                with lake.local_path(item.key) as path:
                    data = _conform(pq.read_table(path), spec, batch_id)
            except _Unfit as exc:
                return replace(plan, written=(), problem=f"{lake.uri(item.key)}: {exc}")
            except pa.ArrowInvalid as exc:
                problem = f"{lake.uri(item.key)}: not readable Parquet: {exc}"
                return replace(plan, written=(), problem=problem)
            local = scratch / f"{n}.parquet"
            pq.write_table(data, local, compression="zstd")
            done.append(_Conformed(item.key, targets[item.key], local, data.num_rows))
        plan = replace(plan, rows=sum(c.rows for c in done))
        if dry_run:
            return plan
        for c in done:
            lake.put_file(c.local, c.target)
    try:
        commit = commit_batch(
            catalog,
            spec.name,
            batch_id,
            [lake.uri(c.target) for c in done],
            location=lake.uri(f"{TABLES}/{spec.name}"),
            on_schema_change=spec.on_schema_change,
        )
    except LakeTableError as exc:
        for c in done:
            lake.delete(c.target)  # committed nowhere
        return replace(plan, written=(), problem=str(exc))
    for c in done:
        lake.delete(c.source)
    return replace(plan, snapshot_id=commit.snapshot_id, done=True)


def _conform(data: pa.Table, spec: DatasetSpec, batch_id: str) -> pa.Table:
    """The rows of an old file as today's conversion writes a file of ``spec``: the
    declared columns typed (strict: exactly them, in order; else by name, other columns
    kept), then ``batch_id``, a string that is never null."""
    names = data.column_names
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise _Unfit(f"column {twice!r}: appears twice")
    if BATCH_COLUMN in names:
        column = data.column(BATCH_COLUMN)
        others = pc.unique(column.cast(pa.string())).to_pylist()
        if others != [batch_id] and data.num_rows:
            raise _Unfit(f"column {BATCH_COLUMN!r}: holds {others[:3]}, not only {batch_id!r}")
        data = data.drop_columns([BATCH_COLUMN])
        names = data.column_names
    declared = spec.arrow_schema()
    if declared is not None and spec.strict and names != declared.names:
        raise _Unfit(
            f"columns {names} differ from the registry's {declared.names} (the dataset's "
            "columns changed since the file was written; strict datasets take exactly "
            "their declared columns, in order)"
        )
    if declared is not None:
        lacking = [f.name for f in declared if f.name not in names and not f.nullable]
        if lacking:
            raise _Unfit(f"column {lacking[0]!r}: missing, and the registry declares it not null")
    fields: list[pa.Field] = []
    columns: list[pa.ChunkedArray] = []
    for name in names:
        column = data.column(name)
        index = declared.get_field_index(name) if declared is not None else -1
        if declared is not None and index >= 0:
            wanted = declared.field(index)
            column = _cast(name, column, wanted)
            fields.append(wanted)
        else:
            fields.append(data.schema.field(name))
        columns.append(column)
    fields.append(pa.field(BATCH_COLUMN, pa.string(), nullable=False))
    columns.append(pa.chunked_array([pa.array([batch_id] * data.num_rows, pa.string())]))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _kind(arrow_type: pa.DataType) -> str | None:
    """The family of types within which an old column may be converted."""
    if pat.is_null(arrow_type):
        return "null"
    if pat.is_integer(arrow_type):
        return "integer"
    if pat.is_floating(arrow_type):
        return "float"
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type):
        return "string"
    if pat.is_date(arrow_type):
        return "date"
    if pat.is_timestamp(arrow_type):
        return f"timestamp {arrow_type.tz}"
    if pat.is_boolean(arrow_type):
        return "bool"
    return None


_WIDENINGS = {("null", kind) for kind in ("integer", "float", "string", "date", "bool")} | {
    ("integer", "float")
}


def _cast(name: str, column: pa.ChunkedArray, wanted: pa.Field) -> pa.ChunkedArray:
    """``column`` as the registry types it, when the values keep their meaning (an
    integer widened, a timestamp's unit, a string's offsets); a type change is refused,
    as a table refuses it."""
    have = column.type
    if not wanted.nullable and column.null_count:
        raise _Unfit(
            f"column {name!r}: {column.null_count} null values, and the registry "
            "declares it not null"
        )
    if have == wanted.type:
        return column
    kinds = (_kind(have), _kind(wanted.type))
    if kinds[0] is None or (kinds[0] != kinds[1] and kinds not in _WIDENINGS):
        raise _Unfit(
            f"column {name!r}: {have} in the file but {wanted.type} in the registry; a "
            "type change is never converted"
        )
    try:
        return column.cast(wanted.type, safe=True)
    except pa.ArrowInvalid as exc:
        raise _Unfit(f"column {name!r}: {have} values do not fit {wanted.type}: {exc}") from None
