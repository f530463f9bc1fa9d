"""Removing a lake table's unreferenced files: what expiry and lost writers leave behind
goes, what any snapshot (or a writer still at work) needs stays."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from aerofs_pipelines.lake.iceberg import commit_batch, expire_snapshots, open_catalog
from aerofs_pipelines.lake.orphans import referenced_files, remove_orphan_files
from aerofs_pipelines.lake.storage import open_storage
from tests.support.lake_files import batch_file

DAY = 86_400.0


def age_everything(folder: Path, days: float) -> None:
    then = time.time() - days * DAY
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


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
    age_everything(lake, days=10)
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
    age_everything(lake, days=10)
    before = sorted(p for p in lake.rglob("*") if p.is_file())

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with pytest.raises(FileNotFoundError):
        remove_orphan_files(table, open_storage(str(lake)), "tables/orders", older_than=cutoff)
    assert sorted(p for p in lake.rglob("*") if p.is_file()) == before
