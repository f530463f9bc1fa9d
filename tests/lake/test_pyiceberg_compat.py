"""Each shim of ``lake.pyiceberg_compat`` gives what pyiceberg itself gives: on an upgrade
of pyiceberg these say which shim to revisit."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyiceberg
import pytest
from pyiceberg.avro import file as avro_file
from pyiceberg.avro import resolver as avro_resolver
from pyiceberg.avro.file import AvroFileHeader
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.io import FileIO, load_file_io
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import (
    UNASSIGNED_SEQ,
    DataFile,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestListWriter,
    ManifestWriter,
    read_manifest_list,
    write_manifest,
    write_manifest_list,
)
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import TableProperties, Transaction
from pyiceberg.table.update import snapshot as snapshot_update
from pyiceberg.table.update import update_table_metadata
from pyiceberg.typedef import Record
from pyiceberg.utils.schema_conversion import AvroSchemaConversion

from aerofs_pipelines.kernels import BegunFile
from aerofs_pipelines.lake import iceberg as iceberg_module
from aerofs_pipelines.lake import pyiceberg_compat as compat
from aerofs_pipelines.lake.iceberg import (
    BATCH_PROPERTY,
    TABLE_PROPERTIES,
    commit_batch,
    expire_snapshots,
    open_catalog,
)
from tests.support.lake_files import batch_file


@pytest.fixture
def catalog(lake: Path) -> Catalog:
    return open_catalog()


def commit(catalog: Catalog, tmp: Path, *batches: str) -> None:
    for i, batch in enumerate(batches):
        path = batch_file(tmp / "lake", batch, "p", f"id,amount\n{i},{i}.5\n")
        commit_batch(catalog, "orders", batch, [path], location=str(tmp / "lake/tables/orders"))


def begin_early(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every commit begins its metadata file early (``LakeCatalog.prewriting``); the
    paths of the files begun."""
    monkeypatch.setattr(compat, "PREWRITE_MIN_BYTES", 0)
    begun: list[str] = []
    begin = compat.begin_file

    def noted(path: str, parts: list[bytes]) -> BegunFile:
        begun.append(path)
        return begin(path, parts)

    monkeypatch.setattr(compat, "begin_file", noted)
    return begun


def test_the_shims_are_for_the_installed_pyiceberg() -> None:
    assert pyiceberg.__version__ == compat.PYICEBERG_VERSION, (
        "pyiceberg moved: check each shim of lake/pyiceberg_compat.py against its source"
    )


def test_the_catalog_is_the_lake_catalog(catalog: Catalog) -> None:
    assert isinstance(catalog, compat.LakeCatalog)


def test_metadata_files_are_pyicebergs_own_json(catalog: Catalog, tmp_path: Path) -> None:
    """``LakeCatalog._write_metadata`` (each snapshot's JSON made once): the file reads back
    as pyiceberg's own serialization of the same metadata."""
    commit(catalog, tmp_path, "m1", "m2", "m3")
    table = catalog.load_table("aerofs.orders")
    written = json.loads(Path(table.metadata_location).read_text())
    assert written == json.loads(table.metadata.model_dump_json())
    assert [s["summary"][BATCH_PROPERTY] for s in written["snapshots"]] == ["m1", "m2", "m3"]
    parsed = FromInputFile.table_metadata(table.io.new_input(table.metadata_location))
    assert parsed == table.metadata


@pytest.mark.parametrize("begun_early", [False, True])
def test_metadata_files_stay_pyicebergs_own_json_as_lists_grow_and_shrink(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, begun_early: bool
) -> None:
    """An expiry copies the oldest snapshot kept without its parent's id: the snapshot's
    JSON kept from before (``_snapshot_json``) must not bring that id back. The lists of
    snapshots and of their log are kept as last written and extended (``_listed``): the
    files stay pyiceberg's own as they grow, shrink, and after another process's commit
    (new objects, nothing to extend). Their pieces are joined every ``LISTED_CHUNKS``;
    and so do files begun before the rest was made (``LakeCatalog.prewriting``)."""
    monkeypatch.setattr(compat, "LISTED_CHUNKS", 2)
    begun = begin_early(monkeypatch) if begun_early else []

    def same_as_pyicebergs() -> None:
        table = catalog.load_table("aerofs.orders")
        written = json.loads(Path(table.metadata_location).read_text())
        assert written == json.loads(table.metadata.model_dump_json())

    commit(catalog, tmp_path, "g1", "g2", "g3")
    same_as_pyicebergs()
    expired = expire_snapshots(catalog, "orders", older_than=datetime.now(UTC), keep_last=1)
    assert expired == 2
    same_as_pyicebergs()
    for batch in ("g4", "g5", "g6", "g7"):
        commit(catalog, tmp_path, batch)
        same_as_pyicebergs()
    uuid = catalog.load_table("aerofs.orders").metadata.table_uuid
    pieces = {len(c) for k, (_, c) in compat._LISTED.items() if k[0] == uuid}
    assert pieces and pieces <= {1, 2}
    compat._LISTED.clear()  # as if another process had committed
    commit(catalog, tmp_path, "g8")
    same_as_pyicebergs()
    snapshots = catalog.load_table("aerofs.orders").snapshots()
    assert snapshots[0].parent_snapshot_id is None
    assert snapshots[1].parent_snapshot_id == snapshots[0].snapshot_id
    if begun_early:  # every commit but the one after another process's (nothing kept)
        assert len(begun) == 7 and not catalog._prewrites  # type: ignore[attr-defined]
        table = catalog.load_table("aerofs.orders")
        logged = {entry.metadata_file for entry in table.metadata.metadata_log}
        assert set(begun) <= logged


def test_a_metadata_file_begun_for_a_commit_that_fails_is_removed(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LakeCatalog.prewriting``: a commit that fails after its metadata file was begun
    (here in making its data file's entry) leaves no file behind, nor one a commit after
    it could take for its own; that next commit begins its own."""
    commit(catalog, tmp_path, "f1", "f2")
    begun = begin_early(monkeypatch)
    folder = tmp_path / "lake/tables/orders/metadata"
    before = sorted(folder.glob("*.metadata.json"))

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the entry could not be made")

    with monkeypatch.context() as patch:
        patch.setattr(iceberg_module, "data_file_from_footer", failing)
        with pytest.raises(RuntimeError, match="could not be made"):
            commit(catalog, tmp_path, "f3")
    assert len(begun) == 1 and not Path(begun[0]).exists()
    assert not catalog._prewrites  # type: ignore[attr-defined]
    assert sorted(folder.glob("*.metadata.json")) == before
    commit(catalog, tmp_path, "f3")
    table = catalog.load_table("aerofs.orders")
    assert len(begun) == 2 and table.metadata_location == begun[1]
    written = json.loads(Path(table.metadata_location).read_text())
    assert written == json.loads(table.metadata.model_dump_json())


def test_a_commit_from_a_stale_table_fails_as_pyicebergs_does(
    catalog: Catalog, tmp_path: Path
) -> None:
    """``LakeCatalog`` commits without loading the table again: the update itself checks
    the table is where the transaction started."""
    commit(catalog, tmp_path, "s1")
    stale = catalog.load_table("aerofs.orders")
    fresh = catalog.load_table("aerofs.orders")
    with fresh.transaction() as tx:
        tx.set_properties({"owner": "fresh"})
    before = catalog.load_table("aerofs.orders").metadata_location
    with pytest.raises(CommitFailedException), stale.transaction() as tx:
        tx.set_properties({"owner": "stale"})
    after = catalog.load_table("aerofs.orders")
    assert after.metadata_location == before and after.properties["owner"] == "fresh"


def test_updated_metadata_is_pyicebergs_without_the_copy(catalog: Catalog, tmp_path: Path) -> None:
    commit(catalog, tmp_path, "u1", "u2")
    table = catalog.load_table("aerofs.orders")
    tx = Transaction(table)
    tx.set_properties({"k": "v"})
    with tx.update_schema() as schema:
        schema.union_by_name(pa.schema([("note", pa.string())]))
    ours = compat.updated_metadata(table.metadata, tx._updates)
    theirs = update_table_metadata(table.metadata, tx._updates)
    stamp = {"last_updated_ms": 0}
    assert ours.model_copy(update=stamp) == theirs.model_copy(update=stamp)
    memo = compat.MemoTransaction(table)
    memo.set_properties({"k": "v"})
    assert memo.table_metadata is memo.table_metadata  # computed once per staged change
    assert memo.table_metadata.properties["k"] == "v"


def test_snapshot_lookup_finds_what_pyicebergs_finds(catalog: Catalog, tmp_path: Path) -> None:
    commit(catalog, tmp_path, "l1", "l2", "l3")
    metadata = catalog.load_table("aerofs.orders").metadata
    for snapshot in metadata.snapshots:
        oldest_first = next(s for s in metadata.snapshots if s.snapshot_id == snapshot.snapshot_id)
        assert metadata.snapshot_by_id(snapshot.snapshot_id) is oldest_first
    assert metadata.snapshot_by_id(-1) is None
    assert type(metadata).snapshot_by_id is compat.snapshot_by_id  # installed


def test_snapshot_lookup_stays_pyicebergs_as_lists_grow_and_shrink(
    catalog: Catalog, tmp_path: Path
) -> None:
    """The sets of ids ``snapshot_by_id`` keeps are copied from a list a new one extends:
    after appends, an expiry (which copies the oldest kept snapshot) and more appends,
    every id is found as pyiceberg finds it, and one that is gone is not."""

    def same_as_pyicebergs(gone: frozenset[int] = frozenset()) -> list[int]:
        metadata = catalog.load_table("aerofs.orders").metadata
        for snapshot in metadata.snapshots:
            oldest_first = next(
                s for s in metadata.snapshots if s.snapshot_id == snapshot.snapshot_id
            )
            assert metadata.snapshot_by_id(snapshot.snapshot_id) is oldest_first
        for snapshot_id in gone:
            assert metadata.snapshot_by_id(snapshot_id) is None
        return [s.snapshot_id for s in metadata.snapshots]

    commit(catalog, tmp_path, "i1", "i2", "i3")
    before = same_as_pyicebergs()
    expire_snapshots(catalog, "orders", older_than=datetime.now(UTC), keep_last=1)
    after = same_as_pyicebergs(frozenset(before[:-1]))
    commit(catalog, tmp_path, "i4", "i5")
    assert same_as_pyicebergs(frozenset(before[:-1]))[: len(after)] == after


def test_a_tables_first_commit_in_a_process_extends_the_lists_it_read(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that reads a table's metadata file keeps its lists of snapshots as the
    file holds them (``_keep_lists_read``), and its commit writes pyiceberg's own JSON,
    begun with them (``LakeCatalog.prewriting``)."""
    commit(catalog, tmp_path, "r1", "r2")
    begun = begin_early(monkeypatch)
    assert isinstance(catalog, compat.LakeCatalog)
    compat._LISTED.clear()  # a new process: nothing written by it yet,
    catalog._latest.clear()  # nor read
    table = catalog.load_table("aerofs.orders")
    kept = {key[1]: items for key, (items, _) in compat._LISTED.items()}
    assert kept["snapshots"] == table.metadata.snapshots
    assert kept["snapshot-log"] == table.metadata.snapshot_log
    commit(catalog, tmp_path, "r3")
    table = catalog.load_table("aerofs.orders")
    assert begun == [table.metadata_location]
    written = json.loads(Path(table.metadata_location).read_text())
    assert written == json.loads(table.metadata.model_dump_json())
    assert [s["summary"][BATCH_PROPERTY] for s in written["snapshots"]] == ["r1", "r2", "r3"]


def test_lists_are_not_kept_from_a_file_laid_out_otherwise(
    catalog: Catalog, tmp_path: Path
) -> None:
    """pyiceberg's own writer puts the snapshots after the table's fields: nothing is
    taken from such a file, nor from one whose list does not hold the snapshots parsed."""
    commit(catalog, tmp_path, "o1", "o2")
    table = catalog.load_table("aerofs.orders")
    own = table.metadata.model_dump_json().encode()
    compat._LISTED.clear()
    compat._keep_lists_read(table.metadata, own)
    assert not compat._LISTED
    ours = Path(table.metadata_location).read_bytes()
    first = b'{"snapshot-id":%d,' % table.metadata.snapshots[0].snapshot_id
    compat._keep_lists_read(table.metadata, ours.replace(first, b'{"snapshot-id":1,'))
    assert not compat._LISTED
    compat._keep_lists_read(table.metadata, ours)
    assert len(compat._LISTED) == 2


def test_old_metadata_files_are_still_deleted_after_commits(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyiceberg's removal of the metadata files the log dropped runs in a thread of its
    own (``LakeCatalog._delete_old_metadata``): the files still go."""
    monkeypatch.setitem(TABLE_PROPERTIES, TableProperties.METADATA_PREVIOUS_VERSIONS_MAX, "2")
    commit(catalog, tmp_path, "x1", "x2", "x3", "x4", "x5")
    compat._deleter().submit(lambda: None).result()  # what was queued before is done
    table = catalog.load_table("aerofs.orders")
    logged = {Path(e.metadata_file.removeprefix("file://")) for e in table.metadata.metadata_log}
    folder = tmp_path / "lake/tables/orders/metadata"
    assert set(folder.glob("*.metadata.json")) == {*logged, Path(table.metadata_location)}
    assert len(logged) == 2


def test_data_file_from_footer_is_pyicebergs_entry(catalog: Catalog, tmp_path: Path) -> None:
    commit(catalog, tmp_path, "d1")
    table = catalog.load_table("aerofs.orders")
    path = batch_file(tmp_path / "lake", "d2", "p", "id,amount\n7,7.5\n8,\n")
    footer = pq.ParquetFile(path).metadata
    ours = compat.data_file_from_footer(table.metadata, path, Path(path).stat().st_size, footer)
    theirs = parquet_file_to_data_file(table.io, table.metadata, path)
    assert ours == theirs
    assert ours.record_count == 2 and ours.partition[0] == "d2"
    # the statistics plan is kept per table and schema, and made again when the
    # metrics settings change
    with table.transaction() as tx:
        tx.set_properties({"write.metadata.metrics.default": "counts"})
    table = catalog.load_table("aerofs.orders")
    ours = compat.data_file_from_footer(table.metadata, path, Path(path).stat().st_size, footer)
    assert ours == parquet_file_to_data_file(table.io, table.metadata, path)
    assert not ours.lower_bounds and ours.value_counts


def test_count_merging_append_merges_what_it_is_told(catalog: Catalog, tmp_path: Path) -> None:
    commit(catalog, tmp_path, *(f"c{i}" for i in range(4)))
    table = catalog.load_table("aerofs.orders")
    assert len(table.current_snapshot().manifests(table.io)) >= 2  # type: ignore[union-attr]
    path = batch_file(tmp_path / "lake", "c9", "p", "id,amount\n9,9.5\n")
    footer = pq.ParquetFile(path).metadata
    with compat.MemoTransaction(table) as tx:
        entry = compat.data_file_from_footer(
            tx.table_metadata, path, Path(path).stat().st_size, footer
        )
        with compat.CountMergingAppend(len, tx, table.io, {BATCH_PROPERTY: "c9"}) as append:
            append.append_data_file(entry)
    table = catalog.load_table("aerofs.orders")
    manifests = table.current_snapshot().manifests(table.io)  # type: ignore[union-attr]
    assert len(manifests) == 1  # every manifest merged into one
    assert table.scan().to_arrow().num_rows == 5


def test_manifest_lists_are_read_once_and_as_pyiceberg_reads_them(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``manifests_of`` (what ``Snapshot.manifests`` reads, installed): pyiceberg's own
    manifests of the list, field by field; the list is read once per process."""
    commit(catalog, tmp_path, "r1", "r2", "r3")
    table = catalog.load_table("aerofs.orders")
    snapshot = table.current_snapshot()
    assert snapshot is not None
    theirs = list(read_manifest_list(table.io.new_input(snapshot.manifest_list)))
    ours = snapshot.manifests(table.io)
    assert [m._data for m in ours] == [m._data for m in theirs] and len(ours) == 3
    reads: list[str] = []
    read = compat._read_manifest_list

    def counted(io: FileIO, path: str) -> tuple[ManifestFile, ...]:
        reads.append(path)
        return read(io, path)

    monkeypatch.setattr(compat, "_read_manifest_list", counted)
    assert snapshot.manifests(table.io) == ours and reads == []  # kept
    compat._MANIFEST_LISTS.clear()
    assert snapshot.manifests(table.io) == ours and reads == [snapshot.manifest_list]


_MANIFEST_FIELDS = (
    "manifest_path",
    "manifest_length",
    "partition_spec_id",
    "content",
    "added_files_count",
    "existing_files_count",
    "deleted_files_count",
    "added_rows_count",
    "existing_rows_count",
    "deleted_rows_count",
    "partitions",
    "key_metadata",
)


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_avro_files_are_written_and_read_as_pyiceberg_does(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: Any
) -> None:
    """The Avro schemas, readers and writers made once per process (``_install_avro_memos``)
    and the list's records encoded once (``_add_manifests``): a manifest list (earlier
    manifests and one of this commit) and a manifest written and read with them are byte
    for byte pyiceberg's own (but for the random sync marker), and read back the same."""
    commit(catalog, tmp_path, "a1", "a2")
    table = catalog.load_table("aerofs.orders")
    snapshot = table.current_snapshot()
    assert snapshot is not None
    manifests = snapshot.manifests(table.io)
    entries = manifests[0].fetch_manifest_entry(table.io)
    monkeypatch.setattr(os, "urandom", lambda n: b"s" * n)  # the sync marker
    first = manifests[0]
    fresh = ManifestFile.from_args(  # as this commit's: its sequence numbers unassigned
        **{name: getattr(first, name) for name in _MANIFEST_FIELDS},
        sequence_number=UNASSIGNED_SEQ,
        min_sequence_number=UNASSIGNED_SEQ,
        added_snapshot_id=1,
    )

    def write(name: str) -> tuple[bytes, bytes]:
        listed = tmp_path / f"{name}-list.avro"
        with write_manifest_list(2, table.io.new_output(str(listed)), 1, None, 9, codec) as w:
            w.add_manifests([fresh, *manifests])
        manifest = tmp_path / f"{name}-manifest.avro"
        out = table.io.new_output(str(manifest))
        with write_manifest(2, table.spec(), table.schema(), out, 1, codec) as writer:
            for entry in entries:
                writer.add_entry(entry)
        return listed.read_bytes(), manifest.read_bytes()

    def read() -> list[list[Any]]:
        return [m._data for m in read_manifest_list(table.io.new_input(str(listed)))] + [
            e.data_file._data
            for e in ManifestFile.from_args(
                manifest_path=str(written),
                manifest_length=0,
                partition_spec_id=0,
                content=ManifestContent.DATA,
                sequence_number=1,
                min_sequence_number=1,
                added_snapshot_id=1,
            ).fetch_manifest_entry(table.io)
        ]

    ours = write("ours"), write("ours-again")  # the second from the kept schemas
    listed, written = tmp_path / "ours-list.avro", tmp_path / "ours-manifest.avro"
    read_ours = read(), read()
    monkeypatch.setattr(avro_file, "resolve_reader", avro_resolver.resolve_reader)
    monkeypatch.setattr(avro_file, "resolve_writer", avro_resolver.resolve_writer)
    monkeypatch.setattr(avro_file, "construct_writer", avro_resolver.construct_writer)
    monkeypatch.setattr(avro_file, "AvroSchemaConversion", AvroSchemaConversion)
    monkeypatch.setattr(AvroFileHeader, "get_schema", compat._pyiceberg_get_schema)
    monkeypatch.setattr(ManifestWriter, "_with_partition", compat._pyiceberg_with_partition)
    monkeypatch.setattr(avro_file.AvroOutputFile, "_write_header", compat._pyiceberg_write_header)
    monkeypatch.setattr(ManifestWriter, "_meta", compat._pyiceberg_manifest_meta)
    monkeypatch.setattr(PartitionSpec, "partition_type", compat._pyiceberg_partition_type)
    monkeypatch.setattr(ManifestListWriter, "add_manifests", compat._pyiceberg_add_manifests)
    theirs = write("theirs")
    assert ours[0] == ours[1] == theirs
    assert read_ours[0] == read_ours[1] == read()


def test_partition_type_is_pyicebergs_once_per_spec_and_schema(
    catalog: Catalog, tmp_path: Path
) -> None:
    commit(catalog, tmp_path, "p1")
    table = catalog.load_table("aerofs.orders")
    spec, schema = table.spec(), table.schema()
    ours = spec.partition_type(schema)
    assert ours == compat._pyiceberg_partition_type(spec, schema)
    assert spec.partition_type(schema) is ours  # kept
    other = Schema(*schema.fields, schema_id=schema.schema_id + 1)
    assert spec.partition_type(other) is not ours  # another schema: made for it


def test_iceberg_schema_is_pyicebergs_conversion_once_per_schema() -> None:
    plain = pa.schema([("id", pa.int64()), ("note", pa.string()), ("batch_id", pa.string())])
    documented = pa.schema(
        [pa.field("id", pa.int64(), metadata={"doc": "the order"}), *list(plain)[1:]]
    )
    for schema in (plain, documented):
        assert compat.iceberg_schema(schema) == Catalog._convert_schema_if_needed(schema)
        assert compat.iceberg_schema(schema) is compat.iceberg_schema(schema)  # kept
    assert compat.iceberg_schema(pa.schema([("id", pa.int32())])) != compat.iceberg_schema(plain)


def test_manifest_lists_written_are_kept_as_pyiceberg_reads_them(
    catalog: Catalog, tmp_path: Path
) -> None:
    """A list this process wrote is kept as written (``_add_manifests``): the manifests
    pyiceberg reads back from it, field by field, after appends, a merge of every
    manifest and a re-run's overwrite."""

    def kept_as_read() -> None:
        table = catalog.load_table("aerofs.orders")
        snapshot = table.current_snapshot()
        assert snapshot is not None
        kept = compat._MANIFEST_LISTS[snapshot.manifest_list]
        theirs = list(read_manifest_list(table.io.new_input(snapshot.manifest_list)))
        assert [m._data for m in kept] == [m._data for m in theirs]

    compat._MANIFEST_LISTS.clear()
    commit(catalog, tmp_path, "w1", "w2", "w3")
    kept_as_read()
    table = catalog.load_table("aerofs.orders")
    path = batch_file(tmp_path / "lake", "w4", "p", "id,amount\n9,9.5\n")
    with compat.MemoTransaction(table) as tx:
        entry = compat.data_file_from_footer(
            tx.table_metadata, path, Path(path).stat().st_size, pq.ParquetFile(path).metadata
        )
        with compat.CountMergingAppend(len, tx, table.io, {BATCH_PROPERTY: "w4"}) as append:
            append.append_data_file(entry)  # every manifest merged into one
    kept_as_read()
    again = batch_file(tmp_path / "lake", "w2", "again", "id,amount\n5,5.5\n")
    commit_batch(catalog, "orders", "w2", [again], location=str(tmp_path / "lake/tables/orders"))
    kept_as_read()
    table = catalog.load_table("aerofs.orders")
    assert sorted(r["id"] for r in table.scan().to_arrow().to_pylist()) == [0, 2, 5, 9]


def _deep(value: Any) -> Any:
    """A record's values, records within it as theirs: what a read gives, compared."""
    if isinstance(value, Record):
        return [type(value).__name__, [_deep(v) for v in value._data]]
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value


def test_manifests_written_are_kept_as_pyiceberg_reads_them(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends merge manifests without reading back those this process wrote
    (``fetch_manifest_entry``): the entries kept are what pyiceberg reads from the file,
    field by field, inherited sequence numbers included, deleted ones with
    ``discard_deleted=False``: after appends, merges of two levels and a re-run's
    overwrite (a manifest of deleted entries). An entry given is a copy: changing it
    changes no later one. Anything else reads the file."""
    reads: list[str] = []
    fetch = ManifestFile.fetch_manifest_entry

    def counted(self: ManifestFile, io: FileIO, discard_deleted: bool = True) -> list[Any]:
        reads.append(self.manifest_path)
        return fetch(self, io, discard_deleted)

    monkeypatch.setattr(ManifestFile, "fetch_manifest_entry", counted)
    compat._WRITTEN.clear()
    commit(catalog, tmp_path, *(f"k{i:03d}" for i in range(111)))  # merges of two levels
    assert reads == []  # each manifest merged was this process's own
    again = batch_file(tmp_path / "lake", "k003", "again", "id,amount\n500,5.5\n")
    commit_batch(catalog, "orders", "k003", [again], location=str(tmp_path / "lake/tables/orders"))
    table = catalog.load_table("aerofs.orders")
    manifests = {
        m.manifest_path: m
        for snapshot in table.snapshots()
        for m in snapshot.manifests(table.io)
        if m.manifest_path in compat._WRITTEN
    }
    assert len(manifests) >= 100
    rows = sorted(r["id"] for r in table.scan().to_arrow().to_pylist())
    assert rows == sorted([i for i in range(111) if i != 3] + [500])
    assert any((m.existing_files_count or 0) >= 90 for m in manifests.values())  # 2nd level
    assert any(m.deleted_files_count for m in manifests.values())  # the re-run's
    for manifest in manifests.values():
        for discard in (True, False):
            ours = compat.fetch_manifest_entry(manifest, table.io, discard)
            theirs = fetch(manifest, table.io, discard)
            assert [_deep(e) for e in ours] == [_deep(e) for e in theirs]
    given = compat.fetch_manifest_entry(manifest, table.io, True)[0]
    given.sequence_number, given.data_file.spec_id = -1, -1  # what pyiceberg changes
    again_given = compat.fetch_manifest_entry(manifest, table.io, True)[0]
    assert again_given.sequence_number != -1 and again_given.data_file.spec_id != -1
    path = Path(manifest.manifest_path.removeprefix("file://"))
    path.unlink()
    with pytest.raises(FileNotFoundError):  # a read reads the file
        manifest.fetch_manifest_entry(table.io)


def test_kept_manifest_entries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest manifests go first once they weigh more than ``MANIFEST_WEIGHT_KEPT``
    (an entry one more than its file's columns); a manifest heavier than that is not
    kept at all."""
    monkeypatch.setattr(compat, "MANIFEST_WEIGHT_KEPT", 15)
    compat._WRITTEN.clear()
    compat._WRITTEN_WEIGHT[0] = 0
    data_file = DataFile.from_args(column_sizes={1: 10, 2: 20})  # weighs 3 an entry
    entry = ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, data_file=data_file)
    compat._keep_entries("a", [entry] * 3)
    compat._keep_entries("b", [entry] * 2)
    assert list(compat._WRITTEN) == ["a", "b"] and compat._WRITTEN_WEIGHT[0] == 15
    compat._keep_entries("c", [entry])
    assert list(compat._WRITTEN) == ["b", "c"] and compat._WRITTEN_WEIGHT[0] == 9
    compat._keep_entries("d", [entry] * 6)
    assert "d" not in compat._WRITTEN


def test_snapshot_producers_submit_in_the_committing_thread() -> None:
    """``_SnapshotExecutorFactory``: what pyiceberg's snapshot producers submit runs in
    the calling thread, with a pool future's result or exception; ``map`` as a pool's."""
    executor = snapshot_update.ExecutorFactory.get_or_create()  # type: ignore[attr-defined]
    assert executor.submit(threading.get_ident).result() == threading.get_ident()
    failed = executor.submit(int, "not a number")
    assert isinstance(failed.exception(), ValueError)
    assert list(executor.map(str.upper, ["a", "b"])) == ["A", "B"]


def test_a_commit_syncs_the_files_it_names_before_the_catalog_does(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyiceberg writes a commit's manifests, manifest list and metadata file without
    fsync; the lake syncs each (a local lake) before the catalog points at them."""
    commit(catalog, tmp_path, "s0", "s1")
    before = catalog.load_table("aerofs.orders")
    synced: list[tuple[str, str]] = []  # (file, the catalog's metadata when it was synced)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        location = catalog.load_table("aerofs.orders").metadata_location
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), location))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    commit(catalog, tmp_path, "s2")
    monkeypatch.undo()
    after = catalog.load_table("aerofs.orders")
    snapshot = after.current_snapshot()
    assert snapshot is not None
    added = [  # what pyiceberg itself lists as this snapshot's new manifests
        m.manifest_path
        for m in snapshot.manifests(after.io)
        if m.added_snapshot_id == snapshot.snapshot_id
    ]
    named = [after.metadata_location, snapshot.manifest_list, *added]
    assert compat.snapshot_files(before.metadata, after.metadata, after.io) == [
        snapshot.manifest_list,
        *added,
    ]
    files = {Path(f).resolve(): at for f, at in synced}
    for location in named:
        path = Path(location.removeprefix("file://")).resolve()
        assert path in files, f"{path} never synced"
        assert files[path] == before.metadata_location, f"{path} synced after the commit"


def test_local_output_files_are_created_as_pyiceberg_creates_them(tmp_path: Path) -> None:
    """``create_output``: a local file pyiceberg writes (a manifest, a list) is a Python
    file; its folder is made; ``overwrite=False`` refuses an existing file, as pyiceberg's
    does, and leaves it as it was."""
    io = load_file_io({}, str(tmp_path))
    target = io.new_output(str(tmp_path / "new" / "m.avro"))
    with target.create() as stream:
        stream.write(b"first")
    assert (tmp_path / "new" / "m.avro").read_bytes() == b"first"
    with pytest.raises(FileExistsError):
        target.create()
    with target.create(overwrite=True) as stream:
        stream.write(b"second")
    assert target.to_input_file().open().read() == b"second"
    assert len(target) == len(b"second")


def test_file_io_is_pyicebergs_one_per_properties_and_scheme(tmp_path: Path) -> None:
    here = compat.file_io({"k": "v"}, str(tmp_path / "a"))
    assert type(here) is type(load_file_io({"k": "v"}, str(tmp_path / "a")))
    assert compat.file_io({"k": "v"}, f"file://{tmp_path}/b") is here
    assert compat.file_io({"k": "other"}, str(tmp_path / "a")) is not here
    assert compat.file_io({"k": "v"}, "s3://bucket/x") is not here


def test_load_table_is_pyicebergs(catalog: Catalog, tmp_path: Path) -> None:
    """``LakeCatalog.load_table``: the table it gives, read afresh (``_read``) or kept,
    is pyiceberg's; a missing one is pyiceberg's error."""
    assert isinstance(catalog, compat.LakeCatalog)
    commit(catalog, tmp_path, "t1", "t2")
    catalog._latest.clear()  # read afresh
    ours = catalog.load_table("aerofs.orders")
    theirs = FromInputFile.table_metadata(ours.io.new_input(ours.metadata_location))
    assert ours.metadata == theirs
    assert catalog.load_table(("aerofs", "orders")).metadata is ours.metadata  # kept
    with pytest.raises(NoSuchTableError, match=r"Table does not exist: aerofs\.missing"):
        catalog.load_table("aerofs.missing")
