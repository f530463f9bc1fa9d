"""Removing a lake table's unreferenced files: what expiry and lost writers leave behind
goes, what any snapshot (or a writer still at work) needs stays, and so do the data files
of a lake from before the tables."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from aerofs_pipelines.lake.iceberg import (
    CREATED_AT_PROPERTY,
    commit_batch,
    expire_snapshots,
    open_catalog,
    table_created_at_ms,
)
from aerofs_pipelines.lake.orphans import referenced_files, remove_orphan_files
from aerofs_pipelines.lake.storage import open_storage
from tests.support.lake_files import batch_file, pre_table_file

DAY = 86_400.0


def age_everything(folder: Path, days: float) -> None:
    then = time.time() - days * DAY
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def age_table(lake: Path, days: float) -> None:
    """Its files and ``aerofs.orders`` itself ``days`` older, as if they had been written
    then: the table made a day before its files."""
    table = open_catalog().load_table("aerofs.orders")
    then = int((time.time() - (days + 1) * DAY) * 1000)
    with table.transaction() as tx:
        tx.set_properties({CREATED_AT_PROPERTY: str(then)})
    age_everything(lake, days)


def test_expired_and_abandoned_files_go_and_referenced_ones_stay(lake: Path) -> None:
    catalog = open_catalog()
    where = str(lake / "tables" / "orders")
    first = batch_file(lake, "b1", "v1", "id\n1\n2\n")
    commit_batch(catalog, "orders", "b1", [first], location=where)
    second = batch_file(lake, "b1", "v2", "id\n1\n2\n3\n")  # the batch re-run with new input
    commit_batch(catalog, "orders", "b1", [second], location=where)
    commit_batch(catalog, "orders", "b2", [batch_file(lake, "b2", "p", "id\n9\n")], location=where)
    dead = lake / "tables" / "orders" / "metadata" / "00099-dead-writer.metadata.json"
    dead.write_text("{}")  # a writer that lost its race, or died before committing
    age_table(lake, days=10)
    young = lake / "tables" / "orders" / "batch=b3" / "in-flight.parquet"
    young.parent.mkdir()
    young.write_bytes(b"a batch converted a minute ago, not yet published")

    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert expire_snapshots(catalog, "orders", older_than=soon, keep_last=1) == 2
    table = catalog.load_table("aerofs.orders")
    refs = referenced_files(table)
    assert second in refs and first not in refs

    storage = open_storage(str(lake))
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    sweep = remove_orphan_files(table, storage, "tables/orders", older_than=cutoff)
    assert sweep.removed >= 2 and sweep.kept_young == 1
    assert not Path(first).exists() and not dead.exists() and young.exists()
    assert all(Path(r).exists() for r in refs)  # nothing the table needs was touched
    rows = catalog.load_table("aerofs.orders").scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["batch_id"], r["id"]) for r in rows] == [("b1", 1), ("b1", 2), ("b1", 3), ("b2", 9)]

    again = remove_orphan_files(table, storage, "tables/orders", older_than=cutoff)
    assert (again.removed, again.kept_young) == (0, 1)


def test_a_table_whose_metadata_cannot_be_read_in_full_loses_nothing(lake: Path) -> None:
    catalog = open_catalog()
    where = str(lake / "tables" / "orders")
    commit_batch(catalog, "orders", "b1", [batch_file(lake, "b1", "p", "id\n1\n")], location=where)
    commit_batch(catalog, "orders", "b2", [batch_file(lake, "b2", "p", "id\n2\n")], location=where)
    table = catalog.load_table("aerofs.orders")
    manifests = table.current_snapshot().manifests(table.io)  # type: ignore[union-attr]
    Path(manifests[0].manifest_path.removeprefix("file://")).unlink()
    stray = lake / "tables" / "orders" / "stray.parquet"
    stray.write_bytes(b"unreferenced")
    age_table(lake, days=10)
    before = sorted(p for p in lake.rglob("*") if p.is_file())

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with pytest.raises(FileNotFoundError):
        remove_orphan_files(table, open_storage(str(lake)), "tables/orders", older_than=cutoff)
    assert sorted(p for p in lake.rglob("*") if p.is_file()) == before


def sweep_after_pre_table_lake(lake: Path) -> tuple[Path, Path, Path]:
    """A lake from before the tables (a batch of ``orders`` 30 days old), the table made
    since by a current batch, and then two unreferenced files written after it: a data
    file and a metadata file. Their paths: (old batch, new data file, new metadata)."""
    old = pre_table_file(lake, "orders", "old", "orders", "id\n1\n2\n")
    stale_metadata = lake / "tables" / "orders" / "metadata" / "00042-old-writer.metadata.json"
    stale_metadata.parent.mkdir(parents=True)
    stale_metadata.write_text("{}")
    age_everything(stale_metadata.parent, days=30)  # not a data file: no protection
    where = str(lake / "tables" / "orders")
    commit_batch(
        open_catalog(), "orders", "b1", [batch_file(lake, "b1", "p", "id\n3\n")], location=where
    )
    later = time.time() + 60  # after the creation, whatever the clocks' granularity
    stray = lake / "tables" / "orders" / "batch=b2" / "never-published.parquet"
    stray.parent.mkdir()
    stray.write_bytes(b"converted after the table existed, never published")
    os.utime(stray, (later, later))
    return old, stray, stale_metadata


def test_data_files_older_than_the_table_are_kept_whatever_the_cutoff(lake: Path) -> None:
    old, stray, stale_metadata = sweep_after_pre_table_lake(lake)
    table = open_catalog().load_table("aerofs.orders")
    assert CREATED_AT_PROPERTY in table.properties

    cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # everything counts as old
    sweep = remove_orphan_files(table, open_storage(str(lake)), "tables/orders", older_than=cutoff)
    assert (sweep.kept_pre_table, sweep.kept_young) == (1, 0)
    assert old.exists()  # far older than the cutoff, but older than the table too
    assert not stray.exists() and not stale_metadata.exists()
    assert sweep.removed == 2
    assert sweep.referenced == sweep.files - 3
    assert open_catalog().load_table("aerofs.orders").scan().to_arrow().num_rows == 1


def test_a_table_without_its_creation_time_falls_back_to_its_metadata(lake: Path) -> None:
    """Tables made before the property: the earliest time the metadata still knows."""
    old, stray, _ = sweep_after_pre_table_lake(lake)
    catalog = open_catalog()
    table = catalog.load_table("aerofs.orders")
    recorded = table_created_at_ms(table)
    with table.transaction() as tx:
        tx.remove_properties(CREATED_AT_PROPERTY)
    table = catalog.load_table("aerofs.orders")
    assert CREATED_AT_PROPERTY not in table.properties
    fallback = table_created_at_ms(table)
    assert recorded <= fallback <= table.metadata.last_updated_ms
    assert fallback == min(
        [table.metadata.last_updated_ms, *(e.timestamp_ms for e in table.metadata.metadata_log)]
    )

    cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    sweep = remove_orphan_files(table, open_storage(str(lake)), "tables/orders", older_than=cutoff)
    assert sweep.kept_pre_table == 1 and old.exists() and not stray.exists()
