"""The nightly backfill: re-run every batch whose assets failed or were never materialized.

Dagster 1.13's scheduler launches runs only (``RunRequest.for_asset_graph_subset`` is
honoured by the sensor and automation daemons, not by the scheduler), so the schedule
creates the backfill itself through the instance — the same ``PartitionBackfill`` the
UI's "Materialize → backfill" creates — under an id derived from the tick time, so a
retried tick never launches it twice. The backfill daemon then runs it under the assets'
``BackfillPolicy.single_run()``: one run per contiguous range of partitions. Dynamic
partitions form ranges in insertion order (dagster #32335, #15667), so the selection
fills small gaps between failed batches (healthy batches re-run idempotently) until it
needs at most ``max_runs`` runs, within a budget of extra batches.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.storage.partition_status_cache import AssetPartitionStatus

from aerofs_pipelines.batches import batches_partitions
from aerofs_pipelines.jobs import BATCH_GROUP, backfill_run_config, batch_job

BATCHES = str(batches_partitions.name)

NIGHTLY_CRON = "0 2 * * *"
BACKFILL_TAG = "aerofs/backfill"


@dataclass(frozen=True)
class Selection:
    """Batches a backfill targets, in insertion order, and what they are made of."""

    keys: list[str]
    failed_or_missing: list[str]
    ranges: list[tuple[str, str]]


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
            if value == AssetPartitionStatus.IN_PROGRESS:
                running.add(key)
            elif value != AssetPartitionStatus.MATERIALIZED:
                bad.add(key)
    return [k for k in partition_keys if k in bad and k not in running]


def contiguous_selection(
    all_keys: Sequence[str], wanted: Sequence[str], *, max_runs: int = 4, max_extra: int = 200
) -> Selection:
    """``wanted`` plus the smallest gaps between them, until at most ``max_runs`` ranges.

    Gaps are filled smallest first while the extra batches stay within ``max_extra``; the
    result is in ``all_keys`` order (insertion order: the order of Dagster's ranges).
    """
    index = {k: i for i, k in enumerate(all_keys)}
    positions = sorted(index[k] for k in set(wanted) if k in index)
    if not positions:
        return Selection([], [], [])
    runs = [[positions[0], positions[0]]]
    for p in positions[1:]:
        if p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    gaps = sorted(range(len(runs) - 1), key=lambda i: runs[i + 1][0] - runs[i][1])
    fill: set[int] = set()
    extra = 0
    for i in gaps:
        if len(runs) - len(fill) <= max_runs:
            break
        size = runs[i + 1][0] - runs[i][1] - 1
        if extra + size > max_extra:
            break
        fill.add(i)
        extra += size
    merged: list[list[int]] = []
    for i, r in enumerate(runs):
        if i > 0 and (i - 1) in fill:
            merged[-1][1] = r[1]
        else:
            merged.append(list(r))
    keys = [all_keys[p] for lo, hi in merged for p in range(lo, hi + 1)]
    wanted_sorted = [all_keys[p] for p in positions]
    return Selection(keys, wanted_sorted, [(all_keys[lo], all_keys[hi]) for lo, hi in merged])


def batch_asset_keys(context: dg.ScheduleEvaluationContext) -> list[dg.AssetKey]:
    """The per-batch assets of the code location (group ``batch``)."""
    graph = context.repository_def.asset_graph
    return sorted(dg.AssetSelection.groups(BATCH_GROUP).resolve(graph), key=str)


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
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=context.repository_def.asset_graph,
            partition_names=selection.keys,
            asset_selection=asset_keys,
            backfill_timestamp=time.time(),
            tags={BACKFILL_TAG: "nightly"},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=f"Nightly re-run of {len(selection.failed_or_missing)} batches",
            description="Failed or missing batches: "
            + ", ".join(selection.failed_or_missing[:50])
            + (" …" if len(selection.failed_or_missing) > 50 else ""),
            run_config=backfill_run_config(context.repository_def),
        )
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
