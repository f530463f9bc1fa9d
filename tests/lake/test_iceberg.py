"""The lake's Iceberg tables: one atomic, exactly-once commit per batch, schema rules,
concurrent writers; against the real SQL catalogs (SQLite file, PostgreSQL) and read back
with pyiceberg and polars."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from pyiceberg.catalog import Catalog

from aerofs_pipelines import kernels
from aerofs_pipelines.lake import iceberg
from aerofs_pipelines.lake.iceberg import (
    BATCH_PROPERTY,
    SchemaConflict,
    SchemaFrozen,
    commit_batch,
    in_batch_filter,
    open_catalog,
)
from aerofs_pipelines.lake.pyiceberg_compat import iceberg_schema
from tests.support.lake_files import batch_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def catalog(lake: Path) -> Catalog:
    """The catalog of the shared ``lake`` fixture's lake (SQLite, under ``tmp_path``)."""
    return open_catalog()


def location(tmp: Path) -> str:
    return str(tmp / "lake" / "tables" / "orders")


def test_catalog_lives_in_the_instance_folder(catalog: Catalog, tmp_path: Path) -> None:
    assert (tmp_path / "home" / "lake" / "catalog.db").is_file()
    assert open_catalog() is catalog  # one per process and setting


def test_batches_commit_once_each_and_a_rerun_replaces_its_rows(
    catalog: Catalog, tmp_path: Path
) -> None:
    a1 = batch_file(tmp_path / "lake", "a", "part1", "id,amount\n1,1.5\n2,2.5\n")
    a2 = batch_file(tmp_path / "lake", "a", "part2", "id,amount\n3,3.5\n")
    done = commit_batch(catalog, "orders", "a", [a1, a2], location=location(tmp_path))
    assert (done.files, done.rows, done.replaced_files, done.retries) == (2, 3, 0, 0)
    b = batch_file(tmp_path / "lake", "b", "part1", "id,amount\n10,10.5\n11,11.5\n")
    commit_batch(catalog, "orders", "b", [b], location=location(tmp_path))

    table = catalog.load_table("aerofs.orders")
    assert table.location().endswith("/lake/tables/orders")
    assert table.spec().fields[0].name == "batch_id"
    assert iceberg.batch_rows(table) == {"a": 3, "b": 2}
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "amount": 1.5, "batch_id": "a"},
        {"id": 2, "amount": 2.5, "batch_id": "a"},
        {"id": 3, "amount": 3.5, "batch_id": "a"},
        {"id": 10, "amount": 10.5, "batch_id": "b"},
        {"id": 11, "amount": 11.5, "batch_id": "b"},
    ]
    assert [s.summary[BATCH_PROPERTY] for s in table.snapshots() if s.summary] == ["a", "b"]

    # a re-run of batch a (new files) replaces a's rows in one more snapshot
    a_again = batch_file(tmp_path / "lake", "a", "part1-rerun", "id,amount\n1,1.5\n2,2.5\n3,3.5\n")
    redo = commit_batch(catalog, "orders", "a", [a_again], location=location(tmp_path))
    assert (redo.files, redo.rows, redo.replaced_files) == (1, 3, 2)
    table = catalog.load_table("aerofs.orders")
    assert iceberg.batch_rows(table) == {"a": 3, "b": 2}
    assert len(table.snapshots()) == 3
    assert table.scan(row_filter=in_batch_filter("a")).to_arrow().num_rows == 3
    # the same files committed again (a re-run of the same inputs): nothing to commit
    same = commit_batch(catalog, "orders", "a", [a_again], location=location(tmp_path))
    assert (same.unchanged, same.rows, same.snapshot_id) == (True, 3, redo.snapshot_id)
    assert len(catalog.load_table("aerofs.orders").snapshots()) == 3

    # time travel: the table as it was before the re-run
    first_b = table.snapshots()[1].snapshot_id
    assert table.scan(snapshot_id=first_b).to_arrow().num_rows == 5

    # polars reads the same table (and filters by batch)
    frame = pl.scan_iceberg(table).filter(pl.col("batch_id") == "b").collect()
    assert sorted(frame["id"].to_list()) == [10, 11]


def test_a_batch_without_files_commits_nothing(catalog: Catalog, tmp_path: Path) -> None:
    done = commit_batch(catalog, "orders", "empty", [], location=location(tmp_path))
    assert done.snapshot_id is None and done.files == 0
    assert not catalog.table_exists("aerofs.orders")
    commit_batch(
        catalog,
        "orders",
        "a",
        [batch_file(tmp_path / "lake", "a", "p", "id\n1\n")],
        location=location(tmp_path),
    )
    before = len(catalog.load_table("aerofs.orders").snapshots())
    assert commit_batch(catalog, "orders", "b", [], location=location(tmp_path)).snapshot_id is None
    assert len(catalog.load_table("aerofs.orders").snapshots()) == before


def test_a_table_created_without_its_name_mapping_is_repaired_by_the_next_commit(
    catalog: Catalog, tmp_path: Path
) -> None:
    """Tables made when creation took two commits may lack the name mapping (a creator
    killed in between): the next batch's commit adds it, and readers can scan again."""
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    catalog.create_namespace("aerofs")
    schema = iceberg_schema(pa.schema([("id", pa.int64()), ("batch_id", pa.string())]))
    spec = PartitionSpec(
        PartitionField(
            schema.find_field("batch_id").field_id, 1000, IdentityTransform(), "batch_id"
        )
    )
    catalog.create_table(
        "aerofs.orders", schema=schema, partition_spec=spec, location=location(tmp_path)
    )
    done = commit_batch(
        catalog,
        "orders",
        "a",
        [batch_file(tmp_path / "lake", "a", "p", "id\n1\n2\n")],
        location=location(tmp_path),
    )
    assert done.rows == 2
    table = catalog.load_table("aerofs.orders")
    assert "schema.name-mapping.default" in table.properties
    assert table.scan().to_arrow().to_pylist() == [
        {"id": 1, "batch_id": "a"},
        {"id": 2, "batch_id": "a"},
    ]


def test_schema_evolves_freezes_and_refuses_type_changes(catalog: Catalog, tmp_path: Path) -> None:
    loc = location(tmp_path)
    commit_batch(
        catalog,
        "orders",
        "a",
        [batch_file(tmp_path / "lake", "a", "p", "id,amount\n1,1.5\n")],
        location=loc,
    )
    wider = batch_file(tmp_path / "lake", "b", "p", "id,amount,note\n2,2.5,new\n")

    with pytest.raises(SchemaFrozen) as frozen:
        commit_batch(catalog, "orders", "b", [wider], location=loc, on_schema_change="freeze")
    assert frozen.value.columns == ("note",) and "freeze" in str(frozen.value)
    assert len(catalog.load_table("aerofs.orders").snapshots()) == 1  # nothing committed

    done = commit_batch(catalog, "orders", "b", [wider], location=loc)
    assert done.added_columns == ("note",)
    rows = catalog.load_table("aerofs.orders").scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["note"]) for r in rows] == [(1, None), (2, "new")]

    clash = batch_file(tmp_path / "lake", "c", "p", "id,amount\nx1,3.5\n")  # id: string now
    with pytest.raises(SchemaConflict) as conflict:
        commit_batch(catalog, "orders", "c", [clash], location=loc)
    assert (conflict.value.column, conflict.value.table_type, conflict.value.file_type) == (
        "id",
        "long",
        "string",
    )
    assert iceberg.batch_rows(catalog.load_table("aerofs.orders")) == {"a": 1, "b": 1}


def test_files_without_a_batch_column_are_refused(catalog: Catalog, tmp_path: Path) -> None:
    src = tmp_path / "plain.csv"
    src.write_text("id\n1\n")
    dst = tmp_path / "plain.parquet"
    kernels.csv_to_parquet(src, dst)
    with pytest.raises(iceberg.LakeTableError, match="batch_id"):
        commit_batch(catalog, "orders", "a", [str(dst)], location=location(tmp_path))


def test_reserved_batch_column_in_a_file_is_an_input_error(tmp_path: Path) -> None:
    src = tmp_path / "clash.csv"
    src.write_text("id,batch_id\n1,x\n")
    with pytest.raises(kernels.InputFormatError, match="batch_id"):
        kernels.csv_to_parquet(src, tmp_path / "o.parquet", constant_columns={"batch_id": "b"})


WRITER = """
import json, sys, time
from pathlib import Path
from aerofs_pipelines import kernels
from aerofs_pipelines.lake.iceberg import commit_batch, open_catalog

root, worker, batches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
start = float(sys.argv[4])
catalog, retries = open_catalog(), 0
while time.time() < start:  # every writer creates the table at the same moment
    time.sleep(0.001)
for n in range(batches):
    batch = f"w{worker}-b{n}"
    src = root / f"{batch}.csv"
    src.write_text("id,worker\\n" + "".join(f"{n * 100 + i},{worker}\\n" for i in range(10)))
    dst = root / "lake" / "tables" / "orders" / f"batch={batch}" / "part.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": batch})
    retries += commit_batch(
        catalog, "orders", batch, [str(dst)], location=str(root / "lake" / "tables" / "orders")
    ).retries
print(json.dumps({"retries": retries}))
"""


def test_fifty_batches_from_five_processes_all_land_once_on_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "AEROFS_LAKE": str(tmp_path / "lake"),
        "AEROFS_PG_URL": pg_url,
    }
    workers, batches = 5, 10
    start = time.time() + 5  # after every writer has started and imported
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(w), str(batches), str(start)],
            cwd=REPO,
            env={"PATH": "/usr/bin:/bin", **settings},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    retries = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        retries += json.loads(out.strip().splitlines()[-1])["retries"]
    print(f"{workers * batches} concurrent commits: {retries} retries")

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:  # the catalog is in its own schema, not Dagster's
        names = conn.execute(
            sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": iceberg.PG_SCHEMA},
        ).scalars()
        assert "iceberg_tables" in set(names)
    engine.dispose()

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    table = open_catalog().load_table("aerofs.orders")
    assert iceberg.batch_rows(table) == {
        f"w{w}-b{n}": 10 for w in range(workers) for n in range(batches)
    }
    data = table.scan().to_arrow()
    keys = set(zip(data["batch_id"].to_pylist(), data["id"].to_pylist(), strict=True))
    assert len(keys) == data.num_rows == workers * batches * 10  # every row once
    assert len(table.snapshots()) == workers * batches


def test_a_deleted_lake_is_named_not_a_traceback(catalog: Catalog, tmp_path: Path) -> None:
    import shutil

    first = batch_file(tmp_path / "lake", "a", "p", "id\n1\n")
    commit_batch(catalog, "orders", "a", [first], location=location(tmp_path))
    shutil.rmtree(tmp_path / "lake")
    again = batch_file(tmp_path / "lake", "b", "p", "id\n2\n")
    with pytest.raises(iceberg.LakeTableError, match="no longer has"):
        commit_batch(catalog, "orders", "b", [again], location=location(tmp_path))


def test_old_snapshots_expire_and_the_rows_stay(catalog: Catalog, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    for n in range(5):
        done = batch_file(tmp_path / "lake", f"b{n}", "p", f"id\n{n}\n")
        commit_batch(catalog, "orders", f"b{n}", [done], location=location(tmp_path))
    future = datetime.now(UTC) + timedelta(days=1)
    assert iceberg.expire_snapshots(catalog, "orders", older_than=future, keep_last=2) == 3
    table = catalog.load_table("aerofs.orders")
    assert len(table.snapshots()) == 2
    assert iceberg.batch_rows(table) == {f"b{n}": 1 for n in range(5)}
    past = datetime.now(UTC) - timedelta(days=1)  # nothing that old: nothing expires
    assert iceberg.expire_snapshots(catalog, "orders", older_than=past, keep_last=0) == 0


def test_the_bounds_check_of_a_commit_is_pyicebergs_manifest_evaluator(
    catalog: Catalog, tmp_path: Path
) -> None:
    """``_may_hold`` compares a manifest's bounds of the batch column itself: for every
    manifest (single and merged, ids in and out of order, non-ASCII) and every probe, the
    answer is that of pyiceberg's evaluator of ``batch_id == X``."""
    from pyiceberg.expressions.visitors import inclusive_projection, manifest_evaluator

    ids = [f"2026-12-{d:02d}" for d in range(1, 13)] + ["sample-1", "Ärger", "a", "z"]
    for batch in ids:
        path = batch_file(tmp_path / "lake", batch, "p", "id,amount\n1,1.5\n")
        commit_batch(catalog, "orders", batch, [path], location=location(tmp_path))
    table = catalog.load_table("aerofs.orders")
    schema, spec = table.schema(), table.spec()
    position = [f.name for f in spec.fields].index("batch_id")
    manifests = table.current_snapshot().manifests(table.io)  # type: ignore[union-attr]
    assert any((m.added_files_count or 0) + (m.existing_files_count or 0) > 1 for m in manifests)
    probes = [*ids, "", "0", "2026-12-015", "2026-13", "sample", "Ä", "zz", "\uffff"]
    for probe in probes:
        ours = iceberg._bounds_evaluator(schema, spec, position, probe)
        projected = inclusive_projection(schema, spec)(in_batch_filter(probe))
        theirs = manifest_evaluator(spec, schema, projected)
        for manifest in manifests:
            assert ours(manifest) == theirs(manifest), (probe, manifest.partitions)
