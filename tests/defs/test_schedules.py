"""The nightly schedule finds failed and missing batches and re-runs them as a real backfill.

The code location is this module (``defs``), served by a real gRPC code server; the
backfill is executed by Dagster's backfill daemon iteration on a real SQLite instance.
"""

import datetime as dt
import logging
import os
from pathlib import Path

import dagster as dg
import pytest
from dagster import AssetExecutionContext
from dagster._core.execution.backfill import BulkActionStatus
from dagster._daemon.backfill import execute_backfill_iteration

from aerofs_pipelines.defs.jobs import batch_job
from aerofs_pipelines.defs.partitions import batches_partitions
from aerofs_pipelines.defs.schedules import build_nightly_backfill_schedule
from tests.support.pipeline import daemon_workspace

FAIL_DIR = "AEROFS_TEST_FAIL_DIR"


@dg.asset(
    partitions_def=batches_partitions,
    group_name="batch",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def batch_manifest(context: AssetExecutionContext) -> None:
    """Stand-in: fails for the batches named by files in ``$AEROFS_TEST_FAIL_DIR``."""
    for key in context.partition_keys:
        if (Path(os.environ[FAIL_DIR]) / key).exists():
            raise RuntimeError(f"batch {key} is broken")


@dg.asset(
    partitions_def=batches_partitions,
    group_name="batch",
    deps=[batch_manifest],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def batch_summary() -> None:
    """Stand-in for the last per-batch asset."""


nightly = build_nightly_backfill_schedule()
defs = dg.Definitions(assets=[batch_manifest, batch_summary], jobs=[batch_job], schedules=[nightly])


@pytest.fixture
def instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synchronous_instance: dg.DagsterInstance
) -> dg.DagsterInstance:
    monkeypatch.setenv(FAIL_DIR, str(tmp_path / "fail"))
    (tmp_path / "fail").mkdir()
    return synchronous_instance


def test_nightly_backfill_reruns_failed_and_missing(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    keys = [f"b{i}" for i in range(6)]
    instance.add_dynamic_partitions("batches", keys)
    (tmp_path / "fail" / "b2").touch()
    assets = [batch_manifest, batch_summary]
    for key in ("b0", "b1", "b2", "b4", "b5"):  # b3 never ran: missing
        dg.materialize(assets, partition_key=key, instance=instance, raise_on_error=False)
    (tmp_path / "fail" / "b2").unlink()  # fixed upstream; tonight's re-run succeeds

    tick_time = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick_time,
        repository_def=defs.get_repository_def(),
    )
    result = nightly.evaluate_tick(context)
    assert "launched backfill nightly-20261126-0200" in str(result.skip_message)
    backfill = instance.get_backfill("nightly-20261126-0200")
    assert backfill is not None and backfill.is_asset_backfill
    subset = backfill.asset_backfill_data.target_subset  # type: ignore[union-attr]
    targeted = {ap.partition_key for ap in subset.iterate_asset_partitions()}
    assert targeted == {"b2", "b3"}  # adjacent: one contiguous range, one run
    # The same tick evaluated again (a retried tick) launches nothing new.
    again = nightly.evaluate_tick(context)
    assert "already launched" in str(again.skip_message)

    logger = logging.getLogger("test_backfill")
    with daemon_workspace(__name__, instance, "test_location") as workspace:
        for _ in range(6):
            list(execute_backfill_iteration(workspace, logger))
            backfill = instance.get_backfill("nightly-20261126-0200")
            assert backfill is not None
            if backfill.status != BulkActionStatus.REQUESTED:
                break
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": "nightly-20261126-0200"}))
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    for asset in (batch_manifest, batch_summary):
        assert instance.get_materialized_partitions(asset.key) == set(keys)

    later = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick_time + dt.timedelta(days=1),
        repository_def=defs.get_repository_def(),
    )
    assert "every batch is materialized" in str(nightly.evaluate_tick(later).skip_message)
