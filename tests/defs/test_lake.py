"""``lake/<dataset>``: each registered dataset's Iceberg table, published per batch after
the blocking checks, exactly once, with the registry's schema rules; read back with
pyiceberg and polars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml

from aerofs_pipelines import cli
from aerofs_pipelines.batch.catalog import build_catalog
from aerofs_pipelines.batch.validation import manifest_files
from aerofs_pipelines.defs.assets import BATCH_ASSETS
from aerofs_pipelines.defs.checks import BATCH_CHECKS
from aerofs_pipelines.defs.lake import LAKE_ASSETS, lake_table_assets
from aerofs_pipelines.defs.resources import DatasetRegistry
from aerofs_pipelines.lake import iceberg
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.registry import parse_registry
from tests.support.pipeline import checks_by_name, env_resources, materialization_metadata

REGISTRY = """
datasets:
  sensors:
    patterns: ["sensors*.csv"]
    on_schema_change: {on_change}
    columns:
      id: {{type: int64, nullable: false}}
      value: {{type: float64}}
{extra}
  sites:
    patterns: ["sites*.csv"]
    columns:
      site: {{type: string}}
"""


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    return landing, env_resources(monkeypatch, str(landing), str(lake))


def failure_message(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    return data.error.message if data.error else ""


def land(landing: Path, batch: str, files: dict[str, str]) -> None:
    folder = landing / batch
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "_SUCCESS").write_text("")


def run(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    tmp_path: Path,
    batch: str,
    *,
    on_change: str = "evolve",
    extra: str = "",
    text: str | None = None,
) -> dg.ExecuteInJobResult:
    """One batch through manifest → tables → checks → lake/<dataset> with this registry
    (``REGISTRY`` unless ``text`` gives another)."""
    text = text or REGISTRY.format(on_change=on_change, extra=extra)
    path = tmp_path / f"registry-{batch}.yaml"
    path.write_text(text)
    if not instance.has_dynamic_partition("batches", batch):
        instance.add_dynamic_partitions("batches", [batch])
    registry = parse_registry(text)
    return dg.materialize(
        [*BATCH_ASSETS, *lake_table_assets(registry), *BATCH_CHECKS],
        instance=instance,
        resources={**resources, "registry": DatasetRegistry(path=str(path))},
        partition_key=batch,
        raise_on_error=False,
    )


def test_packaged_registry_gives_one_lake_asset_per_dataset() -> None:
    assert [a.key for a in LAKE_ASSETS] == [dg.AssetKey(["lake", "orders"])]
    (spec,) = LAKE_ASSETS[0].specs
    assert spec.group_name == "lake" and "iceberg" in spec.kinds


def test_two_batches_two_datasets_evolve_and_rerun_once(
    instance: dg.DagsterInstance, setup: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    landing, resources = setup
    land(landing, "b1", {"sensors.csv": "id,value\n1,1.5\n2,2.5\n", "sites.csv": "site\nOslo\n"})
    assert run(instance, resources, tmp_path, "b1").success
    # the second batch brings a column the registry now declares; it has no sites file
    land(landing, "b2", {"sensors.csv": "id,value,unit\n3,3.5,mm\n"})
    extra = "      unit: {type: string}"
    result_b2 = run(instance, resources, tmp_path, "b2", extra=extra)
    assert result_b2.success

    catalog = iceberg.open_catalog()
    sensors = catalog.load_table("aerofs.sensors")
    rows = sensors.scan().to_arrow().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "value": 1.5, "batch_id": "b1", "unit": None},
        {"id": 2, "value": 2.5, "batch_id": "b1", "unit": None},
        {"id": 3, "value": 3.5, "batch_id": "b2", "unit": "mm"},
    ]
    frame = pl.scan_iceberg(sensors).sort("id").collect()
    assert frame["batch_id"].to_list() == ["b1", "b1", "b2"]
    assert [s.summary[iceberg.BATCH_PROPERTY] for s in sensors.snapshots() if s.summary] == [
        "b1",
        "b2",
    ]
    sites = catalog.load_table("aerofs.sites")
    assert iceberg.batch_rows(sites) == {"b1": 1} and len(sites.snapshots()) == 1

    md = materialization_metadata(instance, "lake/sensors", "b2")
    assert (md["dagster/row_count"], md["table_rows"], md["added_columns"]) == (1, 3, "unit")
    assert [c.name for c in md["dagster/column_schema"].columns] == [
        "id",
        "value",
        "batch_id",
        "unit",
    ]
    lake_checks_of_b2 = checks_by_name(result_b2)
    assert lake_checks_of_b2["batch_published_once"].passed
    assert lake_checks_of_b2["rows_match_schema"].passed
    # b2 has no sites file: lake/sites is not materialized for it (its freshness policy
    # measures the dataset's last batch), and its checks pass
    materialized = {e.asset_key for e in result_b2.get_asset_materialization_events()}
    assert dg.AssetKey(["lake", "sensors"]) in materialized
    assert dg.AssetKey(["lake", "sites"]) not in materialized

    # a re-run of b1 (same inputs) leaves the tables as they are
    assert run(instance, resources, tmp_path, "b1").success
    sensors = catalog.load_table("aerofs.sensors")
    assert iceberg.batch_rows(sensors) == {"b1": 2, "b2": 1}
    assert len(sensors.snapshots()) == 2
    # a re-run that quarantines b1's file (the registry now wants `unit`) fails rather
    # than dropping the rows b1 published before
    rerun = run(instance, resources, tmp_path, "b1", extra=extra)
    assert not rerun.success
    (failure,) = rerun.get_step_failure_events()
    assert failure.step_key == "lake__sensors"
    assert "keeps the 2 rows of the batch's earlier run" in failure_message(failure)
    assert iceberg.batch_rows(catalog.load_table("aerofs.sensors")) == {"b1": 2, "b2": 1}


def test_frozen_schema_and_type_changes_fail_the_batch_and_commit_nothing(
    instance: dg.DagsterInstance, setup: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    landing, resources = setup
    land(landing, "b1", {"sensors.csv": "id,value\n1,1.5\n"})
    assert run(instance, resources, tmp_path, "b1", on_change="freeze").success

    land(landing, "b2", {"sensors.csv": "id,value,unit\n2,2.5,mm\n"})
    frozen = run(
        instance, resources, tmp_path, "b2", on_change="freeze", extra="      unit: {type: string}"
    )
    assert not frozen.success
    (failure,) = frozen.get_step_failure_events()
    assert failure.step_key == "lake__sensors"
    assert "new columns 'unit'" in failure_message(failure)

    # the registry changes a column's type: the table refuses it, naming both types
    land(landing, "b3", {"sensors.csv": "id,value\n3,high\n"})
    retyped = REGISTRY.replace("value: {{type: float64}}", "value: {{type: string}}")
    text = retyped.format(on_change="evolve", extra="")
    path = tmp_path / "retyped.yaml"
    path.write_text(text)
    instance.add_dynamic_partitions("batches", ["b3"])
    result = dg.materialize(
        [*BATCH_ASSETS, *lake_table_assets(parse_registry(text)), *BATCH_CHECKS],
        instance=instance,
        resources={**resources, "registry": DatasetRegistry(path=str(path))},
        partition_key="b3",
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure_message(failure)
    assert "'value' is double in the table but string in this batch" in message

    sensors = iceberg.open_catalog().load_table("aerofs.sensors")
    assert iceberg.batch_rows(sensors) == {"b1": 1}  # neither b2 nor b3 reached the table
    assert len(sensors.snapshots()) == 1


SALES_EXPORT = "Sales export, January\n\nid;region;amount\n1;north;1,5\n2;south;2,25\n"


def test_unregistered_files_wait_apart_until_a_suggested_entry_claims_them(
    instance: dg.DagsterInstance,
    setup: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    landing, resources = setup
    files = {
        "sensors.csv": "id,value\n1,1.5\n",
        "sales-2024-01.csv": SALES_EXPORT,
        "sites.tsv": "site\tcountry\nOslo\tNO\n",  # named like a dataset, not its pattern
    }
    land(landing, "u1", files)
    first = run(instance, resources, tmp_path, "u1")
    assert first.success  # a warning, not a failure
    check = checks_by_name(first)["tables_are_registered"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["unregistered_files"].value == 2
    lake = open_storage(str(tmp_path / "lake"))
    entries = {f["name"]: f for f in manifest_files(lake, "u1")}
    assert entries["sensors.csv"]["registered"] is True
    for name, stem in (("sales-2024-01.csv", "sales_2024_01"), ("sites.tsv", "sites")):
        entry = entries[name]
        assert (entry["status"], entry["registered"]) == ("processed", False)
        assert entry["output"].startswith(f"unregistered/tables/{stem}/batch=u1/")
        assert "aerofs datasets suggest u1" in entry["reason"]
        assert lake.exists(entry["output"])
    catalog = iceberg.open_catalog()
    assert iceberg.batch_rows(catalog.load_table("aerofs.sensors")) == {"u1": 1}
    for absent in ("aerofs.sites", "aerofs.sales_2024_01", "aerofs.sales"):
        assert not catalog.table_exists(absent)
    _, listing = build_catalog(lake, iceberg.all_tables(catalog))
    assert {name: d["rows"] for name, d in listing["datasets"].items()} == {"sensors": 1}
    assert sorted(listing["unregistered"]) == ["sales_2024_01", "sites"]

    # the suggestion, pasted into the registry, claims the files on the batch's re-run
    registry_path = tmp_path / "registry-u1.yaml"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AEROFS_DATASETS", str(registry_path))
        assert cli.main(["datasets", "suggest", "u1"]) == 0
    suggested = yaml.safe_load(capsys.readouterr().out)["datasets"]
    assert list(suggested) == ["sales", "sites_2"]
    sales = suggested["sales"]
    assert sales["patterns"] == ["sales-*.csv"]
    assert sales["dialect"]["delimiter"] == ";" and sales["dialect"]["decimal"] == ","
    assert sales["columns"] == {
        "id": {"type": "int64"},
        "region": {"type": "string"},
        "amount": {"type": "float64"},
    }
    assert suggested["sites_2"]["patterns"] == ["sites.tsv"]
    registry = yaml.safe_load(REGISTRY.format(on_change="evolve", extra=""))
    registry["datasets"].update(suggested)
    merged = yaml.safe_dump(registry, sort_keys=False)
    second = run(instance, resources, tmp_path, "u1", text=merged)
    assert second.success
    assert checks_by_name(second)["tables_are_registered"].passed
    rows = catalog.load_table("aerofs.sales").scan().to_arrow().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "region": "north", "amount": 1.5, "batch_id": "u1"},
        {"id": 2, "region": "south", "amount": 2.25, "batch_id": "u1"},
    ]
    assert iceberg.batch_rows(catalog.load_table("aerofs.sites_2")) == {"u1": 1}
    assert not catalog.table_exists("aerofs.sites")


def test_a_dataset_without_declared_columns_takes_each_files_types_and_evolves(
    instance: dg.DagsterInstance, setup: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    landing, resources = setup
    text = 'datasets:\n  events:\n    patterns: ["events*.csv"]\n'
    land(landing, "e1", {"events.csv": "id,kind\n1,open\n"})
    assert run(instance, resources, tmp_path, "e1", text=text).success
    land(landing, "e2", {"events.csv": "id,kind,ms\n2,close,1.5\n"})
    result = run(instance, resources, tmp_path, "e2", text=text)
    assert result.success and checks_by_name(result)["tables_are_registered"].passed
    table = iceberg.open_catalog().load_table("aerofs.events")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == [
        {"id": 1, "kind": "open", "batch_id": "e1", "ms": None},
        {"id": 2, "kind": "close", "batch_id": "e2", "ms": 1.5},
    ]
    assert materialization_metadata(instance, "lake/events", "e2")["added_columns"] == "ms"


def test_a_lenient_dataset_keeps_undeclared_columns_and_its_table_gains_them(
    instance: dg.DagsterInstance, setup: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    landing, resources = setup
    text = (
        "datasets:\n  orders:\n    patterns: [orders*.csv]\n    strict: false\n"
        "    columns: {id: {type: int64, nullable: false}, amount: float64}\n"
    )
    land(landing, "l1", {"orders.csv": "amount,id\n1,1\n"})  # declared columns, any order
    assert run(instance, resources, tmp_path, "l1", text=text).success
    land(landing, "l2", {"orders.csv": "id,channel,amount\n2,web,2.5\n"})
    assert run(instance, resources, tmp_path, "l2", text=text).success
    table = iceberg.open_catalog().load_table("aerofs.orders")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == [
        {"amount": 1.0, "id": 1, "batch_id": "l1", "channel": None},
        {"amount": 2.5, "id": 2, "batch_id": "l2", "channel": "web"},
    ]
    # a file without a nullable declared column is taken: its rows read null there
    land(landing, "l3", {"orders.csv": "id,channel\n3,web\n"})
    assert run(instance, resources, tmp_path, "l3", text=text).success
    rows = iceberg.open_catalog().load_table("aerofs.orders").scan().to_arrow().to_pylist()
    assert {"amount": None, "id": 3, "batch_id": "l3", "channel": "web"} in rows
    # one without a non-nullable declared column is quarantined, named; nothing committed
    land(landing, "l4", {"orders.csv": "amount,channel\n4.5,web\n"})
    assert run(instance, resources, tmp_path, "l4", text=text).success
    md = materialization_metadata(instance, "lake/orders", "l4")
    assert md["quarantined_files"] == 1 and "was quarantined" in md["note"]
    assert 'lacks the schema\'s non-nullable columns ["id"]' in md["quarantined"]
