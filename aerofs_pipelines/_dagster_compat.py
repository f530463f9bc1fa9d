"""The one module that touches Dagster's private modules (``dagster._*``).

Everything else uses Dagster's public API. Each name here is a shim over something
Dagster (1.13) does not export, and ``tests/test_dagster_compat.py`` has one test per
shim that fails, naming the shim, when an upgrade changes what it relies on: an upgrade
starts with that test file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.events import RunFailureReason
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionsFilter,
    PartitionBackfill,
)
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._core.storage.tags import (
    BACKFILL_ID_TAG,
    RETRY_NUMBER_TAG,
    RUN_FAILURE_REASON_TAG,
    WILL_RETRY_TAG,
)
from dagster._core.storage.upath_io_manager import escape_dotdot_segments, escape_leading_slash
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import (
    ModuleTarget,
    WorkspaceFileTarget,
    WorkspaceLoadTarget,
)
from dagster._core.workspace.permissions import (
    LOCATION_SCOPED_PERMISSIONS,
    PermissionResult,
    Permissions,
)
from dagster._serdes import ConfigurableClass, ConfigurableClassData

__all__ = [
    "DAEMON_MODULE",
    "LOCATION_SCOPED_PERMISSIONS",
    "ConfigurableClass",
    "ConfigurableClassData",
    "DagsterStorage",
    "InstigatorTicks",
    "LocalComputeLogManager",
    "PermissionResult",
    "Permissions",
    "WorkspaceLoadTarget",
    "WorkspaceProcessContext",
    "WorkspaceRequestContext",
    "add_asset_backfill",
    "add_partition_metadata",
    "backfill_ids_tagged",
    "backfill_run_request",
    "escape_partition_path",
    "failing_freshness",
    "instigator_ticks",
    "load_target",
    "run_retry_number",
    "run_will_retry",
    "sqlite_storage",
]

DAEMON_MODULE = "dagster._daemon"
"""``python -m`` entry point of ``dagster-daemon`` (when its script is not installed)."""


# --------------------------------------------------------------------------- gateway


def load_target(workspace_file: str | None, module: str, attribute: str) -> WorkspaceLoadTarget:
    """The webserver's load target: a workspace file, else a Python module."""
    if workspace_file is not None:
        return WorkspaceFileTarget(paths=[workspace_file])
    return ModuleTarget(
        module_name=module, attribute=attribute, working_directory=None, location_name=None
    )


# --------------------------------------------------------------------------- backfills


def backfill_run_request(
    asset_keys: Sequence[dg.AssetKey],
    partitions: dg.PartitionsDefinition[Any],
    partition_keys: Sequence[str],
    tags: Mapping[str, str],
) -> dg.RunRequest:
    """A sensor's request for ONE backfill of ``asset_keys`` over ``partition_keys``
    (``RunRequest.for_asset_graph_subset`` takes a private ``AssetGraphSubset``)."""
    subset = partitions.subset_with_partition_keys(partition_keys)
    return dg.RunRequest.for_asset_graph_subset(
        AssetGraphSubset.create_empty_subset()._replace(
            partitions_subsets_by_asset_key={key: subset for key in asset_keys}
        ),
        tags=tags,
    )


def backfill_ids_tagged(instance: dg.DagsterInstance, tags: Mapping[str, str]) -> list[str]:
    """Ids of the backfills carrying every one of ``tags``."""
    found = instance.get_backfills(filters=BulkActionsFilter(tags=dict(tags)))
    return [backfill.backfill_id for backfill in found]


def add_asset_backfill(
    instance: dg.DagsterInstance,
    repository: dg.RepositoryDefinition,
    *,
    backfill_id: str,
    asset_keys: Sequence[dg.AssetKey],
    partition_keys: Sequence[str],
    tags: Mapping[str, str],
    title: str,
    description: str,
    run_config: Mapping[str, Any] | None,
    created_at: float,
) -> None:
    """Create the same asset backfill the UI's "Materialize → backfill" creates (a
    schedule cannot request one in Dagster 1.13)."""
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=repository.asset_graph,
            partition_names=list(partition_keys),
            asset_selection=list(asset_keys),
            backfill_timestamp=created_at,
            tags=dict(tags),
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=title,
            description=description,
            run_config=run_config,
        )
    )


# --------------------------------------------------------------------------- assets


def add_partition_metadata(
    context: dg.AssetExecutionContext, metadata: Mapping[str, Any], partition_key: str
) -> bool:
    """Attach ``metadata`` to the materialization of one partition of the step's asset,
    without the check that re-reads every dynamic partition of the instance
    (``context.add_asset_metadata(..., partition_key=)`` does, once per call).

    Writes through the step's metadata accumulator, the object the public call updates.
    False when that internal is not there (the caller then uses the public call).
    """
    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator = getattr(step, "_metadata_accumulator", None)
    if step is None or not hasattr(accumulator, "with_additional_asset_metadata"):
        return False
    step._metadata_accumulator = accumulator.with_additional_asset_metadata(  # type: ignore[union-attr]
        asset_key=context.asset_key, metadata=metadata, partition_key=partition_key
    )
    return True


def escape_partition_path(partition: str) -> str:
    """A partition key as a relative path that stays under its base folder (``..``
    segments and a leading ``/`` escaped, as Dagster's ``UPathIOManager`` asks of
    subclasses on hierarchical filesystems)."""
    return escape_dotdot_segments(escape_leading_slash(partition))


# --------------------------------------------------------------------------- instance


def sqlite_storage(base_dir: str, inst_data: ConfigurableClassData | None) -> DagsterStorage:
    """Dagster's own SQLite instance storage under ``base_dir``."""
    return DagsterSqliteStorage.from_local(base_dir=base_dir, inst_data=inst_data)


# --------------------------------------------------------------------------- run retries


def run_will_retry(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether Dagster's run retries will re-execute this failed run.

    The instance tags a failed run ``dagster/will_retry`` (``WILL_RETRY_TAG``) when run
    retries are on, just AFTER it stores the failure event, so the run is read again; a
    run still without the tag gets Dagster's own rule, as its auto-reexecution daemon
    does. A run of a backfill that has ended (or is gone) is not retried (the daemon's
    rule too).
    """
    run = instance.get_run_by_id(run.run_id) or run
    value = run.tags.get(WILL_RETRY_TAG)
    if value is not None:
        will = value.strip().lower() == "true"
    elif instance.run_retries_enabled:
        raw = run.tags.get(RUN_FAILURE_REASON_TAG)
        reason = RunFailureReason(raw) if raw in RunFailureReason._value2member_map_ else None
        will = bool(auto_reexecution_should_retry_run(instance, run, reason))
    else:
        will = False
    backfill_id = run.tags.get(BACKFILL_ID_TAG)
    if will and backfill_id is not None:
        backfill = instance.get_backfill(backfill_id)
        will = backfill is not None and backfill.status not in BULK_ACTION_TERMINAL_STATUSES
    return will


def run_retry_number(run: dg.DagsterRun) -> int:
    """How many automatic retries came before this run (0: the first attempt)."""
    try:
        return int(run.tags.get(RETRY_NUMBER_TAG, "0"))
    except ValueError:
        return 0


# --------------------------------------------------------------------------- alerts


def failing_freshness(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey]
) -> dict[dg.AssetKey, float]:
    """The assets among ``keys`` whose freshness policy the freshness daemon now finds
    failing (``FreshnessState.FAIL``), each with when it started to (epoch seconds)."""
    records = instance.get_freshness_state_records(list(keys))
    return {
        key: record.updated_at.timestamp()
        for key, record in records.items()
        if record.freshness_state == FreshnessState.FAIL
    }


@dataclass(frozen=True)
class InstigatorTicks:
    """A running sensor's or schedule's ticks since some time, oldest first."""

    name: str
    kind: str
    """``sensor`` or ``schedule``."""
    location: str
    ticks: tuple[tuple[int, float, bool, object | None], ...]
    """``(tick id, timestamp, failed, error)`` per ended tick; ``error``, a failed tick's
    ``SerializableErrorInfo`` (Dagster's wrappers around the user's error as causes)."""


def instigator_ticks(instance: dg.DagsterInstance, after: float) -> list[InstigatorTicks]:
    """Every running sensor's and schedule's ticks after ``after`` (epoch seconds), with
    the failed ones' errors: what a tick-failure alert reads."""
    found = []
    for state in instance.all_instigator_state():  # a stopped one has no new ticks
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
        rows = [
            (tick.tick_id, tick.timestamp, tick.status == TickStatus.FAILURE, tick.error)
            for tick in sorted(ticks, key=lambda t: t.timestamp)
            if tick.status != TickStatus.STARTED  # in progress: judged when it ends
        ]
        found.append(
            InstigatorTicks(
                name=state.instigator_name,
                kind=state.instigator_type.value.lower(),
                location=state.origin.repository_origin.code_location_origin.location_name,
                ticks=tuple(rows),
            )
        )
    return found
