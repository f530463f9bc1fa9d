"""The lake's tables: one Apache Iceberg table per dataset, one atomic commit per batch.

The catalog is pyiceberg's SQL catalog in the instance's own database (a SQLite file under
``DAGSTER_HOME``, or the PostgreSQL database in its own schema), so the tables need no
service of their own; each table's metadata lives beside its data in the lake
(``<lake>/tables/<dataset>/metadata/``). A batch's commit registers the Parquet files the
Rust kernel wrote, never rewriting them: every row carries its ``batch_id`` column, which
is also the table's identity partition, and the commit replaces whatever that batch had in
the table, in one snapshot whose summary names the batch. A re-run of a batch therefore
leaves the table as if it had run once.

Concurrent commits (parallel runs, several workers) are optimistic: the loser of a race
reloads the table and tries again with backoff (:data:`COMMIT_ATTEMPTS`), and reports how
many retries it took. No Dagster here.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.expressions import BooleanExpression, EqualTo
from pyiceberg.io import FileIO, load_file_io
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DoubleType, FloatType, IcebergType, IntegerType, LongType

from aerofs_pipelines import config
from aerofs_pipelines.lake.layout import BATCH_COLUMN

__all__ = [
    "BATCH_COLUMN",
    "BATCH_PROPERTY",
    "COMMIT_ATTEMPTS",
    "NAMESPACE",
    "BatchCommit",
    "LakeTableError",
    "OnSchemaChange",
    "SchemaConflict",
    "SchemaFrozen",
    "batch_rows",
    "commit_batch",
    "describe",
    "expire_snapshots",
    "in_batch_filter",
    "open_catalog",
    "table_identifier",
]

NAMESPACE = "aerofs"
"""Every dataset's table is ``aerofs.<dataset>``."""
BATCH_PROPERTY = "aerofs.batch"
"""Snapshot summary property naming the batch a commit wrote."""
CATALOG_NAME = "aerofs"
PG_SCHEMA = "aerofs_lake"
"""PostgreSQL schema of the catalog's two tables, apart from Dagster's."""
COMMIT_ATTEMPTS = 20
"""Attempts of one batch's commit before giving up (each loser of a race retries)."""
BACKOFF_SECONDS = (0.05, 2.0)
"""First and longest wait between attempts (doubling, full jitter)."""

OnSchemaChange = Literal["evolve", "freeze"]

_PROMOTIONS: frozenset[tuple[type[IcebergType], type[IcebergType]]] = frozenset(
    {(LongType, IntegerType), (DoubleType, FloatType)}
)
"""(table type, file type) pairs Iceberg reads without a schema change."""


class LakeTableError(Exception):
    """A batch cannot be committed to its dataset's table; the message says why."""


class SchemaConflict(LakeTableError):
    """A column's type in the batch differs from the table's: never committed."""

    def __init__(self, table: str, column: str, table_type: str, file_type: str) -> None:
        self.column, self.table_type, self.file_type = column, table_type, file_type
        super().__init__(
            f"{table}: column {column!r} is {table_type} in the table but {file_type} in "
            "this batch; a type change is never committed (rename the column, or convert "
            "it to the table's type)"
        )


class SchemaFrozen(LakeTableError):
    """The batch brings columns the table lacks, and its dataset's schema is frozen."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        super().__init__(
            f"{table}: this batch brings new columns {', '.join(map(repr, columns))} and "
            "the dataset's schema is frozen (on_schema_change: freeze); add them to the "
            "registry or set on_schema_change: evolve"
        )


@dataclass(frozen=True)
class BatchCommit:
    """What one batch's commit did to its dataset's table."""

    table: str
    batch_id: str
    snapshot_id: int | None
    """The new snapshot; None when there was nothing to commit (no file, none before)."""
    files: int
    rows: int
    """Rows of this batch in the table now."""
    replaced_files: int
    """Files of an earlier commit of the same batch that this one replaced."""
    added_columns: tuple[str, ...]
    retries: int
    """Attempts lost to concurrent commits before this one landed."""
    unchanged: bool = False
    """The table already held exactly these files for the batch: nothing committed."""
    table_rows: int = 0
    """Rows of every batch in the table after this commit."""
    columns: tuple[tuple[str, str], ...] = ()
    """The table's columns (name, Iceberg type) after this commit."""


def table_identifier(dataset: str) -> tuple[str, str]:
    return (NAMESPACE, dataset)


def in_batch_filter(batch_id: str) -> BooleanExpression:
    """The row filter of one batch's rows (pruned to its partition when planning)."""
    # pydantic's signature hides EqualTo's positional (term, literal) constructor from mypy
    return EqualTo(BATCH_COLUMN, batch_id)  # type: ignore[call-arg,arg-type]


def _catalog_properties() -> dict[str, str]:
    props = {"uri": config.lake_catalog_url(), "warehouse": config.lake_url()}
    endpoint, region = config.s3_endpoint_url(), config.aws_region()
    if endpoint:
        props["s3.endpoint"] = endpoint
    if region:
        props["s3.region"] = region
    return props


def _ensure_pg_schema(url: str) -> str:
    """Create the catalog's PostgreSQL schema if needed; the URL that selects it."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
    finally:
        engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{PG_SCHEMA}"


OPEN_ATTEMPTS = 6
"""Processes starting together race to create the catalog's tables: retry the loser."""


@functools.cache
def _open(uri: str, props: tuple[tuple[str, str], ...]) -> SqlCatalog:
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///").split("?")[0]).parent.mkdir(parents=True, exist_ok=True)
        if "?" not in uri:
            uri += "?timeout=30"  # writers queue on SQLite's lock instead of failing
    for attempt in range(OPEN_ATTEMPTS):
        try:
            url = _ensure_pg_schema(uri) if uri.startswith("postgresql") else uri
            return SqlCatalog(CATALOG_NAME, **{**dict(props), "uri": url})
        except sa.exc.DBAPIError:
            if attempt == OPEN_ATTEMPTS - 1:
                raise
            _wait(attempt + 1)
    raise AssertionError("unreachable")


def open_catalog() -> Catalog:
    """The configured catalog of the lake's tables (one per process and setting).

    ``AEROFS_LAKE_CATALOG_URL`` if set; else the instance's PostgreSQL database when
    configured; else ``$DAGSTER_HOME/lake/catalog.db``. Usable from any pyiceberg code:
    ``open_catalog().load_table("aerofs.orders").scan().to_arrow()``.
    """
    props = _catalog_properties()
    uri = props.pop("uri")
    return _open(uri, tuple(sorted(props.items())))


def _load(catalog: Catalog, name: str) -> Table:
    """The table; a clear error when the catalog names metadata the lake no longer has."""
    try:
        return catalog.load_table(name)
    except FileNotFoundError as exc:
        raise LakeTableError(
            f"{name}: the catalog points at table metadata the lake no longer has "
            f"({exc.filename or exc}); was the lake folder deleted? To start the table "
            f'afresh: python -c "from aerofs_pipelines.lake import open_catalog; '
            f"open_catalog().drop_table('{name}')\""
        ) from None


def _iceberg_schema(schema: pa.Schema) -> Schema:
    """``schema`` in Iceberg's types (fresh field ids): what the table would hold."""
    return Catalog._convert_schema_if_needed(schema)


def _create(catalog: Catalog, dataset: str, location: str, schema: pa.Schema) -> Table:
    ident = table_identifier(dataset)
    # writers creating the first table together race: the loser's insert violates the
    # catalog's key (pyiceberg checks, then inserts), which means "it exists now"
    with contextlib.suppress(NamespaceAlreadyExistsError, sa.exc.IntegrityError):
        catalog.create_namespace(NAMESPACE)
    ice = _iceberg_schema(schema)
    spec = PartitionSpec(
        PartitionField(
            source_id=ice.find_field(BATCH_COLUMN).field_id,
            field_id=1000,
            transform=IdentityTransform(),
            name=BATCH_COLUMN,
        )
    )
    properties = {
        # our loop retries (and counts) lost races; pyiceberg's own retry would replay a
        # stale transaction
        "commit.retry.num-retries": "0",
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "100",
    }
    try:
        table = catalog.create_table(
            ident, schema=ice, partition_spec=spec, location=location, properties=properties
        )
    except (TableAlreadyExistsError, sa.exc.IntegrityError):
        return catalog.load_table(ident)
    # the Kernel's Parquet has no field ids: readers resolve columns by name. Set once;
    # schema updates keep it in step.
    mapping = table.schema().name_mapping.model_dump_json()
    with table.transaction() as tx:
        tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
    return table


def _read_schema(io: FileIO, paths: Sequence[str]) -> pa.Schema:
    """The union of the files' Arrow schemas (first file's order, new names appended)."""
    fields: dict[str, pa.Field] = {}
    for path in paths:
        with io.new_input(path).open() as stream:
            for field in pq.read_schema(stream):
                fields.setdefault(field.name, field)
    return pa.schema(list(fields.values()))


def _new_columns(name: str, table_schema: Schema, file_schema: pa.Schema) -> list[str]:
    """Columns of the files the table lacks; raise on a column whose type changed."""
    new: list[str] = []
    incoming = _iceberg_schema(file_schema)
    for field in incoming.fields:
        try:
            have = table_schema.find_field(field.name)
        except ValueError:
            new.append(field.name)
            continue
        same = have.field_type == field.field_type
        promoted = (type(have.field_type), type(field.field_type)) in _PROMOTIONS
        if not (same or promoted):
            raise SchemaConflict(name, field.name, str(have.field_type), str(field.field_type))
    return new


def _wait(attempt: int) -> None:
    first, longest = BACKOFF_SECONDS
    time.sleep(random.uniform(0, min(longest, first * 2**attempt)))


def commit_batch(
    catalog: Catalog,
    dataset: str,
    batch_id: str,
    files: Sequence[str],
    *,
    location: str,
    on_schema_change: OnSchemaChange = "evolve",
) -> BatchCommit:
    """Make ``files`` (Parquet with a ``batch_id`` column) the rows of ``batch_id`` in the
    dataset's table, replacing any earlier commit of that batch, in one snapshot.

    The table is created at ``location`` on its first batch. New nullable columns are
    added (``evolve``) or refused (``freeze``: :class:`SchemaFrozen`); a changed type is
    refused (:class:`SchemaConflict`). Either way nothing is committed then.
    """
    name = ".".join(table_identifier(dataset))
    schema = _read_schema(load_file_io(catalog.properties, location), files) if files else None
    if schema is not None and BATCH_COLUMN not in schema.names:
        raise LakeTableError(f"{name}: the batch's files have no {BATCH_COLUMN!r} column")
    retries = 0
    while True:
        try:
            try:
                table = _load(catalog, name)
            except NoSuchTableError:
                if schema is None:
                    return BatchCommit(name, batch_id, None, 0, 0, 0, (), retries)
                table = _create(catalog, dataset, location, schema)
            return _commit_once(table, name, batch_id, files, schema, on_schema_change, retries)
        except (CommitFailedException, ValidationException) as exc:
            retries += 1
            if retries >= COMMIT_ATTEMPTS:
                raise LakeTableError(
                    f"{name}: batch {batch_id!r} not committed after {retries} attempts "
                    f"lost to concurrent commits: {exc}"
                ) from exc
            _wait(retries)


def _commit_once(
    table: Table,
    name: str,
    batch_id: str,
    files: Sequence[str],
    schema: pa.Schema | None,
    on_schema_change: OnSchemaChange,
    retries: int,
) -> BatchCommit:
    in_batch = in_batch_filter(batch_id)
    old = [task.file for task in table.scan(row_filter=in_batch).plan_files()]
    if not files and not old:
        return BatchCommit(name, batch_id, None, 0, 0, 0, (), retries)
    added = _new_columns(name, table.schema(), schema) if schema is not None else []
    if added and on_schema_change == "freeze":
        raise SchemaFrozen(name, added)
    if not added and sorted(f.file_path for f in old) == sorted(files):
        # a re-run of the same inputs: table keys are content-addressed (lake.layout), so
        # the same paths hold the same rows; a new snapshot would change nothing
        return BatchCommit(
            name,
            batch_id,
            _last_commit_of(table, batch_id),
            len(old),
            sum(f.record_count for f in old),
            0,
            (),
            retries,
            unchanged=True,
            **_table_state(table),
        )
    with table.transaction() as tx:
        if added and schema is not None:
            with tx.update_schema() as update:
                update.union_by_name(schema)
        new = [parquet_file_to_data_file(table.io, tx.table_metadata, path) for path in files]
        snapshot = tx.update_snapshot(snapshot_properties={BATCH_PROPERTY: batch_id})
        if not old:
            # a batch's first commit: a fast append writes one manifest and reads none of
            # the table's (an overwrite reads them all); docs/capacity.md has the costs
            with snapshot.fast_append() as append:
                for data_file in new:
                    append.append_data_file(data_file)
        else:
            with snapshot.overwrite() as overwrite:
                # scopes conflict detection to this batch: other batches commit in parallel
                overwrite.delete_by_predicate(in_batch)
                for data_file in old:
                    overwrite.delete_data_file(data_file)
                for data_file in new:
                    overwrite.append_data_file(data_file)
    current = table.current_snapshot()
    return BatchCommit(
        table=name,
        batch_id=batch_id,
        snapshot_id=current.snapshot_id if current else None,
        files=len(new),
        rows=sum(f.record_count for f in new),
        replaced_files=len(old),
        added_columns=tuple(added),
        retries=retries,
        **_table_state(table),
    )


def _table_state(table: Table) -> dict[str, Any]:
    """What a :class:`BatchCommit` reports of the table as the commit left it."""
    current = table.current_snapshot()
    summary = current.summary if current is not None else None
    total = summary.additional_properties.get("total-records", 0) if summary else 0
    return {
        "table_rows": int(total),
        "columns": tuple((f.name, str(f.field_type)) for f in table.schema().fields),
    }


def expire_snapshots(
    catalog: Catalog, dataset: str, *, older_than: datetime, keep_last: int
) -> int:
    """Expire the table's snapshots older than ``older_than``, always keeping the newest
    ``keep_last`` and the current one (Iceberg's own rule); how many were expired.

    Every commit rewrites the table's metadata, which lists every snapshot: expiring
    bounds what a commit costs as batches accumulate (docs/capacity.md). Time travel
    reaches back as far as the snapshots kept. The files only expired snapshots
    referenced stay in the lake.
    """
    name = ".".join(table_identifier(dataset))
    for attempt in range(COMMIT_ATTEMPTS):
        table = _load(catalog, name)
        snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
        keep = {s.snapshot_id for s in snapshots[-keep_last:]} if keep_last > 0 else set()
        current = table.current_snapshot()
        if current is not None:
            keep.add(current.snapshot_id)
        cutoff = older_than.timestamp() * 1000
        doomed = [
            s.snapshot_id
            for s in snapshots
            if s.snapshot_id not in keep and s.timestamp_ms < cutoff
        ]
        if not doomed:
            return 0
        try:
            table.maintenance.expire_snapshots().by_ids(doomed).commit()
            return len(doomed)
        except CommitFailedException:  # a batch committed meanwhile: look again
            _wait(attempt + 1)
    raise LakeTableError(f"{name}: snapshots not expired: every attempt lost to a commit")


def _batch_of(snapshot: Snapshot) -> str | None:
    """The batch a snapshot committed (its summary names it), if any."""
    summary = snapshot.summary
    return summary.additional_properties.get(BATCH_PROPERTY) if summary is not None else None


def _last_commit_of(table: Table, batch_id: str) -> int | None:
    """The newest snapshot that committed ``batch_id``."""
    for snapshot in reversed(table.snapshots()):
        if _batch_of(snapshot) == batch_id:
            return snapshot.snapshot_id
    return None


def batch_rows(table: Table, batch_id: str | None = None) -> dict[str, int]:
    """Rows per batch in the table's current snapshot (from file metadata, no data read);
    with ``batch_id``, that batch's only (planning reads its partition alone)."""
    scan = table.scan(row_filter=in_batch_filter(batch_id)) if batch_id else table.scan()
    rows: dict[str, int] = {}
    for task in scan.plan_files():
        batch = task.file.partition[0]
        rows[str(batch)] = rows.get(str(batch), 0) + task.file.record_count
    return rows


def describe(table: Table) -> dict[str, Any]:
    """A table as ``aerofs tables show`` prints it: schema, snapshots, rows per batch."""
    snapshots = [
        {
            "snapshot_id": s.snapshot_id,
            "timestamp_ms": s.timestamp_ms,
            "operation": str(s.summary.operation.value) if s.summary else None,
            "batch": _batch_of(s),
        }
        for s in table.snapshots()
    ]
    return {
        "table": ".".join(table.name()),
        "location": table.location(),
        "schema": [
            {"name": f.name, "type": str(f.field_type), "required": f.required}
            for f in table.schema().fields
        ],
        "snapshots": snapshots,
        "rows_per_batch": batch_rows(table),
    }
