"""The nightly backfill: re-run every batch whose assets failed or were never materialized.

Dagster 1.13's scheduler launches runs only (``RunRequest.for_asset_graph_subset`` is
honoured by the sensor and automation daemons, not by the scheduler), so the schedule
creates the backfill itself through the instance — the same ``PartitionBackfill`` the
UI's "Materialize → backfill" creates — under an id derived from the tick time, so a
retried tick never launches it twice. The backfill daemon then runs it under the assets'
``BackfillPolicy.single_run()``, one run per contiguous range of partitions; which
batches it covers is :func:`aerofs_pipelines.batch.backfill_ranges.contiguous_selection`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

import dagster as dg

from aerofs_pipelines import _dagster_compat
from aerofs_pipelines.batch.backfill_ranges import contiguous_selection
from aerofs_pipelines.defs.assets import PER_BATCH_GROUPS
from aerofs_pipelines.defs.jobs import batch_job
from aerofs_pipelines.defs.partitions import BATCHES, batches_partitions

NIGHTLY_CRON = "0 2 * * *"
BACKFILL_TAG = "aerofs/backfill"


def failed_or_missing(
    instance: dg.DagsterInstance, asset_keys: Sequence[dg.AssetKey], partition_keys: list[str]
) -> list[str]:
    """Partitions (in the given order) where some asset is failed or missing, none running."""
    bad: set[str] = set()
    running: set[str] = set()
    for asset_key in asset_keys:
        status = instance.get_status_by_partition(asset_key, partition_keys, batches_partitions)
        for key in partition_keys:
            value = status.get(key) if status is not None else None
            if value == dg.AssetPartitionStatus.IN_PROGRESS:
                running.add(key)
            elif value != dg.AssetPartitionStatus.MATERIALIZED:
                bad.add(key)
    return [k for k in partition_keys if k in bad and k not in running]


def batch_asset_keys(context: dg.ScheduleEvaluationContext) -> list[dg.AssetKey]:
    """The per-batch assets of the code location (group ``batch``)."""
    graph = context.repository_def.asset_graph
    return sorted(dg.AssetSelection.groups(*PER_BATCH_GROUPS).resolve(graph), key=str)


def launch_backfill(
    context: dg.ScheduleEvaluationContext, backfill_id: str, *, max_runs: int, max_extra: int
) -> str:
    """Create the backfill of failed/missing batches (idempotent per id); return a summary."""
    instance = context.instance
    if instance.get_backfill(backfill_id) is not None:
        return f"backfill {backfill_id} already launched"
    all_keys = list(instance.get_dynamic_partitions(BATCHES))
    asset_keys = batch_asset_keys(context)
    wanted = failed_or_missing(instance, asset_keys, all_keys)
    if not wanted:
        return "every batch is materialized"
    selection = contiguous_selection(all_keys, wanted, max_runs=max_runs, max_extra=max_extra)
    _dagster_compat.add_asset_backfill(
        instance,
        context.repository_def,
        backfill_id=backfill_id,
        asset_keys=asset_keys,
        partition_keys=selection.keys,
        tags={BACKFILL_TAG: "nightly"},
        title=f"Nightly re-run of {len(selection.failed_or_missing)} batches",
        description="Failed or missing batches: "
        + ", ".join(selection.failed_or_missing[:50])
        + (" …" if len(selection.failed_or_missing) > 50 else ""),
        run_config=None,  # the location's executor, as every run (defs/jobs.py)
        created_at=time.time(),
    )
    return (
        f"launched backfill {backfill_id}: {len(selection.failed_or_missing)} failed or missing "
        f"batches, {len(selection.keys)} in {len(selection.ranges)} ranges"
    )


def build_nightly_backfill_schedule(
    name: str = "nightly_backfill",
    *,
    cron_schedule: str = NIGHTLY_CRON,
    max_runs: int = 4,
    max_extra: int = 200,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    """A schedule that launches one backfill of failed or missing batches per tick."""

    @dg.schedule(
        name=name,
        cron_schedule=cron_schedule,
        job=batch_job,
        execution_timezone="UTC",
        default_status=default_status,
        description="Nightly backfill of failed or missing batches (single-run policy).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.SkipReason:
        when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        backfill_id = f"nightly-{when.astimezone(dt.UTC):%Y%m%d-%H%M}"
        summary = launch_backfill(context, backfill_id, max_runs=max_runs, max_extra=max_extra)
        context.log.info(summary)
        return dg.SkipReason(summary)

    return _schedule


nightly_backfill = build_nightly_backfill_schedule()

SCHEDULES = [nightly_backfill]
