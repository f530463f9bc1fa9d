"""Every use of pyiceberg's internals, one shim each (pyiceberg 0.12.0, pinned).

The lake's tables use pyiceberg's public API (catalogs, tables, transactions, scans)
everywhere else; what is here reaches into its private modules and overrides, for speed
a commit measured (docs/capacity.md), or for what it does not expose:

- :class:`LakeCatalog`: the SQL catalog keeping the metadata it read or wrote, committing
  without loading the table again, staging without deep copies, writing each snapshot's
  JSON once (and not at all for those of the file it read), a commit's metadata file
  begun while the commit makes the rest (:meth:`LakeCatalog.prewriting`), its two
  statements of a commit made once, the old metadata files removed in a thread of their
  own;
- :func:`updated_metadata`: updates applied without the deep copy of the result;
- :class:`MemoTransaction`: a transaction's metadata computed once per staged change;
- :class:`CountMergingAppend`: the fast append, merging manifests by their count of files;
- :func:`data_file_from_footer`: a data file's entry from a footer already read;
- :func:`iceberg_schema`: an Arrow schema in Iceberg's types (once per schema);
- :func:`snapshot_by_id`: the lookup pyiceberg makes a dozen times a commit, without a
  scan of every snapshot;
- :func:`manifests_of`: a snapshot's manifest list, read once per process (none it wrote),
  and each manifest's record in a list encoded once (:func:`_add_manifests`);
- :func:`fetch_manifest_entry`: a manifest's entries to merge, none this process wrote
  read back;
- :func:`create_output`: a local output file (a manifest, a list) as a Python file object;
- :func:`file_io`: pyiceberg's FileIO, one per process for each set of properties;
- :func:`_install_avro_memos`: each Avro schema, reader and writer made once per process,
  and so are a manifest's header and partition type (:func:`partition_type`);
- :class:`_SnapshotExecutorFactory`: a commit's manifests written in the committing thread.

Each has a test in ``tests/lake/test_pyiceberg_compat.py`` comparing it with pyiceberg's
own result; an upgrade of pyiceberg starts there (:data:`PYICEBERG_VERSION`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import operator
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import TypeAdapter
from pydantic_core import to_json
from pyiceberg import manifest as _manifest_module
from pyiceberg.avro import file as _avro_file
from pyiceberg.avro import resolver as _avro_resolver
from pyiceberg.avro.codecs import AVRO_CODEC_KEY, CODEC_MAPPING_ICEBERG_TO_AVRO
from pyiceberg.avro.encoder import BinaryEncoder
from pyiceberg.avro.file import _SCHEMA_KEY, AvroFileHeader, AvroOutputFile
from pyiceberg.avro.reader import Reader
from pyiceberg.avro.writer import Writer
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io import FileIO, OutputStream, load_file_io
from pyiceberg.io.pyarrow import (
    PyArrowFile,
    PyArrowLocalFileSystem,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import (
    DEFAULT_READ_VERSION,
    UNASSIGNED_SEQ,
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestListWriter,
    ManifestWriter,
)
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.serializers import NOOP_COMPRESSOR, Compressor
from pyiceberg.table import CommitTableResponse, StagedTable, Table, TableProperties, Transaction
from pyiceberg.table import snapshots as _snapshots_module
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata, TableMetadataCommonFields, TableMetadataUtil
from pyiceberg.table.snapshots import Operation, Snapshot, SnapshotLogEntry
from pyiceberg.table.update import (
    TableRequirement,
    TableUpdate,
    _apply_table_update,
    _TableMetadataUpdateContext,
    _update_table_metadata_log,
)
from pyiceberg.table.update import snapshot as _snapshot_update_module
from pyiceberg.table.update.snapshot import _FastAppendFiles, _ManifestMergeManager
from pyiceberg.typedef import EMPTY_DICT, Identifier, Properties, TableVersion
from pyiceberg.types import IcebergType, StructType
from pyiceberg.utils.concurrent import ExecutorFactory
from pyiceberg.utils.config import Config
from pyiceberg.utils.datetime import datetime_to_millis
from pyiceberg.utils.schema_conversion import AvroSchemaConversion
from sqlalchemy import bindparam, select, update

from aerofs_pipelines.kernels import BegunFile, begin_file
from aerofs_pipelines.lake.storage import (
    create_local_file,
    local_path,
    open_local_output,
    start_sync,
    sync_local_files,
)

__all__ = [
    "PYICEBERG_VERSION",
    "CountMergingAppend",
    "LakeCatalog",
    "MemoTransaction",
    "data_file_from_footer",
    "fetch_manifest_entry",
    "iceberg_schema",
    "manifests_of",
    "snapshot_by_id",
    "snapshot_files",
    "updated_metadata",
]

PYICEBERG_VERSION = "0.12.0"
"""The pyiceberg these shims were written against (a test checks the installed one)."""


MEMOS_KEPT = 256
"""Values of each kind a process keeps (:func:`_memo`): schemas and what is made of
them (Iceberg schemas, Avro schemas, readers and writers, statistics plans)."""
_MEMOS: dict[str, dict[Any, Any]] = {}


def _memo(kind: str, key: Any, make: Callable[[], Any], kept: int = MEMOS_KEPT) -> Any:
    """``make()``, made once per process for ``kind`` and ``key``; a kind that holds
    ``kept`` values starts over."""
    values = _MEMOS.setdefault(kind, {})
    found = values.get(key)
    if found is None:
        if len(values) >= kept:
            values.clear()
        found = values[key] = make()
    return found


def _memo_of(kind: str, objects: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``make()``, made once per process for these very ``objects`` (unhashable models,
    or costly to hash): the memo holds them, so their ids name them while kept."""
    return _memo(kind, tuple(map(id, objects)), lambda: (objects, make()))[1]


def iceberg_schema(schema: pa.Schema) -> Schema:
    """``schema`` in Iceberg's types (fresh field ids): what a table would hold.

    Made once per process and schema (all of it, metadata included): each conversion
    read pyiceberg's configuration file again, 0.15 ms of a commit. Do not change the
    returned schema.
    """
    make = functools.partial(Catalog._convert_schema_if_needed, schema)
    return cast(Schema, _memo("iceberg_schema", schema.serialize().to_pybytes(), make))


_SNAPSHOT_IDS: OrderedDict[int, tuple[list[Snapshot], set[int]]] = OrderedDict()
_SNAPSHOT_IDS_LOCK = threading.Lock()
ID_SETS_KEPT = 8
"""Snapshot lists a process keeps the set of ids of (:func:`snapshot_by_id`)."""


def snapshot_by_id(self: TableMetadataCommonFields, snapshot_id: int) -> Snapshot | None:
    """pyiceberg's ``TableMetadata.snapshot_by_id``, without a scan of every snapshot.

    pyiceberg scans the snapshots oldest first, a dozen times a commit (1.2 ms at
    1,000). Most lookups are of the current snapshot, the last; three a commit look for
    a new id that is not there, which a set of the list's ids answers. Other lookups
    scan newest first. Snapshot ids are unique, so the answer is the same. Installed on
    import.
    """
    snapshots = self.snapshots
    if snapshots and snapshots[-1].snapshot_id == snapshot_id:
        return snapshots[-1]
    if snapshot_id not in _snapshot_ids(snapshots):
        return None
    return next((s for s in reversed(snapshots) if s.snapshot_id == snapshot_id), None)


def _snapshot_ids(snapshots: list[Snapshot]) -> set[int]:
    """The ids of ``snapshots``, kept with the list (an update makes a new list, so a
    kept list's id is not reused). A list that extends one kept (a commit appends its
    snapshot to the last one's list) copies that set: the snapshots themselves, which a
    conversion just pushed out of the CPU's caches, are not read again."""
    with _SNAPSHOT_IDS_LOCK:
        kept = _SNAPSHOT_IDS.get(id(snapshots))
        if kept is not None and kept[0] is snapshots:
            return kept[1]
        ids = None
        for older, older_ids in reversed(_SNAPSHOT_IDS.values()):
            n = len(older)
            # only appended to: the items between hold the same ids (an expiry that
            # removes some moves the rest to the front, and one that copies the oldest
            # kept, without its parent, makes a new first item)
            if (
                0 < n < len(snapshots)
                and snapshots[n - 1] is older[-1]
                and snapshots[0] is older[0]
            ):
                ids = older_ids | {s.snapshot_id for s in snapshots[n:]}
                break
        if ids is None:
            ids = {s.snapshot_id for s in snapshots}
        _SNAPSHOT_IDS[id(snapshots)] = (snapshots, ids)
        while len(_SNAPSHOT_IDS) > ID_SETS_KEPT:
            _SNAPSHOT_IDS.popitem(last=False)
        return ids


TableMetadataCommonFields.snapshot_by_id = snapshot_by_id  # type: ignore[method-assign]


class _InlineSubmit(Executor):
    """pyiceberg's executor, but what is submitted runs at once in the calling thread
    (``map`` still spreads over pyiceberg's threads)."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # as a pool's future would hold it
            done.set_exception(exc)
        return done

    def map(self, fn: Callable[..., Any], *iterables: Any, **kwargs: Any) -> Iterator[Any]:
        return self._pool.map(fn, *iterables, **kwargs)


class _SnapshotExecutorFactory(ExecutorFactory):
    """The executor of pyiceberg's snapshot producers (``table.update.snapshot``).

    A commit handed its added manifest's write, its deleted manifests and the listing of
    the existing manifests to three worker threads and waited for them: each a few
    Python calls (the list is kept, :func:`manifests_of`), and the handoffs cost more
    than they overlapped, 0.4-0.5 ms of a 5 ms commit on two cores. They run in the
    committing thread; the reads an overwrite spreads with ``map`` (a manifest each)
    still go to pyiceberg's threads. Installed on import.
    """

    @staticmethod
    def get_or_create() -> Executor:
        return _InlineSubmit(ExecutorFactory.get_or_create())


_snapshot_update_module.ExecutorFactory = _SnapshotExecutorFactory  # type: ignore[attr-defined]


MANIFEST_LISTS_KEPT = 64
"""Manifest lists whose manifests a process keeps (:func:`manifests_of`)."""
_MANIFEST_LISTS: OrderedDict[str, tuple[ManifestFile, ...]] = OrderedDict()
_MANIFEST_LISTS_LOCK = threading.Lock()  # pyiceberg reads lists from its worker threads
_read_manifest_list = _manifest_module._manifests


def manifests_of(io: FileIO, manifest_list: str) -> tuple[ManifestFile, ...]:
    """pyiceberg's ``manifest._manifests`` (what ``Snapshot.manifests`` reads), each
    manifest list read once per process, and none this process wrote.

    pyiceberg reads the list again on every call (its cache keeps the manifests, not the
    lists), and a commit read the current snapshot's twice: to look for the batch's
    earlier files, and to list the existing manifests in the new snapshot; each read
    resolves an Avro schema in Python. A manifest list is never rewritten (its name holds
    the snapshot id and a commit's uuid), so its manifests are kept by path, the newest
    lists read or written (:func:`_add_manifests`). Installed on import.
    """
    with _MANIFEST_LISTS_LOCK:
        known = _MANIFEST_LISTS.get(manifest_list)
        if known is not None:
            _MANIFEST_LISTS.move_to_end(manifest_list)
            return known
    known = _read_manifest_list(io, manifest_list)
    _keep_list(manifest_list, known)
    return known


def _keep_list(manifest_list: str, manifests: tuple[ManifestFile, ...]) -> None:
    with _MANIFEST_LISTS_LOCK:
        _MANIFEST_LISTS[manifest_list] = manifests
        while len(_MANIFEST_LISTS) > MANIFEST_LISTS_KEPT:
            _MANIFEST_LISTS.popitem(last=False)  # the least recently used


def snapshot_files(base: TableMetadata, new: TableMetadata, io: FileIO) -> list[str]:
    """The files the snapshots of ``new`` that ``base`` lacks wrote: their manifest lists
    and the manifests they added (pyiceberg does not sync them; :func:`manifests_of`
    knows a list this process wrote without reading it)."""
    old, now = base.snapshots, new.snapshots
    if len(now) > len(old) and (not old or now[len(old) - 1] is old[-1]):
        added = now[len(old) :]  # appended to the very list: no set of every id to build
    else:
        known = {s.snapshot_id for s in old}
        added = list(itertools.takewhile(lambda s: s.snapshot_id not in known, reversed(now)))
    files: list[str] = []
    for snapshot in added:
        files.append(snapshot.manifest_list)
        files += [
            m.manifest_path
            for m in manifests_of(io, snapshot.manifest_list)
            if m.added_snapshot_id == snapshot.snapshot_id
        ]
    return files


_pyiceberg_add_manifests = ManifestListWriter.add_manifests


def _add_manifests(
    self: ManifestListWriter, manifest_files: list[ManifestFile]
) -> ManifestListWriter:
    """pyiceberg's ``ManifestListWriter.add_manifests`` (0.12), keeping what it wrote: the
    next commit's first look at the table reads the list the last one wrote (as
    pyiceberg's reader would give them: its cache of manifests by path first).

    Every commit lists the manifests the last one listed, and pyiceberg encoded each of
    them again in Python (0.3 ms of a commit right after a conversion): a manifest's
    record is encoded once per process (:func:`_list_record`), and the block is
    pyiceberg's ``AvroOutputFile.write_block`` of those records.
    """
    prepared = [self.prepare_manifest(manifest) for manifest in manifest_files]
    out = self._writer
    records = b"".join(map(_list_record, itertools.repeat(out.writer), manifest_files, prepared))
    out.encoder.write_int(len(prepared))
    if codec := out.compression_codec():
        records, length = codec.compress(records)
        out.encoder.write_int(length)
    else:
        out.encoder.write_int(len(records))
    out.encoder.write(records)
    out.encoder.write(out.sync_bytes)
    _written_by(self).extend(map(_manifest_module._manifest_cache.get_or_cache, prepared))
    return self


def _list_record(writer: Writer, manifest: ManifestFile, prepared: ManifestFile) -> bytes:
    """The Avro record of ``prepared`` (``manifest`` as a list writer prepared it), made
    once per ``manifest`` object where preparing it changed nothing: a manifest of an
    earlier commit, its sequence numbers assigned (the objects recur: the kept lists)."""

    def encode() -> bytes:
        buffer = io.BytesIO()
        writer.write(BinaryEncoder(buffer), prepared)
        return buffer.getvalue()

    if UNASSIGNED_SEQ in (manifest.sequence_number, manifest.min_sequence_number):
        return encode()  # this commit's, where preparing it did not assign them in place
    return cast(bytes, _memo_of("list_record", (writer, manifest), encode))


def _written_by(writer: ManifestWriter | ManifestListWriter) -> list[Any]:
    """What ``writer`` wrote so far, as this module notes it (:func:`_keeping_on_exit`)."""
    return cast(list[Any], writer.__dict__.setdefault("_aerofs_written", []))


def _keeping_on_exit(
    pyiceberg_exit: Callable[..., None], keep: Callable[[str, tuple[Any, ...]], None]
) -> Callable[..., None]:
    """A writer's ``__exit__``: pyiceberg's, then, if the file is complete, ``keep`` of its
    location and what was written to it (:func:`_written_by`)."""

    def __exit__(
        self: ManifestWriter | ManifestListWriter,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pyiceberg_exit(self, exc_type, exc_value, traceback)
        if exc_type is None:  # the file is complete
            keep(self._output_file.location, tuple(_written_by(self)))

    return __exit__


MANIFEST_WEIGHT_KEPT = 30_000
"""How much of the manifests it wrote a process keeps (:func:`fetch_manifest_entry`), an
entry weighing one more than its data file's columns (about 150 bytes each): about
6 MB, 5,000 entries of five columns (merges of three levels,
``lake.iceberg.MERGE_FANOUT``) or 600 of fifty (two levels)."""
_WRITTEN: OrderedDict[str, tuple[int, tuple[ManifestEntry, ...]]] = OrderedDict()
_WRITTEN_WEIGHT = [0]  # of what _WRITTEN holds
_WRITTEN_LOCK = threading.Lock()  # pyiceberg reads manifests from its worker threads
_pyiceberg_add_entry = ManifestWriter.add_entry


def fetch_manifest_entry(
    manifest: ManifestFile, io: FileIO, discard_deleted: bool
) -> list[ManifestEntry]:
    """pyiceberg's ``ManifestFile.fetch_manifest_entry``, without reading back a manifest
    this process wrote (:class:`CountMergingAppend`'s merges).

    Appends merge their newest manifests every tenth commit, and read each back to do
    so: about one manifest a commit, decoded in Python, a tenth of a commit's time
    (docs/capacity.md). A manifest is never rewritten (its name holds a commit's uuid),
    so the entries written to it are kept, and given as a read gives them: each a new
    entry, with what it inherits from ``manifest`` (sequence numbers, snapshot id)
    filled in by pyiceberg's own rule. Everything else (scans, the orphan sweep) reads
    the file.
    """
    with _WRITTEN_LOCK:
        written = _WRITTEN.get(manifest.manifest_path)
    if written is None:
        return manifest.fetch_manifest_entry(io, discard_deleted)
    return [
        _manifest_module._inherit_from_manifest(_entry_copy(entry), manifest)
        for entry in written[1]
        if not discard_deleted or entry.status != ManifestEntryStatus.DELETED
    ]


def _entry_copy(entry: ManifestEntry) -> ManifestEntry:
    """A new entry and data file holding ``entry``'s values, as a read makes them (the
    statistics' maps are shared: nothing changes them)."""
    copy = ManifestEntry(*entry._data)
    copy.data_file = DataFile(*entry.data_file._data)
    return copy


def _add_entry(self: ManifestWriter, entry: ManifestEntry) -> ManifestWriter:
    """pyiceberg's ``ManifestWriter.add_entry``, noting the entry it wrote."""
    _pyiceberg_add_entry(self, entry)
    if self.version == DEFAULT_READ_VERSION:  # a read gives what was written
        _written_by(self).append(_entry_copy(self.prepare_entry(entry)))
    return self


def _keep_entries(manifest: str, entries: Sequence[ManifestEntry]) -> None:
    weight = sum(1 + len(entry.data_file.column_sizes or ()) for entry in entries)
    if not entries or weight > MANIFEST_WEIGHT_KEPT:
        return
    with _WRITTEN_LOCK:
        _WRITTEN[manifest] = (weight, tuple(entries))
        _WRITTEN_WEIGHT[0] += weight
        while _WRITTEN_WEIGHT[0] > MANIFEST_WEIGHT_KEPT:
            _WRITTEN_WEIGHT[0] -= _WRITTEN.popitem(last=False)[1][0]  # the oldest


ManifestWriter.add_entry = _add_entry  # type: ignore[method-assign]
ManifestWriter.__exit__ = _keeping_on_exit(ManifestWriter.__exit__, _keep_entries)  # type: ignore[method-assign]


_pyiceberg_create = PyArrowFile.create


def create_output(self: PyArrowFile, overwrite: bool = False) -> OutputStream:
    """pyiceberg's ``PyArrowFile.create``; a local file is a Python file object.

    Each commit writes a manifest and a manifest list through it. pyarrow's local output
    stream (and pyiceberg's look for the file first) cost 0.5 ms a commit more, right after
    a conversion. The file is created exclusively (``overwrite=False``): no window
    between the look and the create. Installed on import.
    """
    if not isinstance(self._filesystem, PyArrowLocalFileSystem):
        return _pyiceberg_create(self, overwrite)
    fd = open_local_output(self._path, overwrite=overwrite)
    return os.fdopen(fd, "wb", buffering=self._buffer_size)  # the caller closes it


PyArrowFile.create = create_output  # type: ignore[method-assign]


_snapshots_module._manifests = manifests_of  # type: ignore[attr-defined]
ManifestListWriter.add_manifests = _add_manifests  # type: ignore[method-assign]
ManifestListWriter.__exit__ = _keeping_on_exit(ManifestListWriter.__exit__, _keep_list)  # type: ignore[method-assign]


def updated_metadata(
    base: TableMetadata, updates: tuple[TableUpdate, ...], metadata_location: str | None = None
) -> TableMetadata:
    """``base`` with ``updates`` applied: pyiceberg's ``update_table_metadata`` (0.12)
    without the deep copy of the result it ends with.

    That copy duplicates every snapshot of the table, and pyiceberg made it each time a
    transaction's metadata was read (about 15 times per append) and again when the
    catalog staged the commit: 90 % of a commit at 1,000 snapshots (docs/capacity.md). It
    guards nothing: the metadata models are frozen and every update builds new ones.
    """
    context = _TableMetadataUpdateContext()
    metadata = base
    for change in updates:
        metadata = _apply_table_update(change, metadata, context)
    if context.has_changes():
        if metadata_location:
            metadata = _update_table_metadata_log(metadata, metadata_location, base.last_updated_ms)
        if base.last_updated_ms == metadata.last_updated_ms:
            now = datetime_to_millis(datetime.now().astimezone())
            metadata = metadata.model_copy(update={"last_updated_ms": now})
    metadata.spec().check_compatible(metadata.schema())
    metadata.sort_order().check_compatible(metadata.schema())
    return metadata


def _struct(schema: Schema | IcebergType) -> tuple[bool, IcebergType]:
    """A hashable key of a schema: its struct (what Avro sees of it), made once per
    schema object (the kept ones recur)."""
    if not isinstance(schema, Schema):
        return (False, schema)
    return (True, _memo_of("struct", (schema,), schema.as_struct))


def _resolve_reader(
    file_schema: Schema | IcebergType,
    read_schema: Schema | IcebergType,
    read_types: dict[int, Callable[..., Any]] = EMPTY_DICT,
    read_enums: dict[int, Callable[..., Enum]] = EMPTY_DICT,
) -> Reader:
    types, enums = tuple(read_types.items()), tuple(read_enums.items())
    key = (_struct(file_schema), _struct(read_schema), types, enums)
    resolve = _avro_resolver.resolve_reader
    make = functools.partial(resolve, file_schema, read_schema, read_types, read_enums)
    return cast(Reader, _memo("reader", key, make))


def _resolve_writer(
    record_schema: Schema | IcebergType, file_schema: Schema | IcebergType
) -> Writer:
    key = (_struct(record_schema), _struct(file_schema))
    make = functools.partial(_avro_resolver.resolve_writer, record_schema, file_schema)
    return cast(Writer, _memo("writer", key, make))


def _construct_writer(file_schema: Schema | IcebergType) -> Writer:
    make = functools.partial(_avro_resolver.construct_writer, file_schema)
    return cast(Writer, _memo("construct", _struct(file_schema), make))


class _AvroSchemaConversion(AvroSchemaConversion):
    def iceberg_to_avro(self, schema: Schema, schema_name: str | None = None) -> Any:
        make = functools.partial(super().iceberg_to_avro, schema, schema_name)
        return _memo("to_avro", (_struct(schema), schema_name), make)


_pyiceberg_with_partition = ManifestWriter._with_partition


def _with_partition(self: ManifestWriter, format_version: TableVersion) -> Schema:
    """pyiceberg's ``ManifestWriter._with_partition``: the schema of a manifest's
    entries, made once per partition type (two per manifest written)."""
    key = (format_version, self._spec.partition_type(self._schema))
    make = functools.partial(_pyiceberg_with_partition, self, format_version)
    return cast(Schema, _memo("entries", key, make))


_pyiceberg_partition_type = PartitionSpec.partition_type


def partition_type(self: PartitionSpec, schema: Schema) -> StructType:
    """pyiceberg's ``PartitionSpec.partition_type``, made once per spec and schema.

    A commit asked for it five times (writing its manifest, summarizing its partitions),
    each a pydantic ``StructType`` built anew: 0.25 ms of a commit. Specs and schemas are
    not changed once made, and a table's metadata hands the same objects from commit
    to commit of a process. Installed on import.
    """
    make = functools.partial(_pyiceberg_partition_type, self, schema)
    return cast(StructType, _memo_of("partition_type", (self, schema), make))


_pyiceberg_manifest_meta = ManifestWriter._meta


def _manifest_meta(self: ManifestWriter) -> dict[str, str]:
    """pyiceberg's ``ManifestWriter._meta`` (0.12): a manifest's header, the JSON of its
    schema and partition spec made once per schema and spec (a millisecond's tenth of
    each manifest written)."""
    schema, spec = self._schema, self._spec
    fields_json = lambda: to_json(spec.fields).decode("utf-8")  # noqa: E731
    return {
        "schema": _memo_of("schema_json", (schema,), schema.model_dump_json),
        "partition-spec": _memo_of("spec_json", (spec,), fields_json),
        "partition-spec-id": str(spec.spec_id),
        "format-version": str(self.version),
        AVRO_CODEC_KEY: self._compression,
    }


_pyiceberg_get_schema = AvroFileHeader.get_schema


def _get_schema(self: AvroFileHeader) -> Schema:
    """pyiceberg's ``AvroFileHeader.get_schema``, each file schema converted once."""
    text = self.meta.get(_SCHEMA_KEY)
    if text is None:
        raise ValueError("No schema found in Avro file headers")
    make = lambda: AvroSchemaConversion().avro_to_iceberg(json.loads(text))  # noqa: E731
    return cast(Schema, _memo("from_avro", text, make))


_pyiceberg_write_header = AvroOutputFile._write_header


def _write_header(self: AvroOutputFile[Any]) -> None:
    """pyiceberg's ``AvroOutputFile._write_header`` (0.12), the JSON of the file's schema
    made once per schema: ``json.dumps`` of a manifest entry's schema for each file was
    0.3 ms of a commit."""
    codec_name = self.metadata.get(AVRO_CODEC_KEY, TableProperties.WRITE_AVRO_COMPRESSION_DEFAULT)
    if avro_codec_name := CODEC_MAPPING_ICEBERG_TO_AVRO.get(codec_name):
        codec_name = avro_codec_name
    schema, name = self.file_schema, self.schema_name
    make = lambda: json.dumps(_AvroSchemaConversion().iceberg_to_avro(schema, name))  # noqa: E731
    json_schema = _memo("header", (_struct(schema), name), make)
    meta = {**self.metadata, _SCHEMA_KEY: json_schema, AVRO_CODEC_KEY: codec_name}
    _construct_writer(_avro_file.META_SCHEMA).write(
        self.encoder, AvroFileHeader(_avro_file.MAGIC, meta, self.sync_bytes)
    )


def _install_avro_memos() -> None:
    """Every Avro file pyiceberg reads or writes (a manifest, a manifest list) resolved its
    schema anew in Python: the file's schema from its header's JSON, the reader of that
    schema, the writer and the header's JSON of a new file (its schema's JSON too);
    about half of the time pyiceberg spent writing a commit's manifest and manifest list,
    and of reading a list.
    Each depends on the schemas alone, and the readers and writers hold no state of a
    file (pyiceberg already shares them: they are singletons), so each is made once per
    process and schema; so are a manifest's header (:func:`_manifest_meta`) and the
    partition type of a spec (:func:`partition_type`)."""
    _avro_file.resolve_reader = _resolve_reader  # type: ignore[attr-defined]
    _avro_file.resolve_writer = _resolve_writer  # type: ignore[attr-defined]
    _avro_file.construct_writer = _construct_writer  # type: ignore[attr-defined]
    _avro_file.AvroSchemaConversion = _AvroSchemaConversion  # type: ignore[attr-defined]
    AvroFileHeader.get_schema = _get_schema  # type: ignore[method-assign]
    AvroOutputFile._write_header = _write_header  # type: ignore[method-assign]
    ManifestWriter._with_partition = _with_partition  # type: ignore[method-assign]
    ManifestWriter._meta = property(_manifest_meta)  # type: ignore[method-assign,assignment]
    PartitionSpec.partition_type = partition_type  # type: ignore[method-assign]


_install_avro_memos()


SNAPSHOTS_KEPT = 100_000
"""Snapshots whose JSON a process keeps (:meth:`LakeCatalog._write_metadata`)."""
_SNAPSHOT_JSON: dict[tuple[uuid.UUID, int, int | None, bool], str] = {}
LISTS_BYTES_KEPT = 64 * 2**20
"""JSON of the lists last written per table a process keeps, in bytes (:func:`_listed`)."""
_LISTED: dict[tuple[uuid.UUID, str, bool], tuple[list[Any], tuple[bytes, ...]]] = {}
_LISTED_LOCK = threading.Lock()
_SNAPSHOT_LOG = TypeAdapter(list[SnapshotLogEntry])


def _snapshot_json(table: uuid.UUID, snapshot: Snapshot, exclude_none: bool) -> str:
    """One snapshot's JSON in a metadata file (made once per process and kept).

    A snapshot changes in one way only: an expiry that removes its parent copies it
    without the parent's id (pyiceberg's ``RemoveSnapshotsUpdate``), so that id is part
    of the key.
    """
    key = (table, snapshot.snapshot_id, snapshot.parent_snapshot_id, exclude_none)
    text = _SNAPSHOT_JSON.get(key)
    if text is None:
        text = snapshot.model_dump_json(exclude_none=exclude_none)
        while len(_SNAPSHOT_JSON) >= SNAPSHOTS_KEPT:
            _SNAPSHOT_JSON.pop(next(iter(_SNAPSHOT_JSON)))  # the oldest made
        _SNAPSHOT_JSON[key] = text
    return text


LISTED_CHUNKS = 32
"""Pieces a list's JSON is kept in before they are joined into one (:func:`_listed`)."""


def _listed(
    key: tuple[uuid.UUID, str, bool], items: list[Any], dump: Callable[[list[Any]], bytes]
) -> tuple[bytes, ...]:
    """The JSON of ``items`` without its brackets, in pieces, ``dump`` making that of a
    list.

    A table's lists of snapshots and of their log only grow between two commits of one
    process (expiry aside), and they hold the same objects (the metadata models are
    frozen; an update makes new lists of the old items): when ``items`` starts with the
    very list last written for ``key``, only the new items are serialized, and added as
    a piece of their own: the file is written from its pieces, and joining them into
    one was a copy of the whole list each commit (700 KB at 1,000 snapshots). Every
    ``LISTED_CHUNKS`` pieces are joined once.
    """
    with _LISTED_LOCK:
        known = _LISTED.pop(key, None)
    if known is not None and len(known[0]) <= len(items):
        old, chunks = known
        if all(map(operator.is_, old, items)):  # the old list, item for item
            new = items[len(old) :]
            if new:
                chunks = (*chunks, b"," + dump(new)) if old else (dump(new),)
                if len(chunks) > LISTED_CHUNKS:
                    chunks = (b"".join(chunks),)
        else:
            chunks = (dump(items),)
    else:
        chunks = (dump(items),)
    _keep_listed(key, items, chunks)
    return chunks


def _keep_listed(
    key: tuple[uuid.UUID, str, bool], items: list[Any], chunks: tuple[bytes, ...]
) -> None:
    with _LISTED_LOCK:  # tables may commit from several threads
        _LISTED[key] = (list(items), chunks)
        size = sum(map(len, itertools.chain.from_iterable(kept for _, kept in _LISTED.values())))
        while size > LISTS_BYTES_KEPT and len(_LISTED) > 1:
            oldest = _LISTED.pop(next(iter(_LISTED)))[1]  # the table written longest ago
            size -= sum(map(len, oldest))


_OPENING = b'{"snapshots":['
_LOG_OPENING = b'],"snapshot-log":['


def _keep_lists_read(metadata: TableMetadata, document: bytes) -> None:
    """Keep the lists of snapshots and of their log as a metadata file holds them, for
    :func:`_listed` to extend on the next commit.

    A run's process commits once, to a table it has just read: without this, its commit
    serialized every snapshot again (17 ms of a 45 ms commit at 1,000 snapshots). The
    lists are taken from the file only where it starts with them as
    :meth:`LakeCatalog._write_metadata` writes them (a ``"snapshot-log"`` key cannot
    occur inside a snapshot, and the log holds no bracket), and only if they hold
    exactly the snapshots parsed, first and last included; otherwise nothing is kept.
    """
    if metadata.format_version != 2 or not document.startswith(_OPENING):
        return
    at = document.find(_LOG_OPENING)
    log_end = document.find(b"]", at + len(_LOG_OPENING))
    if at < 0 or log_end < 0:
        return
    snapshots = document[len(_OPENING) : at]
    log = document[at + len(_LOG_OPENING) : log_end]

    def holds(text: bytes, ids: list[int]) -> bool:
        if not ids:
            return not text
        first, last = (b'{"snapshot-id":%d,' % i for i in (ids[0], ids[-1]))
        return (
            text.count(b'{"snapshot-id":') == len(ids)
            and text.startswith(first)
            and text.rfind(last) == text.rfind(b'{"snapshot-id":')
        )

    if not holds(snapshots, [s.snapshot_id for s in metadata.snapshots]) or not holds(
        log, [e.snapshot_id for e in metadata.snapshot_log]
    ):
        return
    exclude_none, uuid_ = _exclude_none(), metadata.table_uuid
    _keep_listed((uuid_, "snapshots", exclude_none), metadata.snapshots, (snapshots,))
    _keep_listed((uuid_, "snapshot-log", exclude_none), metadata.snapshot_log, (log,))


PREWRITE_MIN_BYTES = 128 * 1024
"""The JSON of a table's snapshots from which a commit begins its metadata file early
(:meth:`LakeCatalog.prewriting`): below, the thread costs more than it saves."""


@dataclass(frozen=True)
class _Prewrite:
    """A metadata file begun with the JSON of the snapshots of the metadata it follows."""

    base: str
    """The location of that metadata: a commit based on it names its file ``location``."""
    location: str
    file: BegunFile


@functools.cache
def _deleter() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="aerofs-lake-metadata-delete")


@functools.cache
def _exclude_none() -> bool:
    """pyiceberg's choice for each metadata file it writes, made once per process (reading
    its configuration took 0.15 ms)."""
    return not Config().get_bool("legacy-current-snapshot-id")


FILE_IOS_KEPT = 64


def file_io(properties: Properties, location: str | None) -> FileIO:
    """pyiceberg's ``load_file_io``, one per process for each set of properties and
    scheme: a commit made five, each with its own file system (0.2 ms right after a
    conversion). A FileIO holds no state of a file, and pyarrow's file systems are
    thread-safe."""
    key = (tuple(sorted(properties.items())), urlsplit(location or "").scheme or "file")
    make = functools.partial(load_file_io, properties, location)
    return cast(FileIO, _memo("file_io", key, make, FILE_IOS_KEPT))


class LakeCatalog(SqlCatalog):
    """pyiceberg's SQL catalog without the costs of a commit that grew with the table.

    * Each commit loaded the table twice, parsing its metadata file (which lists every
      snapshot) each time: once to start the transaction, and again in the catalog to
      check the table had not moved on. A metadata file is never rewritten (every version
      is a new file), so the catalog keeps the last metadata it read or wrote of each
      table, and reuses it while the catalog's row still names that file and the file
      still exists; and a commit to an existing table checks that it has not moved on
      with the update itself (``WHERE metadata_location = <the one it started from>``),
      as pyiceberg's own update does, without loading it again.
    * Staging a commit deep-copied the whole metadata (:func:`updated_metadata`).
    * Writing the metadata file serialized every snapshot again (:meth:`_write_metadata`).
    * The load's query and the compare-and-swap went through pyiceberg's ORM session,
      each statement built anew: SQLAlchemy Core, the statements made once.
    """

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        self._latest: dict[Identifier, tuple[str, TableMetadata]] = {}
        self._prewrites: dict[int, _Prewrite] = {}  # by id(table), while prewriting holds it
        # the statements of a commit, made once: SQLAlchemy builds and keys a new
        # statement in Python each time, most of what a query cost it (0.1 ms each)
        table = (
            IcebergTables.catalog_name == self.name,
            IcebergTables.table_namespace == bindparam("namespace"),
            IcebergTables.table_name == bindparam("name"),
        )
        self._location_query = select(IcebergTables.metadata_location).where(*table)
        if (type_filter := self._iceberg_type_filter()) is not None:
            self._location_query = self._location_query.where(type_filter)
        row = (*table, IcebergTables.metadata_location == bindparam("base"))
        self._swap = (
            update(IcebergTables)
            .where(*row)
            .values(
                metadata_location=bindparam("new"), previous_metadata_location=bindparam("base")
            )
        )
        self._lock = select(IcebergTables.metadata_location).where(*row).with_for_update()

    def load_table(self, identifier: str | Identifier) -> Table:
        """pyiceberg's ``load_table``; while the catalog's row names the metadata kept, one
        query of that column alone (pyiceberg's ORM session and whole row: 0.2 ms)."""
        namespace = Catalog.namespace_to_string(Catalog.namespace_from(identifier))
        name = Catalog.table_name_from(identifier)
        ident = (*Catalog.identifier_to_tuple(namespace), name)
        if ident in self._latest:
            with self.engine.connect() as conn:
                found = conn.execute(self._location_query, {"namespace": namespace, "name": name})
                location = found.scalar()
            if location is not None and (table := self._kept(ident, location)) is not None:
                return table
        return super().load_table(identifier)  # not kept, moved on, or not there

    def _convert_orm_to_iceberg(self, orm_table: IcebergTables) -> Table:
        ident = (*Catalog.identifier_to_tuple(orm_table.table_namespace), orm_table.table_name)
        location = orm_table.metadata_location
        table = self._kept(ident, location) if location else None
        if table is None:
            if not location:  # pyiceberg's own error
                return super()._convert_orm_to_iceberg(orm_table)
            table = self._read(ident, location)
            self._latest[ident] = (table.metadata_location, table.metadata)
        return table

    def _read(self, ident: Identifier, location: str) -> Table:
        """pyiceberg's read of a table's metadata file (``FromInputFile``), keeping the
        file's lists of snapshots for the next file written (:func:`_keep_lists_read`)."""
        stream = file_io(self.properties, location).new_input(location)
        with Compressor.get_compressor(location).stream_decompressor(stream.open()) as opened:
            document = opened.read()
        metadata = TableMetadataUtil.parse_raw(document.decode())
        _keep_lists_read(metadata, document)
        return self._table(ident, location, metadata)

    def _kept(self, ident: Identifier, location: str) -> Table | None:
        """The table at ``location`` from the metadata kept, if that is what is kept."""
        known = self._latest.get(ident)
        if known is None or known[0] != location or not self._still_there(location):
            return None
        return self._table(ident, location, known[1])

    def _table(self, ident: Identifier, location: str, metadata: TableMetadata) -> Table:
        return Table(
            identifier=ident,
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def _still_there(self, location: str) -> bool:
        # a deleted lake must fail the load as it did (_load), not commit into nothing
        if (path := local_path(location)) is not None:
            return os.path.exists(path)  # pyiceberg's input file: 0.1 ms a commit
        return file_io(self.properties, location).new_input(location).exists()

    def _load_file_io(
        self, properties: Properties = EMPTY_DICT, location: str | None = None
    ) -> FileIO:
        return file_io({**self.properties, **properties}, location)

    def _next_metadata_location(self, base: str, metadata: TableMetadata) -> str:
        """pyiceberg's name of the metadata file that follows ``base``."""
        version = self._parse_metadata_version(base) + 1
        provider = load_location_provider(metadata.location, metadata.properties)
        return provider.new_table_metadata_file_location(version)

    @contextlib.contextmanager
    def prewriting(self, table: Table) -> Iterator[None]:
        """Begin the metadata file of a commit to ``table`` (made in this block) while the
        commit makes the rest: its start, the JSON of the table's snapshots, in a thread.

        At 1,000 snapshots that file is 700 KB, and writing it was a third of a commit
        right after a conversion: a new file's pages cost the kernel more than the bytes
        (docs/capacity.md). The snapshots an append keeps are the table's own, and the
        file lists them first (:meth:`_write_metadata`), so their JSON (kept from the
        last commit, :func:`_listed`) goes to disk while the commit writes its manifests.
        A commit based on ``table`` names its metadata file as begun; a file nothing
        finished is removed when the block ends.
        """
        begun = self._begin(table)
        if begun is None:
            yield
            return
        self._prewrites[id(table)] = begun
        try:
            yield
        finally:
            if self._prewrites.pop(id(table), None) is not None:
                begun.file.discard()  # no commit took it: it failed, or changed nothing

    def _begin(self, table: Table) -> _Prewrite | None:
        """The table's next metadata file begun, where the JSON of its snapshots is kept
        (the last commit of this process wrote it, or its load read it) and large enough."""
        metadata, base = table.metadata, table.metadata_location
        with _LISTED_LOCK:
            listed = _LISTED.get((metadata.table_uuid, "snapshots", _exclude_none()))
        if listed is None or sum(map(len, listed[1])) < PREWRITE_MIN_BYTES:
            return None
        items, chunks = listed
        if len(items) != len(metadata.snapshots) or not all(
            map(operator.is_, items, metadata.snapshots)
        ):
            return None
        location = self._next_metadata_location(base, metadata)
        path = local_path(location)
        if path is None or Compressor.get_compressor(location) is not NOOP_COMPRESSOR:
            return None
        return _Prewrite(base, location, begin_file(path, [_OPENING, *chunks]))

    def _update_and_stage_table(
        self,
        current_table: Table | None,
        table_identifier: Identifier,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> StagedTable:
        if current_table is None:  # a new table: pyiceberg's own path
            return super()._update_and_stage_table(None, table_identifier, requirements, updates)
        for requirement in requirements:
            requirement.validate(current_table.metadata)
        metadata = updated_metadata(
            current_table.metadata, updates, current_table.metadata_location
        )
        begun = self._prewrites.get(id(current_table))
        unmoved = metadata.location == current_table.metadata.location and (
            metadata.properties == current_table.metadata.properties
        )
        if begun is not None and unmoved and begun.base == current_table.metadata_location:
            location = begun.location  # the file this commit began (prewriting)
        else:
            location = self._next_metadata_location(current_table.metadata_location, metadata)
        return StagedTable(
            identifier=table_identifier,
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(properties=metadata.properties, location=location),
            catalog=self,
        )

    @staticmethod
    def _write_metadata(
        metadata: TableMetadata, io: FileIO, metadata_path: str, begun: BegunFile | None = None
    ) -> None:
        """pyiceberg's metadata file, each snapshot serialized once per process.

        A metadata file lists every snapshot, and pydantic serializes each snapshot's
        summary in Python: at 1,000 snapshots that was a third of a commit
        (docs/capacity.md). Snapshots never change, so each one's JSON is kept, and so is
        the JSON of the lists of snapshots and of their log last written (:func:`_listed`):
        the file is the two lists, then the rest of the metadata (key order is free in
        JSON; a test reads it back equal to pyiceberg's own), and its start may have been
        written already (:meth:`LakeCatalog.prewriting`). It is synced before this
        returns: the catalog names it next.
        """
        exclude_none, uuid_ = _exclude_none(), metadata.table_uuid
        head = metadata.model_dump_json(
            exclude_none=exclude_none, exclude={"snapshots", "snapshot_log"}
        )

        def snapshots(items: list[Snapshot]) -> bytes:
            return ",".join(_snapshot_json(uuid_, s, exclude_none) for s in items).encode()

        def log(items: list[SnapshotLogEntry]) -> bytes:
            return _SNAPSHOT_LOG.dump_json(items, by_alias=True, exclude_none=exclude_none)[1:-1]

        parts = (
            _OPENING,
            *_listed((uuid_, "snapshots", exclude_none), metadata.snapshots, snapshots),
            _LOG_OPENING,
            *_listed((uuid_, "snapshot-log", exclude_none), metadata.snapshot_log, log),
            b"],",
            head[1:].encode(),
        )
        compressor = Compressor.get_compressor(metadata_path)
        path = local_path(metadata_path)
        if begun is not None:  # the file's start, written already (prewriting)
            with contextlib.suppress(ValueError):  # not this file's start: removed
                begun.finish(list(parts))  # all but the bytes begun
                return
        if path is not None and compressor is NOOP_COMPRESSOR:
            # the parts as they are, and the sync on the same descriptor: no 700 KB joined
            # copy at 1,000 snapshots, no second open (docs/capacity.md)
            create_local_file(path, parts)
            return
        with io.new_output(metadata_path).create(overwrite=False) as stream:
            stream.write(compressor.bytes_compressor()(b"".join(parts)))
        sync_local_files([metadata_path])  # before the catalog names it

    @staticmethod
    def _delete_old_metadata(io: FileIO, base: TableMetadata, metadata: TableMetadata) -> None:
        """pyiceberg's removal of the metadata files a commit dropped from the log, in a
        thread of its own: a commit waited for it (0.4 ms at 1,000 snapshots), and a file
        left by a process that exits first is an orphan ``lake_maintenance`` removes."""
        _deleter().submit(SqlCatalog._delete_old_metadata, io, base, metadata)

    def commit_table(
        self,
        table: Table,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        if isinstance(table, StagedTable):  # a table's creation: pyiceberg's own path
            response = super().commit_table(table, requirements, updates)
        else:
            response = self._commit_existing(table, requirements, updates)
        self._latest[table.name()] = (response.metadata_location, response.metadata)
        return response

    def _commit_existing(
        self,
        table: Table,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        """pyiceberg's ``SqlCatalog.commit_table`` (0.12) for an existing table, based on
        the ``table`` the transaction started from instead of a second load of it."""
        ident = table.name()
        namespace = Catalog.namespace_to_string(Catalog.namespace_from(ident))
        name = Catalog.table_name_from(ident)
        staged = self._update_and_stage_table(table, ident, requirements, updates)
        if staged.metadata == table.metadata:  # no changes, do nothing
            return CommitTableResponse(  # type: ignore[call-arg]  # populated by name
                metadata=table.metadata, metadata_location=table.metadata_location
            )
        # every file the new metadata names is synced before the catalog names it: the
        # snapshots' files while the metadata file is written, then that file
        synced = start_sync(snapshot_files(table.metadata, staged.metadata, staged.io))
        begun = self._prewrites.pop(id(table), None)
        if begun is not None and begun.location != staged.metadata_location:
            begun.file.discard()  # begun for a commit this one is not
            begun = None
        started = begun.file if begun is not None else None
        self._write_metadata(staged.metadata, staged.io, staged.metadata_location, started)
        synced()
        moved = CommitFailedException(f"Table has been updated by another process: {ident}")
        names = {"namespace": namespace, "name": name, "base": table.metadata_location}
        counts = self.engine.dialect.supports_sane_rowcount
        with self.engine.begin() as conn:  # SQLAlchemy Core: an ORM session cost 0.13 ms
            if not counts and conn.execute(self._lock, names).first() is None:
                raise moved  # the row is locked first where rows are not counted, as pyiceberg
            swapped = conn.execute(self._swap, {**names, "new": staged.metadata_location})
            if counts and swapped.rowcount < 1:
                raise moved  # rolled back
        return CommitTableResponse(  # type: ignore[call-arg]  # populated by name
            metadata=staged.metadata, metadata_location=staged.metadata_location
        )


class MemoTransaction(Transaction):
    """pyiceberg's transaction, its metadata computed once per staged change.

    pyiceberg recomputes ``table_metadata`` on every read: it replays the staged updates
    and deep-copies the result, every snapshot of the table included, and one append
    reads it about 15 times. That was most of a commit's time, growing with the table's
    snapshots (docs/capacity.md). The metadata is immutable (frozen models; an update
    makes a new one), so it is shared until the next update is staged.
    """

    _memo: tuple[TableMetadata, tuple[TableUpdate, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        if not updates:
            return base
        if self._memo is None or self._memo[0] is not base or self._memo[1] is not updates:
            self._memo = (base, updates, updated_metadata(base, updates))
        return self._memo[2]


class CountMergingAppend(_FastAppendFiles):
    """A batch's first commit: pyiceberg's fast append (it writes one manifest) that also
    merges the manifests appends leave behind, level by level.

    A fast append lists the new manifest beside all earlier ones, and every commit reads
    and rewrites that list: 0.2 s a commit at 3,000 batches. Iceberg's merge append
    (``commit.manifest-merge.enabled``) packs manifests by bytes, where a one-file
    manifest weighs as much as 25 files merged (its Avro header): a merged manifest near
    the target size was rewritten every few commits, a third of each commit's time. Here
    manifests merge by their count of files (``lake.iceberg.MERGE_FANOUT``): the newest ten
    manifests of fewer than ten files each become one, ten of those one of 100, and
    so on up to ``MERGE_MAX_FILES``. A file's entry is rewritten once per level, and
    the list stays a few dozen manifests long. pyiceberg writes the merged manifest;
    ``merge_count(manifests)`` (newest first) says how many of the newest to merge. The
    entries of those this process wrote are not read back (:func:`fetch_manifest_entry`).
    """

    def __init__(
        self,
        merge_count: Callable[[Sequence[ManifestFile]], int],
        transaction: Transaction,
        io: FileIO,
        snapshot_properties: dict[str, str],
    ) -> None:
        super().__init__(Operation.APPEND, transaction, io, snapshot_properties=snapshot_properties)
        self._merge_count = merge_count

    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        count = self._merge_count(manifests)
        if not count:
            return manifests
        merger = _ManifestMergeManager(
            target_size_bytes=2**62,
            min_count_to_merge=count,
            merge_enabled=True,
            snapshot_producer=self,
        )  # one bin, holding this commit's manifest: merged into one
        return merger.merge_manifests(manifests[:count]) + manifests[count:]

    def fetch_manifest_entry(
        self, manifest: ManifestFile, discard_deleted: bool = True
    ) -> list[ManifestEntry]:
        return fetch_manifest_entry(manifest, self._io, discard_deleted)


_METRICS_PREFIX = "write.metadata.metrics."


def data_file_from_footer(
    metadata: TableMetadata, path: str, size: int, footer: pq.FileMetaData
) -> DataFile:
    """pyiceberg's ``parquet_file_to_data_file`` (0.12) from a footer already read.

    It read the footer again, and checked the file's schema against the table's, which
    the commit's own schema rules (``lake.iceberg``) did before: a millisecond a commit.
    The statistics plan of a table's schema is made once.
    """
    schema = metadata.schema()
    metrics = tuple(
        sorted((k, v) for k, v in metadata.properties.items() if k.startswith(_METRICS_PREFIX))
    )
    # a schema id names one schema for good: made once per table and id
    key = (metadata.table_uuid, schema.schema_id, metrics)
    plan, mapping = _memo(
        "statistics_plan",
        key,
        lambda: (
            compute_statistics_plan(schema, metadata.properties),
            parquet_path_to_id_mapping(schema),
        ),
    )
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer, stats_columns=plan, parquet_column_mapping=mapping
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=statistics.partition(metadata.spec(), schema),
        file_size_in_bytes=size,
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )
