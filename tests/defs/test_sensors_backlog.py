"""Backlog mode of the landing sensor: one backfill for many new batches, runs for a trickle.

The unit tests evaluate the sensor as the daemon does; the end-to-end tests run Dagster's
own sensor daemon and backfill daemon iterations against this module's code location,
served by a real gRPC code server, on a real SQLite instance.
"""

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster import AssetExecutionContext
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.scheduler.instigation import TickStatus
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.sensor import execute_sensor_iteration

from aerofs_pipelines.defs.partitions import batches_partitions
from aerofs_pipelines.defs.sensors import BACKLOG_TAG, TICK_TAG, SensorTuning, build_landing_sensor
from aerofs_pipelines.landing.scan import record_ready
from tests.support.pipeline import daemon_workspace

ASSET_NAMES = ("batch_manifest", "batch_summary")


def _standin(name: str, deps: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        partitions_def=batches_partitions,
        group_name="batch",
        deps=deps,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _asset(context: AssetExecutionContext) -> None:
        lake = Path(os.environ["AEROFS_LAKE"])
        lake.mkdir(parents=True, exist_ok=True)
        for key in context.partition_keys:
            assert (Path(os.environ["AEROFS_LANDING"]) / key / "_SUCCESS").exists()
            (lake / f"{name}.{key}.out").write_text(key)
            with open(lake / f"{name}.log", "a") as log:  # one line per processing
                log.write(f"{key}\n")

    return _asset


ASSETS = [_standin("batch_manifest", []), _standin("batch_summary", ["batch_manifest"])]
TUNING = SensorTuning(sweep_interval=3600, backfill_threshold=5)
sensor = build_landing_sensor(tuning=TUNING, minimum_interval_seconds=1)
defs = dg.Definitions(assets=ASSETS, sensors=[sensor], executor=dg.in_process_executor)


def land(root: Path, batch_id: str) -> None:
    (root / batch_id).mkdir(parents=True)
    (root / batch_id / "data.csv").write_text("a,b\n1,2\n")
    (root / batch_id / "_SUCCESS").write_text("")
    record_ready(str(root), batch_id)


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    landing.mkdir()
    monkeypatch.setenv("AEROFS_LANDING", str(landing))  # the code server inherits these
    monkeypatch.setenv("AEROFS_LAKE", str(lake))
    return landing, lake


@pytest.fixture
def instance(synchronous_instance: dg.DagsterInstance) -> dg.DagsterInstance:
    return synchronous_instance


# ------------------------------------------------------------------------- unit: one tick


def evaluate(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult | None:
    """One evaluation, then the partition additions (as the daemon applies them)."""
    context = dg.build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        cursor=cursor,
        repository_def=defs.get_repository_def(),
    )
    data = sensor.evaluate_tick(context)
    for request in data.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return dg.SensorResult(
        run_requests=list(data.run_requests or []), cursor=data.cursor, skip_reason=None
    )


def test_backlog_is_one_backfill_covering_every_new_batch(
    dirs: tuple[Path, Path], instance: dg.DagsterInstance
) -> None:
    landing, _ = dirs
    ids = [f"b{i:03d}" for i in range(12)]
    for b in ids:
        land(landing, b)
    result = evaluate(instance, None)
    assert result is not None and result.run_requests is not None
    (request,) = result.run_requests
    assert request.requires_backfill_daemon()
    subset = request.asset_graph_subset
    assert subset is not None
    assert subset.asset_keys == {dg.AssetKey(n) for n in ASSET_NAMES}
    for key in subset.asset_keys:
        assert sorted(subset.get_partitions_subset(key).get_partition_keys()) == ids
    assert request.tags[BACKLOG_TAG] == "12" and len(request.tags[TICK_TAG]) == 16
    assert instance.get_dynamic_partitions("batches") == ids  # insertion order = id order here

    # A retried evaluation from the same cursor (the daemon died before it stored the
    # tick): the batches are registered but were never requested, so they are requested
    # again, as the same backfill (same tick tag) ...
    again = evaluate(instance, None)
    assert again is not None and again.run_requests is not None
    (retry,) = again.run_requests
    assert retry.tags[TICK_TAG] == request.tags[TICK_TAG]
    assert retry.asset_graph_subset == request.asset_graph_subset
    # ... unless the interrupted tick got as far as creating its backfill.
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id="interrupted",
            asset_graph_subset=subset,
            dynamic_partitions_store=instance,
            backfill_timestamp=time.time(),
            tags=dict(request.tags),
            title=None,
            description=None,
            run_config=None,
        )
    )
    third = evaluate(instance, None)
    assert third is not None and not third.run_requests
    # A stored tick (its cursor) never re-requests them.
    assert not evaluate(instance, result.cursor).run_requests  # type: ignore[union-attr]


def test_trickle_below_threshold_is_one_run_per_batch(
    dirs: tuple[Path, Path], instance: dg.DagsterInstance
) -> None:
    landing, _ = dirs
    for b in ("t1", "t2", "t3"):
        land(landing, b)
    result = evaluate(instance, None)
    assert result is not None and result.run_requests is not None
    assert [(r.run_key, r.partition_key) for r in result.run_requests] == [
        ("t1", "t1"),
        ("t2", "t2"),
        ("t3", "t3"),
    ]
    assert not any(r.requires_backfill_daemon() for r in result.run_requests)
    for request in result.run_requests:  # the batch group's assets, as the sensor resolved
        assert sorted(k.to_user_string() for k in request.asset_selection or []) == sorted(
            ASSET_NAMES
        )


# ------------------------------------------------------------- end to end: the real daemons


class Daemons:
    """Dagster's sensor and backfill daemon iterations over this module's code location."""

    def __init__(self, workspace: object, instance: dg.DagsterInstance) -> None:
        self.workspace = workspace
        self.instance = instance
        self.logger = logging.getLogger("test_backlog")
        self.last = 0.0

    def sensor_tick(self, crash_at: str | None = None) -> None:
        """One sensor daemon iteration, at least the sensor's 1 s interval after the last."""
        time.sleep(max(0.0, self.last + 1.05 - time.monotonic()))
        self.last = time.monotonic()
        flags = (
            {sensor.name: {crash_at: RuntimeError(f"crash at {crash_at}")}} if crash_at else None
        )
        list(
            execute_sensor_iteration(
                self.workspace,  # type: ignore[arg-type]
                self.logger,
                None,
                None,
                debug_crash_flags=flags,
            )
        )

    def failed_tick_reservations(self) -> list[list[str]]:
        return [
            list(tick.tick_data.reserved_run_ids or [])
            for state in self.instance.all_instigator_state()
            for tick in self.instance.get_ticks(state.instigator_origin_id, state.selector_id)
            if tick.status == TickStatus.FAILURE
        ]

    def backfills(self) -> list[str]:
        return [b.backfill_id for b in self.instance.get_backfills(filters=BulkActionsFilter())]

    def run_backfills(self) -> None:
        for _ in range(20):
            list(execute_backfill_iteration(self.workspace, self.logger))  # type: ignore[arg-type]
            pending = self.instance.get_backfills(
                filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED])
            )
            if not pending:
                return
        raise AssertionError("backfills never finished")


@pytest.fixture
def daemons(instance: dg.DagsterInstance, dirs: tuple[Path, Path]) -> Iterator[Daemons]:
    with daemon_workspace(__name__, instance, "backlog_test") as workspace:
        yield Daemons(workspace, instance)


def processed(lake: Path, asset: str) -> list[str]:
    log = lake / f"{asset}.log"
    return log.read_text().split() if log.exists() else []


def test_backlog_through_the_daemons_processed_once(
    dirs: tuple[Path, Path], daemons: Daemons, instance: dg.DagsterInstance
) -> None:
    landing, lake = dirs
    ids = [f"batch-{i:03d}" for i in range(30)]
    for b in ids:
        land(landing, b)
    # The daemon fails right after storing the tick's cursor and reserved backfill id,
    # before it creates the backfill: the next iteration retries that tick.
    daemons.sensor_tick(crash_at="RUN_IDS_RESERVED")
    assert daemons.backfills() == []
    daemons.sensor_tick()
    (backfill_id,) = daemons.backfills()
    # ... under the id the failed tick reserved (stored with its cursor): no second one.
    assert daemons.failed_tick_reservations() == [[backfill_id]]
    daemons.sensor_tick()  # nothing new (the interval is 1 s; a skipped or no-op tick)
    assert daemons.backfills() == [backfill_id]

    daemons.run_backfills()
    backfill = instance.get_backfill(backfill_id)
    assert backfill is not None and backfill.status == BulkActionStatus.COMPLETED_SUCCESS
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert len(runs) == 1  # one contiguous range, single-run policy
    for asset in ASSET_NAMES:
        assert sorted(processed(lake, asset)) == ids  # all there, none twice
        assert len(list(lake.glob(f"{asset}.*.out"))) == 30

    # A trickle afterwards: one run per batch, through the sensor daemon.
    for b in ("late-1", "late-2"):
        land(landing, b)
    daemons.sensor_tick()
    late = instance.get_runs(dg.RunsFilter(tags={"aerofs/batch": "late-1"}))
    assert len(late) == 1 and late[0].status == dg.DagsterRunStatus.SUCCESS
    assert daemons.backfills() == [backfill_id]
    for asset in ASSET_NAMES:
        assert sorted(processed(lake, asset)) == sorted([*ids, "late-1", "late-2"])


def test_crash_after_backfill_created_does_not_launch_twice(
    dirs: tuple[Path, Path], daemons: Daemons, instance: dg.DagsterInstance
) -> None:
    landing, lake = dirs
    ids = [f"c{i:02d}" for i in range(8)]
    for b in ids:
        land(landing, b)
    # Fails after the backfill was submitted, before the tick is marked done.
    daemons.sensor_tick(crash_at="RUN_IDS_ADDED_TO_EVALUATIONS")
    assert len(daemons.backfills()) == 1
    for _ in range(2):
        daemons.sensor_tick()
    assert len(daemons.backfills()) == 1
    daemons.run_backfills()
    for asset in ASSET_NAMES:
        assert sorted(processed(lake, asset)) == ids
