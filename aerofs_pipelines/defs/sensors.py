"""The landing sensor: each complete batch becomes a dynamic partition and is requested.

Each tick finds new complete batches (:class:`aerofs_pipelines.landing.discovery.Tick`:
events first, then a bounded reconciliation sweep) and returns one ``SensorResult`` that
adds the new partitions and requests them:

* **trickle** (at most ``backfill_threshold`` new batches): one run per batch
  (``run_key`` = batch id, so the daemon never launches a batch twice);
* **backlog** (more): ONE asset backfill over the ``batch`` group for all of them. The
  sensor daemon creates it as a backfill and the backfill daemon runs it under the
  assets' single-run policy: the batches were just added together, so they are one
  contiguous range in insertion order, i.e. one run (docs/capacity.md has what one run
  per batch would cost instead).

Exactly once: the daemon reserves the backfill id (like run ids) and stores it with the
tick's cursor before submitting; a resumed tick submits only what it did not submit, and
a retried tick cannot create a second backfill. A re-evaluation from the same cursor
finds the batches registered and requests nothing. In backlog mode the sensor adds the
partitions itself (one batched insert) instead of returning ``build_add_request``, which
the daemon checks with one query per key. The backfill carries ``aerofs/landing-tick``
(a digest of the cursor it started from) so it can be traced to its tick.

Interrupted ticks: the partitions are added before the daemon stores the tick with its
cursor and reserved run ids. A daemon killed in between would leave batches registered
but never requested (the next tick starts from the old cursor and finds them
registered). So before adding partitions the sensor writes the tick's batch ids to the
instance's key-value store under the digest of the cursor it started from
(:func:`write_pending`); a tick that starts from that same cursor again is a retry of an
interrupted tick and requests those batches again (runs: ``run_key`` = batch id, so the
daemon drops any it already created; a backlog: not if a backfill tagged with that
cursor digest exists). Every tick that requests something advances the cursor, so a
stored tick is never mistaken for an interrupted one.

Re-landed batches (an event for a registered id) are compared with what was processed
(:mod:`aerofs_pipelines.batch.relanding`) and logged: a no-op, or refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence

import dagster as dg

from aerofs_pipelines import _dagster_compat, config
from aerofs_pipelines.batch.relanding import judge_relanded
from aerofs_pipelines.defs.assets import PER_BATCH_GROUPS
from aerofs_pipelines.defs.jobs import PIPELINE_TAGS
from aerofs_pipelines.defs.partitions import BATCHES, batches_partitions
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.landing.discovery import LandingCursor, SensorTuning, Tick
from aerofs_pipelines.landing.scan import Refused, open_scanner
from aerofs_pipelines.registry import load_registry

__all__ = [
    "BACKLOG_TAG",
    "BATCH_TAG",
    "PIPELINE_TAGS",
    "TICK_TAG",
    "SensorTuning",
    "build_landing_sensor",
    "landing_sensor",
]

MAX_LOGGED_REFUSALS = 20
BATCH_SELECTION = dg.AssetSelection.groups(*PER_BATCH_GROUPS)
"""What the sensor requests: the per-batch assets (and their checks)."""
BATCH_TAG = "aerofs/batch"
BACKLOG_TAG = "aerofs/landing-backlog"
"""On a backlog backfill: how many batches it covers."""
TICK_TAG = "aerofs/landing-tick"
"""On a backlog backfill: digest of the cursor its tick started from."""
PENDING_KEY = "aerofs/{sensor}/pending"
"""Instance key-value entry: the batches the last requesting tick registered, and its start."""


def tuning_from_env() -> SensorTuning:
    """The tick bounds the environment sets (``AEROFS_SENSOR_*``, ``AEROFS_SWEEP_INTERVAL``)."""
    return SensorTuning(
        max_per_tick=config.sensor_max_per_tick(),
        sweep_interval=config.sweep_interval(),
        backfill_threshold=config.sensor_backfill_threshold(),
    )


def tick_digest(cursor: str) -> str:
    """A short, stable name for the cursor a tick started from."""
    return hashlib.sha256(cursor.encode()).hexdigest()[:16]


def backlog_request(
    context: dg.SensorEvaluationContext, keys: list[str], digest: str
) -> dg.RunRequest:
    """One backfill of the ``batch`` group's assets over ``keys`` (new partitions)."""
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError("the landing sensor needs its repository")
    asset_keys = sorted(BATCH_SELECTION.resolve(context.repository_def.asset_graph), key=str)
    return _dagster_compat.backfill_run_request(
        asset_keys,
        batches_partitions,
        keys,
        tags={**PIPELINE_TAGS, BACKLOG_TAG: str(len(keys)), TICK_TAG: digest},
    )


def _pending_key(sensor_name: str) -> str:
    return PENDING_KEY.format(sensor=sensor_name)


def write_pending(
    instance: dg.DagsterInstance, sensor_name: str, started_from: str, ids: list[str]
) -> None:
    """Record, before they are registered, the batches a tick from ``started_from`` requests."""
    doc = json.dumps({"from": started_from, "ids": ids})
    instance.daemon_cursor_storage.set_cursor_values({_pending_key(sensor_name): doc})


def read_pending(instance: dg.DagsterInstance, sensor_name: str, started_from: str) -> list[str]:
    """The batches an interrupted tick from the same cursor registered (else none)."""
    key = _pending_key(sensor_name)
    raw = instance.daemon_cursor_storage.get_cursor_values({key}).get(key)
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        return []
    if not isinstance(doc, dict) or doc.get("from") != started_from:
        return []
    return [str(i) for i in doc.get("ids") or []]


def _retry_interrupted(context: dg.SensorEvaluationContext, name: str, digest: str) -> list[str]:
    """Batches of an interrupted tick (same start cursor) that still need requesting."""
    pending = read_pending(context.instance, name, digest)
    if not pending:
        return []
    existing = context.instance.get_existing_dynamic_partitions(BATCHES, pending)
    pending = [i for i in pending if i in existing]
    done = _dagster_compat.backfill_ids_tagged(context.instance, {TICK_TAG: digest})
    if done:  # the interrupted tick got as far as its backfill: those batches are covered
        context.log.info(
            f"interrupted tick {digest}: backfill {done[0]} already covers {len(pending)} batches"
        )
        return []
    if pending:
        context.log.warning(
            f"requesting again {len(pending)} batches registered by an interrupted tick "
            f"(daemon stopped before it stored the tick): {pending[0]} … {pending[-1]}"
        )
    return pending


def _log_refused(context: dg.SensorEvaluationContext, refused: list[Refused]) -> None:
    for item in refused[:MAX_LOGGED_REFUSALS]:
        context.log.warning(f"refused landing entry {item.name!r}: {item.reason}")
    if len(refused) > MAX_LOGGED_REFUSALS:
        context.log.warning(f"... and {len(refused) - MAX_LOGGED_REFUSALS} more refused entries")


def _log_relanded(context: dg.SensorEvaluationContext, landing_url: str, ids: list[str]) -> None:
    """Log what each re-landed batch is: the same content (a no-op) or refused."""
    landing, lake = open_storage(landing_url), open_storage(config.lake_url())
    for verdict in judge_relanded(landing, lake, load_registry(), ids):
        log = context.log.warning if verdict.level == "warning" else context.log.info
        log(verdict.message)


TICK_SECONDS = 4
"""The landing sensor's minimum interval: under the sensor daemon's 5 s loop, so it ticks
on every loop. At 10 s ticks came 10 or 15 s apart (the loop sees 9.9 s elapsed); an
idle tick is one ``stat`` or one S3 list request (bench/latency.py, docs/capacity.md)."""


def build_landing_sensor(
    name: str = "landing_sensor",
    *,
    landing: str | None = None,
    queue: str | None = None,
    tuning: SensorTuning | None = None,
    minimum_interval_seconds: int = TICK_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """A sensor over ``landing`` (default ``AEROFS_LANDING``, read at each tick)."""

    @dg.sensor(
        name=name,
        # An asset selection, not a job: only such sensors may request backfills. Runs
        # then go through the implicit asset job (defs/jobs.py: the location's executor).
        asset_selection=BATCH_SELECTION,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Registers each complete landing-zone batch as a `batches` partition "
        "and requests one run for it, or one backfill for a backlog.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = LandingCursor.from_json(context.cursor)
        before = cursor.to_json()
        digest = tick_digest(before)
        limits = tuning or tuning_from_env()
        scanner = open_scanner(landing, queue)

        def registered(ids: Sequence[str]) -> set[str]:
            return set(context.instance.get_existing_dynamic_partitions(BATCHES, ids))

        tick = Tick(scanner, cursor, limits, registered)
        tick.new.update((i, None) for i in _retry_interrupted(context, name, digest))
        backlog = tick.read_events()
        if not backlog and tick.room > 0 and tick.sweep_due(time.time()):
            tick.sweep()
        _log_refused(context, tick.refused)
        if tick.relanded:
            _log_relanded(context, scanner.url, list(tick.relanded))
        if not tick.new:
            after = cursor.to_json()
            if after != before:
                return dg.SensorResult(skip_reason="no new batches", cursor=after)
            return dg.SkipReason("no new batches")
        cursor.requests += 1  # a requesting tick always moves the cursor
        after = cursor.to_json()
        keys = list(tick.new)
        # Before any partition is added (here or by the daemon): a retry of this tick from
        # the same cursor requests them again (see the module docstring).
        write_pending(context.instance, name, digest, keys)
        backlog_mode = len(keys) > limits.backfill_threshold
        context.log.info(
            f"{len(keys)} new batches: {keys[0]} … {keys[-1]}"
            + (" (backlog: one backfill)" if backlog_mode else "")
        )
        if backlog_mode:
            # Registered here in one batched insert: for a dynamic-partitions request the
            # daemon checks every key with its own query. Same point of no return as the
            # request (partitions are added before the tick's cursor is stored).
            context.instance.add_dynamic_partitions(BATCHES, keys)
            return dg.SensorResult(
                run_requests=[backlog_request(context, keys, digest)],
                cursor=after,
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=key, partition_key=key, tags={**PIPELINE_TAGS, BATCH_TAG: key}
                )
                for key in keys
            ],
            dynamic_partitions_requests=[batches_partitions.build_add_request(keys)],
            cursor=after,
        )

    return _sensor


landing_sensor = build_landing_sensor()
