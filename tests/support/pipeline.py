"""Helpers for the pipeline tests: running the batch assets, the sample batch's expected
outputs, sensor ticks evaluated as the daemon evaluates them, and the product's own
definitions and instance."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget

from aerofs_pipelines.defs.assets import BATCH_ASSETS
from aerofs_pipelines.defs.checks import BATCH_CHECKS
from aerofs_pipelines.defs.jobs import batch_job
from aerofs_pipelines.defs.lake import LAKE_ASSETS
from aerofs_pipelines.defs.partitions import batches_partitions
from aerofs_pipelines.defs.resources import default_resources
from aerofs_pipelines.defs.sensors import SensorTuning, build_landing_sensor
from aerofs_pipelines.lake.storage import Storage
from aerofs_pipelines.landing.scan import record_ready

REPO = Path(__file__).resolve().parents[2]

BAD_ORDERS = (
    "order_id,order_date,customer,amount,quantity,note\n"
    "1,2024-01-01,Acme,10.50,2,\n"
    "1,2024-01-02,Smith,5.00,0,duplicate id and zero quantity\n"
    "3,2024-01-03,Zoë,7.25,4,\n"
)


def env_resources(monkeypatch: pytest.MonkeyPatch, landing: str, lake: str) -> dict[str, Any]:
    """``default_resources()`` as the code location builds them, from the environment."""
    monkeypatch.setenv("AEROFS_LANDING", landing)
    monkeypatch.setenv("AEROFS_LAKE", lake)
    monkeypatch.delenv("AEROFS_DATASETS", raising=False)
    # the lake's table catalog lives in the instance folder: never the repo's
    home = tempfile.mkdtemp(prefix="aerofs-home-") if lake.startswith("s3://") else None
    monkeypatch.setenv("DAGSTER_HOME", home or str(Path(lake).parent / "home"))
    return default_resources()


def run_batches(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    batch_ids: Sequence[str],
    *,
    raise_on_error: bool = True,
) -> dg.ExecuteInJobResult:
    """Materialize the batch assets and checks for ``batch_ids`` in ONE run."""
    new = [b for b in batch_ids if not instance.has_dynamic_partition("batches", b)]
    if new:
        instance.add_dynamic_partitions("batches", new)
    kwargs: dict[str, Any] = {}
    if len(batch_ids) == 1:
        kwargs["partition_key"] = batch_ids[0]
    else:
        kwargs["tags"] = {
            "dagster/asset_partition_range_start": batch_ids[0],
            "dagster/asset_partition_range_end": batch_ids[-1],
        }
    return dg.materialize(
        [*BATCH_ASSETS, *LAKE_ASSETS, *BATCH_CHECKS],
        instance=instance,
        resources=resources,
        raise_on_error=raise_on_error,
        **kwargs,
    )


def snapshot(store: Storage) -> dict[str, bytes]:
    """Every object of the lake and its bytes."""
    return {f.key: store.read_bytes(f.key) for f in store.list_files()}


def checks_by_name(result: dg.ExecuteInJobResult) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialization_metadata(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> dict[str, Any]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey.from_user_string(asset), asset_partitions=[partition]
        ),
        limit=1,
    ).records
    assert records, f"no materialization of {asset} for {partition}"
    mat = records[0].asset_materialization
    assert mat is not None
    return {k: v.value for k, v in mat.metadata.items()}


def table_output(lake: Storage, batch_id: str, name: str) -> str:
    """The lake key of the table the batch's file ``name`` became (from its manifest:
    ``tables/<dataset>/batch=<id>/<stem>.<version>.parquet``)."""
    manifest = json.loads(lake.read_bytes(f"manifests/{batch_id}.json"))
    (entry,) = [f for f in manifest["files"] if f["name"] == name]
    assert entry["output"], f"{batch_id}/{name} has no output: {entry['reason']}"
    return str(entry["output"])


def assert_sample_outputs(lake: Storage, batch_id: str, bad_line: int) -> None:
    """The sample batch's Parquet, rejects, manifest and text statistics are right."""
    manifest = json.loads(lake.read_bytes(f"manifests/{batch_id}.json"))
    files = {f["name"]: f for f in manifest["files"]}
    assert set(files) == {"orders.csv", "notes.txt", "_SUCCESS"}
    assert files["orders.csv"]["status"] == "processed"
    assert files["orders.csv"]["dataset"] == "orders"
    assert len(files["orders.csv"]["digest"]) == 64
    assert files["notes.txt"]["status"] == "processed"
    assert files["_SUCCESS"]["status"] == "skipped"
    assert manifest["counts"] == {"processed": 2, "quarantined": 0, "skipped": 1}

    output = files["orders.csv"]["output"]
    assert re.fullmatch(rf"tables/orders/batch={batch_id}/orders\.[0-9a-f]{{12}}\.parquet", output)
    with lake.local_path(output) as path:
        table = pq.read_table(path)
    assert table.num_rows == 199
    assert set(table.column("batch_id").to_pylist()) == {batch_id}
    assert table.schema.field("order_id").type == "int64"
    assert str(table.schema.field("order_date").type) == "date32[day]"
    customers = set(table.column("customer").to_pylist())
    assert {"Smith, Jane", 'The "Big" Shop', "Zoë Ångström", "東京商事"} <= customers
    notes = table.column("note").to_pylist()
    assert "first line of a note\nsecond line of the same note" in notes

    with lake.local_path(f"rejects/orders/batch={batch_id}/orders.rejects.parquet") as path:
        rejects = pq.read_table(path).to_pylist()
    assert len(rejects) == 1
    assert rejects[0]["line"] == bad_line
    assert "expected 6 fields, found 8" in rejects[0]["reason"]

    stats = json.loads(lake.read_bytes(f"text_stats/batch={batch_id}/notes.txt.json"))
    assert stats["invalid_utf8_bytes"] == 1
    assert stats["lines"] == 122
    assert stats["top_words"][0] == ["the", 125]
    assert stats["file"] == "notes.txt"
    assert stats["digest"] == files["notes.txt"]["digest"]


# --------------------------------------------------------------------------- sensor


@dg.asset(
    partitions_def=batches_partitions,
    group_name="batch",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def batch_manifest() -> None:
    """Stand-in for the real per-batch assets: the sensor only needs the job's partitions."""


def evaluate_tick(
    instance: dg.DagsterInstance,
    sensor: dg.SensorDefinition,
    repo: dg.RepositoryDefinition,
    cursor: str | None,
) -> SensorExecutionData:
    """One tick of ``sensor`` from ``cursor``, its partition requests applied as the
    daemon applies them."""
    context = dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, repository_def=repo
    )
    data = sensor.evaluate_tick(context)
    for request in data.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return data


class Daemon:
    """Evaluates a sensor the way the daemon does: the stored cursor, then the requests."""

    def __init__(self, instance: dg.DagsterInstance, sensor: dg.SensorDefinition) -> None:
        self.instance = instance
        self.sensor = sensor
        self.repo = dg.Definitions(
            assets=[batch_manifest], jobs=[batch_job], sensors=[sensor]
        ).get_repository_def()
        self.cursor: str | None = None
        self.requested: list[str] = []

    def tick(self) -> list[str]:
        data = evaluate_tick(self.instance, self.sensor, self.repo, self.cursor)
        if data.cursor is not None:
            self.cursor = data.cursor
        keys = [str(r.partition_key) for r in data.run_requests or []]
        assert all(r.run_key == r.partition_key for r in data.run_requests or [])
        self.requested.extend(keys)
        return keys

    def drain(self, limit: int = 50) -> list[str]:
        out: list[str] = []
        for _ in range(limit):
            keys = self.tick()
            if not keys:
                return out
            out.extend(keys)
        raise AssertionError("sensor never ran dry")


def land(root: Path, batch_id: str, *, complete: bool = True, journal: bool = False) -> None:
    (root / batch_id).mkdir(parents=True, exist_ok=True)
    (root / batch_id / "data.csv").write_text("a,b\n1,2\n")
    if complete:
        (root / batch_id / "_SUCCESS").write_text("")
    if journal:
        record_ready(str(root), batch_id)


def sensor_for(root: Path, **tuning: float) -> dg.SensorDefinition:
    return build_landing_sensor(landing=str(root), tuning=SensorTuning(**tuning))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the product


def product_instance(home: Path) -> dg.DagsterInstance:
    """An instance loaded from the product's dagster.yaml in a fresh DAGSTER_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def product_defs() -> dg.Definitions:
    """``definitions.defs`` as the code location builds it from the current environment."""
    import aerofs_pipelines.definitions as module

    return importlib.reload(module).defs()


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.RunRequest], list[str], str | None]:
    """One tick of the product's ``landing_sensor``: its run requests, the batches it
    registered, its new cursor."""
    repo = defs.get_repository_def()
    data = evaluate_tick(instance, repo.get_sensor_def("landing_sensor"), repo, cursor)
    added: list[str] = []
    for request in data.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        assert request.partitions_def_name == "batches"
        added.extend(request.partition_keys)
    return list(data.run_requests or []), added, data.cursor


def launch(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInJobResult:
    """Execute the run a request names, as the run worker would (in process here)."""
    job = defs.resolve_job_def(request.job_name or "process_batch")
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=dict(request.tags),
        raise_on_error=False,
    )


def check_results(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    out: dict[str, bool] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        assert event is not None
        evaluation = event.event_specific_data
        out[evaluation.check_name] = evaluation.passed  # type: ignore[union-attr]
    return out


@contextmanager
def daemon_workspace(
    module: str, instance: dg.DagsterInstance, location: str
) -> Iterator[WorkspaceProcessContext]:
    """``<module>:defs`` loaded as Dagster's daemons load a code location, for their
    iterations (sensor, backfill, freshness) run in the test's process."""
    target = ModuleTarget(
        module_name=module, attribute="defs", working_directory=str(REPO), location_name=location
    )
    with create_test_daemon_workspace_context(target, instance) as workspace:
        yield workspace
