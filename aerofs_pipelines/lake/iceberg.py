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
import itertools
import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
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
from pyiceberg.expressions.visitors import inclusive_projection, manifest_evaluator
from pyiceberg.io import FileIO
from pyiceberg.manifest import ManifestContent, ManifestFile
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import (
    ExpireSnapshots,
)
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DoubleType, FloatType, IcebergType, IntegerType, LongType, StringType

from aerofs_pipelines import config
from aerofs_pipelines.lake.layout import BATCH_COLUMN
from aerofs_pipelines.lake.pyiceberg_compat import (
    CountMergingAppend,
    LakeCatalog,
    MemoTransaction,
    data_file_from_footer,
    file_io,
    iceberg_schema,
)
from aerofs_pipelines.lake.storage import local_path
from aerofs_pipelines.sqlite_wal import enable_wal

__all__ = [
    "BATCH_COLUMN",
    "BATCH_PROPERTY",
    "COMMIT_ATTEMPTS",
    "CREATED_AT_PROPERTY",
    "NAMESPACE",
    "BatchCommit",
    "DataFile",
    "LakeTableError",
    "OnSchemaChange",
    "SchemaConflict",
    "SchemaFrozen",
    "all_tables",
    "batch_files",
    "batch_rows",
    "batch_table",
    "commit_batch",
    "data_files",
    "describe",
    "expire_snapshots",
    "find_table",
    "in_batch_filter",
    "open_catalog",
    "table_created_at_ms",
    "table_identifier",
]

NAMESPACE = "aerofs"
"""Every dataset's table is ``aerofs.<dataset>``."""
BATCH_PROPERTY = "aerofs.batch"
"""Snapshot summary property naming the batch a commit wrote."""
CREATED_AT_PROPERTY = "aerofs.created-at-ms"
"""Table property: when the table was created (ms since the epoch). The lake's files
older than that were written before the table existed (``lake.orphans``, ``lake.adopt``)."""
CATALOG_NAME = "aerofs"
PG_SCHEMA = "aerofs_lake"
"""PostgreSQL schema of the catalog's two tables, apart from Dagster's."""
COMMIT_ATTEMPTS = 20
"""Attempts of one batch's commit before giving up (each loser of a race retries)."""
BACKOFF_SECONDS = (0.05, 2.0)
"""First and longest wait between attempts (doubling, full jitter)."""
MERGE_FANOUT = 10
"""Manifests an append merges into one, level by level
(:class:`~aerofs_pipelines.lake.pyiceberg_compat.CountMergingAppend`)."""
MERGE_MAX_FILES = 2000
"""No merge makes a manifest of more data files (so merges stop at the third level, of
about 1,000 files): planning one batch reads one such manifest when batch ids grow in
order (docs/capacity.md)."""
TABLE_PROPERTIES = {
    # our loop retries (and counts) lost races; pyiceberg's own retry would replay a
    # stale transaction
    TableProperties.COMMIT_NUM_RETRIES: "0",
    # every commit writes a new metadata file: the catalog keeps the newest ones only
    TableProperties.METADATA_DELETE_AFTER_COMMIT_ENABLED: "true",
    TableProperties.METADATA_PREVIOUS_VERSIONS_MAX: "100",
}
"""Set on every table: at its creation, and by the next commit on tables made before."""

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
            "the dataset's schema is frozen (on_schema_change: freeze); set "
            "on_schema_change: evolve in the registry to let the table take them"
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


def _use_wal(path: str) -> None:
    """Put a SQLite catalog in WAL mode (it stays so: once per file).

    A commit then syncs its log once, where the rollback journal synced several times:
    16 ms of every batch's commit became 4 ms on the development machine, the largest
    fixed cost of a commit (docs/capacity.md); readers no longer wait for writers either.
    Dagster's own SQLite storages do the same.
    """
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        enable_wal(conn.execute)


@functools.cache
def _open(uri: str, props: tuple[tuple[str, str], ...]) -> SqlCatalog:
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///").split("?")[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _use_wal(path)
        if "?" not in uri:
            uri += "?timeout=30"  # writers queue on SQLite's lock instead of failing
    for attempt in range(OPEN_ATTEMPTS):
        try:
            url = _ensure_pg_schema(uri) if uri.startswith("postgresql") else uri
            return LakeCatalog(CATALOG_NAME, **{**dict(props), "uri": url})
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


def find_table(catalog: Catalog, dataset: str) -> Table | None:
    """The dataset's table, or None before its first commit."""
    try:
        return _load(catalog, ".".join(table_identifier(dataset)))
    except NoSuchTableError:
        return None


def table_created_at_ms(table: Table) -> int:
    """When the table was created (ms since the epoch): its :data:`CREATED_AT_PROPERTY`;
    for a table made before that property, the earliest time its metadata still knows
    (logged metadata files, snapshots, last update), which is later than the creation
    when those were trimmed: whatever counts as older than the table stays so."""
    recorded = table.properties.get(CREATED_AT_PROPERTY, "")
    if recorded.isdigit():
        return int(recorded)
    metadata = table.metadata
    return min(
        [
            metadata.last_updated_ms,
            *(entry.timestamp_ms for entry in metadata.metadata_log),
            *(snapshot.timestamp_ms for snapshot in metadata.snapshots),
        ]
    )


def _create(catalog: Catalog, dataset: str, location: str, schema: pa.Schema) -> Table:
    ident = table_identifier(dataset)
    # writers creating the first table together race: the loser's insert violates the
    # catalog's key (pyiceberg checks, then inserts), which means "it exists now"
    with contextlib.suppress(NamespaceAlreadyExistsError, sa.exc.IntegrityError):
        catalog.create_namespace(NAMESPACE)
    ice = iceberg_schema(schema)
    spec = PartitionSpec(
        PartitionField(
            source_id=ice.find_field(BATCH_COLUMN).field_id,
            field_id=1000,
            transform=IdentityTransform(),
            name=BATCH_COLUMN,
        )
    )
    # the kernel's Parquet has no field ids: readers resolve columns by name, so the name
    # mapping is part of the table from its first commit (a writer killed between two
    # commits would leave a table no reader can scan); schema updates keep it in step.
    # The creation time goes in the same commit: the orphan sweep must never find a table
    # without it that was made after it existed.
    created = {CREATED_AT_PROPERTY: str(int(time.time() * 1000))}
    try:
        with catalog.create_table_transaction(
            ident,
            schema=ice,
            partition_spec=spec,
            location=location,
            properties={**TABLE_PROPERTIES, **created},
        ) as tx:
            mapping = tx.table_metadata.schema().name_mapping.model_dump_json()
            tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
    except (TableAlreadyExistsError, sa.exc.IntegrityError):
        pass
    return catalog.load_table(ident)


@dataclass(frozen=True)
class _Footer:
    """What a commit needs of one Parquet file, from one read of its footer."""

    path: str
    size: int
    schema: pa.Schema
    metadata: pq.FileMetaData


def _read_footers(io: FileIO, paths: Sequence[str]) -> list[_Footer]:
    """Each file's footer; a local file read by pyarrow itself (pyiceberg's input file and
    its look at the file first: 0.15 ms of a commit right after a conversion)."""
    footers = []
    for path in paths:
        local = local_path(path)
        if local is not None:
            with open(local, "rb") as stream:
                parquet = pq.ParquetFile(stream)
                size = os.fstat(stream.fileno()).st_size
        else:
            source = io.new_input(path)
            with source.open() as stream:
                parquet = pq.ParquetFile(stream)
                size = stream.size() if hasattr(stream, "size") else len(source)
        footers.append(_Footer(path, int(size), parquet.schema_arrow, parquet.metadata))
    return footers


def _union_schema(footers: Sequence[_Footer]) -> pa.Schema:
    """The union of the files' Arrow schemas (first file's order, new names appended)."""
    fields: dict[str, pa.Field] = {}
    for footer in footers:
        for field in footer.schema:
            fields.setdefault(field.name, field)
    return pa.schema(list(fields.values()))


def _new_columns(name: str, table_schema: Schema, file_schema: pa.Schema) -> list[str]:
    """Columns of the files the table lacks; raise on a column whose type changed."""
    new: list[str] = []
    incoming = iceberg_schema(file_schema)
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


def _merge_count(manifests: Sequence[ManifestFile]) -> int:
    """How many of the newest ``manifests`` (newest first) to merge into one; 0: none."""
    count, files, level = 0, 0, MERGE_FANOUT

    def small(m: ManifestFile) -> bool:
        return (
            m.content == ManifestContent.DATA
            and m.partition_spec_id == manifests[0].partition_spec_id
            and _files(m) < level
        )

    while True:
        run = list(itertools.takewhile(small, manifests[count:]))
        more = sum(_files(m) for m in run)
        if len(run) + (count > 0) < MERGE_FANOUT or files + more > MERGE_MAX_FILES:
            return count
        count, files, level = count + len(run), files + more, level * MERGE_FANOUT


def _files(manifest: ManifestFile) -> int:
    """Live data files a manifest lists (unknown counts: as many as a merge may take)."""
    added, existing = manifest.added_files_count, manifest.existing_files_count
    if added is None or existing is None:
        return MERGE_MAX_FILES
    return added + existing


MANIFESTS_KEPT = 4096
"""Manifests whose batches a process remembers (:func:`_may_hold`)."""
_MANIFEST_BATCHES: dict[str, frozenset[str]] = {}


def _may_hold(table: Table, batch_id: str) -> bool:
    """Whether the table's current snapshot may hold files of ``batch_id``; if not, its
    commit is an append, with no scan to plan.

    Planning reads every manifest whose partition bounds take in the batch id, and a
    merged manifest takes in every id between its lowest and highest batch: with ids that
    do not grow in order (a ``sample-1`` among dates), each commit read most of the
    table's entries again. A manifest file never changes, so the batches each one lists
    are read once per process and kept.
    """
    snapshot = table.current_snapshot()
    if snapshot is None:
        return False
    schema, specs = table.schema(), table.specs()
    evaluators: dict[int, Callable[[ManifestFile], bool]] = {}
    for manifest in snapshot.manifests(table.io):
        spec = specs[manifest.partition_spec_id]
        names = [field.name for field in spec.fields]
        if manifest.content != ManifestContent.DATA or BATCH_COLUMN not in names:
            return True  # not a manifest of ours (delete files, another spec): plan
        position = names.index(BATCH_COLUMN)
        if manifest.partition_spec_id not in evaluators:
            evaluators[manifest.partition_spec_id] = _bounds_evaluator(
                schema, spec, position, batch_id
            )
        if not evaluators[manifest.partition_spec_id](manifest):
            continue  # its bounds leave the batch out
        if batch_id in _batches_listed(table.io, manifest, position):
            return True
    return False


def _bounds_evaluator(
    schema: Schema, spec: PartitionSpec, position: int, batch_id: str
) -> Callable[[ManifestFile], bool]:
    """Whether a manifest's partition bounds take in ``batch_id``: pyiceberg's manifest
    evaluator of ``batch_id == X``; for our own spec (the batch column, identity, a
    string) the same comparison of its bounds, without building a visitor for each
    commit (0.3 ms of a commit right after a conversion)."""
    field = spec.fields[position]
    source = schema.find_field(field.source_id)
    if not (isinstance(field.transform, IdentityTransform) and source.field_type == StringType()):
        projected = inclusive_projection(schema, spec)(in_batch_filter(batch_id))
        return manifest_evaluator(spec, schema, projected)

    def takes(manifest: ManifestFile) -> bool:
        if not manifest.partitions:
            return True  # no bounds recorded
        bounds = manifest.partitions[position]
        if bounds.lower_bound is None or bounds.upper_bound is None:
            return False  # only nulls: never a batch id
        try:
            return bounds.lower_bound.decode() <= batch_id <= bounds.upper_bound.decode()
        except UnicodeDecodeError:
            return True  # another writer's truncated bound: read the manifest

    return takes


def _batches_listed(io: FileIO, manifest: ManifestFile, position: int) -> frozenset[str]:
    """The batches of the live files ``manifest`` lists (read once, then remembered)."""
    known = _MANIFEST_BATCHES.get(manifest.manifest_path)
    if known is None:
        entries = manifest.fetch_manifest_entry(io, discard_deleted=True)
        known = frozenset(str(entry.data_file.partition[position]) for entry in entries)
        while len(_MANIFEST_BATCHES) >= MANIFESTS_KEPT:
            _MANIFEST_BATCHES.pop(next(iter(_MANIFEST_BATCHES)))  # the oldest read
        _MANIFEST_BATCHES[manifest.manifest_path] = known
    return known


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
    footers = _read_footers(file_io(catalog.properties, location), files)
    schema = _union_schema(footers) if footers else None
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
            return _commit_once(table, name, batch_id, footers, schema, on_schema_change, retries)
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
    footers: Sequence[_Footer],
    schema: pa.Schema | None,
    on_schema_change: OnSchemaChange,
    retries: int,
) -> BatchCommit:
    files = [footer.path for footer in footers]
    in_batch = in_batch_filter(batch_id)
    old = (
        [task.file for task in table.scan(row_filter=in_batch).plan_files()]
        if _may_hold(table, batch_id)
        else []
    )
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
    catalog = table.catalog
    # the metadata file is begun while the commit writes its manifests (a third of a
    # commit at 1,000 snapshots, docs/capacity.md)
    begun = (
        catalog.prewriting(table) if isinstance(catalog, LakeCatalog) else contextlib.nullcontext()
    )
    with begun, MemoTransaction(table) as tx:
        missing = {k: v for k, v in TABLE_PROPERTIES.items() if table.properties.get(k) != v}
        if TableProperties.DEFAULT_NAME_MAPPING not in table.properties:
            # a table whose creator died before naming its columns (before the creation
            # became one commit): without it, no reader can scan the kernel's files
            mapping = table.schema().name_mapping.model_dump_json()
            missing[TableProperties.DEFAULT_NAME_MAPPING] = mapping
        if missing:
            tx.set_properties(missing)  # a table made before these properties were
        if added and schema is not None:
            with tx.update_schema() as update:
                update.union_by_name(schema)
        metadata = tx.table_metadata
        new = [data_file_from_footer(metadata, f.path, f.size, f.metadata) for f in footers]
        properties = {BATCH_PROPERTY: batch_id}
        if not old:
            # a batch's first commit: an append writes one manifest and reads none of the
            # table's (an overwrite reads those that may hold the batch)
            with CountMergingAppend(_merge_count, tx, table.io, properties) as append:
                for data_file in new:
                    append.append_data_file(data_file)
        else:
            with tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
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
            # table.maintenance.expire_snapshots() without pyiceberg's transaction, which
            # deep-copied the metadata twice per expired snapshot (MemoTransaction): 113 s
            # to expire 1,000 snapshots
            ExpireSnapshots(MemoTransaction(table, autocommit=True)).by_ids(doomed).commit()
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


def batch_files(table: Table, batch_id: str) -> list[str]:
    """The data files of one batch in the table's current snapshot (a file listed twice
    would be listed twice: the ``lake/<dataset>`` check looks for that)."""
    scan = table.scan(row_filter=in_batch_filter(batch_id))
    return [task.file.file_path for task in scan.plan_files()]


def batch_table(table: Table, batch_id: str) -> pa.Table:
    """One batch's rows as the table holds them now (its partition alone is read)."""
    return table.scan(row_filter=in_batch_filter(batch_id)).to_arrow()


@dataclass(frozen=True)
class DataFile:
    """A data file of a table's current snapshot, as its manifest records it."""

    batch_id: str
    path: str
    bytes: int
    rows: int


def data_files(table: Table) -> list[DataFile]:
    """Every data file of the table's current snapshot (from metadata, no data read)."""
    return [
        DataFile(
            str(t.file.partition[0]),
            t.file.file_path,
            t.file.file_size_in_bytes,
            t.file.record_count,
        )
        for t in table.scan().plan_files()
    ]


def all_tables(catalog: Catalog) -> list[Table]:
    """The lake's tables (``aerofs.*``), by name; none before the first commit."""
    if NAMESPACE not in {ns[0] for ns in catalog.list_namespaces()}:
        return []
    return [catalog.load_table(ident) for ident in sorted(catalog.list_tables(NAMESPACE))]
