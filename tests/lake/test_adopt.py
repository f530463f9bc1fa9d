"""``lake.adopt``: a lake written before the tables (loose Parquet without ``batch_id``
under ``tables/<name>/batch=<id>/``) brought into its tables, on a local folder and on S3
(a real moto server): kept by the orphan sweep until then, adopted one snapshot per batch,
superseded versions deleted, unregistered names moved, and nothing done the second time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog import Catalog

from aerofs_pipelines.lake import iceberg
from aerofs_pipelines.lake.adopt import adopt_old_batches
from aerofs_pipelines.lake.iceberg import BATCH_PROPERTY, commit_batch, open_catalog
from aerofs_pipelines.lake.orphans import remove_orphan_files
from aerofs_pipelines.lake.storage import LocalStorage, Storage, open_storage
from aerofs_pipelines.registry import Registry, load_registry, parse_registry
from tests.support.lake_files import batch_file, pre_table_file

HEADER = "order_id,order_date,customer,amount,quantity,note"
OLD_1 = f"{HEADER}\n1,2024-01-02,ann,1.5,1,\n2,2024-01-03,bob,2.5,2,gift\n"
OLD_2A = f"{HEADER}\n3,2024-02-01,cy,3.5,3,\n"
OLD_2B = f"{HEADER}\n4,2024-02-02,di,,4,\n5,2024-02-03,ed,5.5,,late\n"
NEW = f"{HEADER}\n10,2026-12-01,fay,10.5,1,\n"
SALES = "region,total\nEU,3\nUS,4\n"


def registry() -> Registry:
    return load_registry()  # the packaged one: orders, strict, six declared columns


def orders_schema() -> pa.Schema:
    spec = registry().get("orders")
    assert spec is not None
    schema = spec.arrow_schema()
    assert schema is not None
    return schema


def land(store: Storage, root: Path) -> None:
    """Every file under the local folder ``root`` into ``store`` at the same key, last
    modified when it was (S3 cannot date an object back: uploaded before the table is)."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        store.put_file(path, key)
        if isinstance(store, LocalStorage):
            when = path.stat().st_mtime
            os.utime(store.root / key, (when, when))


def commit_current_batch(store: Storage, tmp: Path, batch: str, text: str) -> None:
    """A batch as today's pipeline publishes it (the first one creates the table)."""
    local = batch_file(tmp / "new", batch, f"orders.{batch}", text, schema=orders_schema())
    key = f"tables/orders/batch={batch}/orders.{batch}.parquet"
    store.put_file(local, key)
    location = store.uri("tables/orders")
    commit_batch(open_catalog(), "orders", batch, [store.uri(key)], location=location)


def files(store: Storage) -> dict[str, int]:
    return {f.key: f.size for f in store.list_files()}


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, lake: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    """The lake (``AEROFS_LAKE``): the ``lake`` fixture's folder, or a bucket's prefix."""
    if request.param == "local":
        return open_storage(str(lake))
    bucket = request.getfixturevalue("s3_env")
    monkeypatch.setenv("AEROFS_LAKE", f"s3://{bucket}/lake")
    return open_storage(f"s3://{bucket}/lake")


@pytest.fixture
def old_lake(store: Storage, tmp_path: Path) -> Iterator[Storage]:
    """Two batches of ``orders`` and one of the unregistered ``sales`` as a release before
    the tables wrote them (30 days ago), an earlier version of the batch ``new`` too; then
    ``new`` published, which creates the table."""
    old, schema = tmp_path / "old", orders_schema()
    pre_table_file(old, "orders", "old-1", "orders-2024-01", OLD_1, schema=schema)
    pre_table_file(old, "orders", "old-2", "orders-2024-02a", OLD_2A, schema=schema)
    pre_table_file(old, "orders", "old-2", "orders-2024-02b", OLD_2B, schema=schema)
    pre_table_file(old, "orders", "new", "orders", NEW, schema=schema)
    pre_table_file(old, "sales", "old-1", "sales", SALES)
    land(store, old)
    commit_current_batch(store, tmp_path, "new", NEW)
    yield store


def table(catalog: Catalog) -> pa.Table:
    return catalog.load_table("aerofs.orders").scan().to_arrow().sort_by("order_id")


def test_an_old_lake_is_kept_by_the_sweep_then_adopted_once(old_lake: Storage) -> None:
    store, catalog = old_lake, open_catalog()
    orders = catalog.load_table("aerofs.orders")
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # every file is "old enough"
    sweep = remove_orphan_files(orders, store, "tables/orders", older_than=future)
    assert (sweep.kept_pre_table, sweep.removed) == (4, 0)
    before = files(store)
    assert len([k for k in before if k.startswith("tables/orders/batch=")]) == 5

    plan = adopt_old_batches(store, catalog, registry(), dry_run=True)
    assert [(b.name, b.batch_id, b.action, len(b.files), b.done) for b in plan.batches] == [
        ("orders", "new", "superseded", 1, False),
        ("orders", "old-1", "adopt", 1, False),
        ("orders", "old-2", "adopt", 2, False),
        ("sales", "old-1", "move", 1, False),
    ]
    assert [b.rows for b in plan.batches if b.action == "adopt"] == [2, 3]
    assert not plan.failed
    assert files(store) == before  # a dry run changes nothing
    assert len(catalog.load_table("aerofs.orders").snapshots()) == 1

    done = adopt_old_batches(store, catalog, registry())
    assert [(b.batch_id, b.action, b.done, b.problem) for b in done.batches] == [
        ("new", "superseded", True, None),
        ("old-1", "adopt", True, None),
        ("old-2", "adopt", True, None),
        ("old-1", "move", True, None),
    ]
    orders = catalog.load_table("aerofs.orders")
    assert iceberg.batch_rows(orders) == {"new": 1, "old-1": 2, "old-2": 3}
    snapshots = orders.snapshots()
    assert [s.summary[BATCH_PROPERTY] for s in snapshots if s.summary] == ["new", "old-1", "old-2"]
    assert [b.snapshot_id for b in done.batches if b.action == "adopt"] == [
        s.snapshot_id for s in snapshots[1:]
    ]
    rows = table(catalog)
    assert rows.schema.names == [*orders_schema().names, "batch_id"]
    assert [(r["order_id"], r["batch_id"]) for r in rows.to_pylist()] == [
        (1, "old-1"),
        (2, "old-1"),
        (3, "old-2"),
        (4, "old-2"),
        (5, "old-2"),
        (10, "new"),
    ]
    first = rows.to_pylist()[1]
    assert (first["order_date"], first["customer"], first["amount"], first["note"]) == (
        dt.date(2024, 1, 3),
        "bob",
        2.5,
        "gift",
    )
    assert [r["amount"] for r in rows.to_pylist()][3] is None  # nulls stay nulls

    after = files(store)
    assert not set(before) - set(after) - {k for b in done.batches for k in b.files}
    for key in (k for b in done.batches for k in b.files):
        assert key not in after, key  # the originals are gone
    moved = "unregistered/tables/sales/batch=old-1/sales.parquet"
    assert after[moved] == before["tables/sales/batch=old-1/sales.parquet"]
    with store.local_path(moved) as path:
        assert pq.read_table(path).to_pylist() == [
            {"region": "EU", "total": 3},
            {"region": "US", "total": 4},
        ]
    assert not any(k.startswith("tables/sales/") for k in after)

    again = adopt_old_batches(store, catalog, registry())
    assert again.batches == () and not again.failed
    assert files(store) == after
    assert len(catalog.load_table("aerofs.orders").snapshots()) == 3


def test_a_batch_that_no_longer_fits_is_named_and_left_alone(lake: Path, tmp_path: Path) -> None:
    store, old = open_storage(str(lake)), tmp_path / "old"
    schema = orders_schema()
    pre_table_file(old, "orders", "good", "orders", OLD_1, schema=schema)
    bad_cols = pre_table_file(old, "orders", "cols", "orders", "order_id,customer\n1,ann\n")
    as_text = pa.schema([f.with_type(pa.string()) if f.name == "amount" else f for f in schema])
    bad_type = pre_table_file(old, "orders", "type", "orders", OLD_2A, schema=as_text)
    nulls = pre_table_file(old, "orders", "nulls", "orders", f"{HEADER}\n7,2024-03-01,,1.0,1,\n")
    land(store, old)
    before = files(store)

    report = adopt_old_batches(store, open_catalog(), registry())
    outcome = {b.batch_id: b.problem for b in report.batches}
    assert outcome["good"] is None
    assert {b.batch_id for b in report.failed} == {"cols", "type", "nulls"}
    assert str(lake / "tables/orders/batch=cols/orders.parquet") in str(outcome["cols"])
    assert "columns ['order_id', 'customer'] differ" in str(outcome["cols"])
    assert "column 'amount': string in the file but double in the registry" in str(outcome["type"])
    assert "column 'customer': 1 null values" in str(outcome["nulls"])
    for path in (bad_cols, bad_type, nulls):  # left exactly where they were
        key = f"tables/orders/{path.parent.name}/{path.name}"
        assert files(store)[key] == before[key]
    orders = open_catalog().load_table("aerofs.orders")  # created by the good batch
    assert iceberg.batch_rows(orders) == {"good": 2}
    assert [b.batch_id for b in adopt_old_batches(store, open_catalog(), registry()).batches] == [
        "cols",
        "nulls",
        "type",
    ]  # still reported, still not adopted


def test_a_run_that_died_before_its_commit_is_completed_without_duplicates(
    lake: Path, tmp_path: Path
) -> None:
    """The adopted file is written before the commit: a re-run finds it beside its
    original, writes it again under the same key and commits the batch once."""
    store, old = open_storage(str(lake)), tmp_path / "old"
    pre_table_file(old, "orders", "b", "orders", OLD_1, schema=orders_schema())
    land(store, old)
    [planned] = adopt_old_batches(store, open_catalog(), registry(), dry_run=True).batches
    [target] = planned.written
    (lake / target).write_bytes(b"half of what a dead run wrote")

    [done] = adopt_old_batches(store, open_catalog(), registry()).batches
    assert (done.files, done.written, done.problem) == (planned.files, (target,), None)
    orders = open_catalog().load_table("aerofs.orders")
    assert iceberg.batch_rows(orders) == {"b": 2}
    assert iceberg.batch_files(orders, "b") == [str(lake / target)]
    assert adopt_old_batches(store, open_catalog(), registry()).batches == ()


def test_datasets_not_strict_or_without_columns_are_conformed_as_conversion_would(
    lake: Path, tmp_path: Path
) -> None:
    """Not strict: the declared columns typed by name (an old narrower integer widened),
    the others kept, a missing nullable one left out; no declared columns: the file's
    own; ``batch_id`` last either way, as the kernel writes it."""
    loose = parse_registry(
        "datasets:\n"
        "  loose:\n"
        "    patterns: ['loose*.csv']\n"
        "    strict: false\n"
        "    columns:\n"
        "      id: {type: int64, nullable: false}\n"
        "      score: {type: float64}\n"
        "      gone: {type: string}\n"
        "  free:\n"
        "    patterns: ['free*.csv']\n"
    )
    old = tmp_path / "old"
    narrow = pa.schema([("extra", pa.string()), ("id", pa.int32()), ("score", pa.int64())])
    pre_table_file(old, "loose", "b", "loose", "extra,id,score\nx,1,7\n", schema=narrow)
    pre_table_file(old, "free", "b", "free", "when,n\n2024-01-02,3\n")
    store = open_storage(str(lake))
    land(store, old)

    report = adopt_old_batches(store, open_catalog(), loose)
    assert [(b.name, b.action, b.problem) for b in report.batches] == [
        ("free", "adopt", None),
        ("loose", "adopt", None),
    ]
    rows = open_catalog().load_table("aerofs.loose").scan().to_arrow()
    assert rows.schema.names == ["extra", "id", "score", "batch_id"]
    assert (rows.schema.field("id").type, rows.schema.field("score").type) == (
        pa.int64(),
        pa.float64(),
    )
    assert rows.to_pylist() == [{"extra": "x", "id": 1, "score": 7.0, "batch_id": "b"}]
    free = open_catalog().load_table("aerofs.free").scan().to_arrow()
    assert free.to_pylist() == [{"when": dt.date(2024, 1, 2), "n": 3, "batch_id": "b"}]
