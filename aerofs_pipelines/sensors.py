"""The landing-zone sensor: each complete batch becomes a dynamic partition and is requested.

Per tick it (1) acknowledges the previous tick's events, (2) reads new events (local
journal or SQS, see :mod:`aerofs_pipelines.landing_scan`), (3) continues or starts a
reconciliation sweep with the capacity left, and returns one ``SensorResult`` that adds
the new partitions and requests them:

* **trickle** (at most ``backfill_threshold`` new batches): one run per batch
  (``run_key`` = batch id, so the daemon never launches a batch twice);
* **backlog** (more): ONE asset backfill over the ``batch`` group for all of them
  (``RunRequest.for_asset_graph_subset``). The sensor daemon creates it as a
  ``PartitionBackfill`` and the backfill daemon runs it under the assets'
  ``BackfillPolicy.single_run()``: the batches were just added together, so they are one
  contiguous range in insertion order, i.e. one run. The daemon creates a queued run in
  ~0.28 s, so 10,000 per-batch runs take ~47 min to request; one backfill per tick does not.

Exactly once: the daemon reserves the backfill id (like run ids) and stores it with the
tick's cursor before submitting; a resumed tick submits only what it did not submit, and
``bulk_actions.key`` is unique, so a retried tick cannot create a second backfill. A
re-evaluation from the same cursor finds the batches registered and requests nothing.
In backlog mode the sensor adds the partitions itself (one batched insert) instead of
returning ``build_add_request``: Dagster's daemon checks a requested key with one query
each, ~17 ms a key on PostgreSQL. The backfill carries ``aerofs/landing-tick`` (a digest
of the cursor it started from) so it can be traced to its tick.

Interrupted ticks: the partitions are added before the daemon stores the tick with its
cursor and reserved run ids. A daemon killed in between would leave batches registered
but never requested (the next tick starts from the old cursor and finds them registered).
So before adding partitions the sensor writes the tick's batch ids to the instance's
key-value store under the digest of the cursor it started from (:func:`write_pending`);
a tick that starts from that same cursor again is a retry of an interrupted tick and
requests those batches again (runs: ``run_key`` = batch id, so the daemon drops any it
already created; a backlog: not if a backfill tagged with that cursor digest exists).
Every tick that requests something advances the cursor (``n``), so a stored tick is
never mistaken for an interrupted one.

Re-landed batches: an event (journal line, S3 notification) for a batch that is already
registered means it landed again under the same id. Batches are immutable: the sensor
compares the batch's content digest now with the one its manifest recorded when it was
processed; the same content is a no-op, different content is refused with a logged
reason (files added, changed, removed), never merged or re-run.

Work per tick is bounded by ``max_per_tick`` and a time budget; the cursor (JSON) holds
the event position and the sweep's place, so restarts resume exactly where the last
stored tick ended. Ids already registered are filtered with one batched
``get_existing_dynamic_partitions`` query per page.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from aerofs_pipelines.batches import SUCCESS_MARKER, batch_digest, batches_partitions
from aerofs_pipelines.jobs import BATCH_GROUP
from aerofs_pipelines.landing_scan import LandingZone, Refused, open_landing

if TYPE_CHECKING:
    from aerofs_pipelines.registry import Registry
    from aerofs_pipelines.storage import Storage

BATCHES = str(batches_partitions.name)

CURSOR_VERSION = 1
MAX_LOGGED_REFUSALS = 20
RACY_MTIME_NS = 2_000_000_000
"""A landing mtime this close to a sweep's start may hide a later same-tick change."""
BATCH_SELECTION = dg.AssetSelection.groups(BATCH_GROUP)
"""What the sensor requests: the per-batch assets (and their checks)."""
BATCH_TAG = "aerofs/batch"
PIPELINE_TAGS = {"aerofs/pipeline": "batch"}
BACKLOG_TAG = "aerofs/landing-backlog"
"""On a backlog backfill: how many batches it covers."""
TICK_TAG = "aerofs/landing-tick"
"""On a backlog backfill: digest of the cursor its tick started from."""
THRESHOLD_ENV = "AEROFS_SENSOR_BACKFILL_THRESHOLD"
PENDING_KEY = "aerofs/{sensor}/pending"
"""Instance key-value entry: the batches the last requesting tick registered, and its start."""
MAX_RELANDED_CHECKS = 50
"""Re-landed batches whose content is compared per tick; more are logged unchecked."""


@dataclass(frozen=True)
class SensorTuning:
    """Bounds of one tick; the defaults meet the targets of issue 3 (see bench/pipeline.py)."""

    max_per_tick: int = 1000
    """New batches per tick: keeps Dagster's per-request partition checks well under 2 s."""
    sweep_page: int = 1000
    """Folder names listed per sweep page."""
    sweep_interval: float = 60.0
    """Seconds between reconciliation sweeps (S3 with a queue: use an hour or more)."""
    full_sweep_interval: float = 3600.0
    """Seconds after which a local sweep runs even if the landing mtime did not change."""
    time_budget: float = 1.0
    """Seconds of sweeping per tick before stopping at a page boundary."""
    backfill_threshold: int = 20
    """More new batches than this in one tick are requested as one backfill, not N runs."""


def _tuning_from_env() -> SensorTuning:
    env = os.environ.get
    queue = env("AEROFS_LANDING_QUEUE")
    default_sweep = 3600.0 if queue else 60.0
    return SensorTuning(
        max_per_tick=int(env("AEROFS_SENSOR_MAX_PER_TICK", "1000")),
        sweep_interval=float(env("AEROFS_SWEEP_INTERVAL", str(default_sweep))),
        backfill_threshold=int(env(THRESHOLD_ENV, "20")),
    )


def _load_cursor(raw: str | None) -> dict[str, Any]:
    if raw:
        try:
            doc = json.loads(raw)
            if isinstance(doc, dict) and doc.get("v") == CURSOR_VERSION:
                return doc
        except ValueError:
            pass
    return {"v": CURSOR_VERSION, "ev": None, "sw": {}}


def _log_refused(context: dg.SensorEvaluationContext, refused: list[Refused]) -> None:
    for item in refused[:MAX_LOGGED_REFUSALS]:
        context.log.warning(f"refused landing entry {item.name!r}: {item.reason}")
    if len(refused) > MAX_LOGGED_REFUSALS:
        context.log.warning(f"... and {len(refused) - MAX_LOGGED_REFUSALS} more refused entries")


class _Tick:
    """One evaluation: collects new batch ids, in order, without duplicates."""

    def __init__(
        self,
        context: dg.SensorEvaluationContext,
        zone: LandingZone,
        cursor: dict[str, Any],
        tuning: SensorTuning,
    ) -> None:
        self.context = context
        self.zone = zone
        self.cursor = cursor
        self.tuning = tuning
        self.new: dict[str, None] = {}
        self.relanded: dict[str, None] = {}
        """Registered batches announced again by an event (landed again under their id)."""
        self.refused: list[Refused] = []
        self.started = time.monotonic()

    @property
    def room(self) -> int:
        return self.tuning.max_per_tick - len(self.new)

    def unregistered(self, ids: list[str]) -> list[str]:
        if not ids:
            return []
        existing = self.context.instance.get_existing_dynamic_partitions(BATCHES, ids)
        return [i for i in ids if i not in existing and i not in self.new]

    def read_events(self) -> bool:
        """Events first; True when the source may hold more (backlog)."""
        self.zone.acknowledge(self.cursor.pop("ack", None) or [])
        ack: list[str] = []
        more = True
        while more and self.room > 0 and not self.out_of_time():
            batch = self.zone.read_events(self.cursor.get("ev"), self.room)
            ack.extend(batch.ack)
            self.cursor["ev"] = batch.position
            self.refused.extend(batch.refused)
            ids = list(dict.fromkeys(batch.batch_ids))
            fresh = self.unregistered(ids)
            for batch_id in fresh:
                if not self.zone.verify_events or self.zone.is_complete(batch_id):
                    self.new[batch_id] = None
            known = set(fresh)
            self.relanded.update((i, None) for i in ids if i not in known and i not in self.new)
            more = batch.more
        if ack:
            self.cursor["ack"] = ack
        return more

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started >= self.tuning.time_budget

    def sweep_due(self, now: float) -> bool:
        sw = self.cursor["sw"]
        if sw.get("active"):
            return True
        if now - float(sw.get("at", 0.0)) < self.tuning.sweep_interval:
            return False
        token = self.zone.change_token()
        return (
            token is None
            or sw.get("tok") != token
            or bool(sw.get("incomplete"))
            or now - float(sw.get("full", 0.0)) >= self.tuning.full_sweep_interval
        )

    def sweep(self) -> None:
        """Continue (or start) the sweep until it ends, the room or the time budget runs out."""
        sw = self.cursor["sw"]
        if not sw.get("active"):
            token = self.zone.change_token()
            now = time.time()
            racy = token is not None and time.time_ns() - token < RACY_MTIME_NS
            sw.update(active=True, after=None, started=now, incomplete=0)
            sw["start_tok"] = None if racy else token
        while self.room > 0 and not self.out_of_time():
            page = self.zone.list_page(sw.get("after"), self.tuning.sweep_page)
            self.refused.extend(page.refused)
            last = sw.get("after")
            for name in self.unregistered(page.names):
                if self.room <= 0:
                    break
                if self.zone.is_complete(name):
                    self.new[name] = None
                else:
                    sw["incomplete"] = int(sw.get("incomplete", 0)) + 1
                last = name
            if self.room <= 0:
                sw["after"] = last  # resume after the last name handled
                return
            if page.next_after is None:
                self._finish_sweep()
                return
            sw["after"] = page.next_after

    def _finish_sweep(self) -> None:
        sw = self.cursor["sw"]
        started = float(sw.get("started", time.time()))
        sw.update(active=False, after=None, at=started, full=started, tok=sw.get("start_tok"))


def tick_digest(cursor: str) -> str:
    """A short, stable name for the cursor a tick started from."""
    return hashlib.sha256(cursor.encode()).hexdigest()[:16]


def backlog_request(
    context: dg.SensorEvaluationContext, keys: list[str], digest: str
) -> dg.RunRequest:
    """One backfill of the ``batch`` group's assets over ``keys`` (new partitions)."""
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError("the landing sensor needs its repository")
    graph = context.repository_def.asset_graph
    subset = batches_partitions.subset_with_partition_keys(keys)
    asset_keys = sorted(BATCH_SELECTION.resolve(graph), key=str)
    return dg.RunRequest.for_asset_graph_subset(
        AssetGraphSubset.create_empty_subset()._replace(
            partitions_subsets_by_asset_key={k: subset for k in asset_keys}
        ),
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
    from dagster._core.execution.backfill import BulkActionsFilter

    pending = read_pending(context.instance, name, digest)
    if not pending:
        return []
    existing = context.instance.get_existing_dynamic_partitions(BATCHES, pending)
    pending = [i for i in pending if i in existing]
    done = context.instance.get_backfills(filters=BulkActionsFilter(tags={TICK_TAG: digest}))
    if done:  # the interrupted tick got as far as its backfill: those batches are covered
        context.log.info(
            f"interrupted tick {digest}: backfill {done[0].backfill_id} already covers "
            f"{len(pending)} batches"
        )
        return []
    if pending:
        context.log.warning(
            f"requesting again {len(pending)} batches registered by an interrupted tick "
            f"(daemon stopped before it stored the tick): {pending[0]} … {pending[-1]}"
        )
    return pending


def _content(landing: Storage, batch_id: str, registry: Registry) -> dict[str, str | None]:
    """``{file: digest}`` of the batch as it is now, by the manifest's own rules."""
    from aerofs_pipelines.assets import build_manifest

    entries = build_manifest(landing, batch_id, registry)
    return {e.name: e.digest for e in entries if e.name != SUCCESS_MARKER}


def _recorded(lake: Storage, batch_id: str) -> dict[str, str | None] | None:
    """``{file: digest}`` from the manifest written when the batch was processed, if any."""
    try:
        doc = json.loads(lake.read_bytes(f"manifests/{batch_id}.json"))
    except FileNotFoundError:
        return None
    return {f["name"]: f.get("digest") for f in doc.get("files", []) if f["name"] != SUCCESS_MARKER}


def _diff(before: dict[str, str | None], now: dict[str, str | None]) -> str:
    def names(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

    parts = []
    for label, items in (
        ("added", sorted(set(now) - set(before))),
        ("changed", sorted(k for k in set(now) & set(before) if now[k] != before[k])),
        ("removed", sorted(set(before) - set(now))),
    ):
        if items:
            parts.append(f"{label}: {names(items)}")
    return "; ".join(parts)


def check_relanded(context: dg.SensorEvaluationContext, landing_url: str, ids: list[str]) -> None:
    """Log what a re-landed batch is: the same content (no-op) or refused new content."""
    from aerofs_pipelines import settings
    from aerofs_pipelines.registry import load_registry
    from aerofs_pipelines.storage import open_storage

    landing, lake = open_storage(landing_url), open_storage(settings.lake_url())
    registry = load_registry()
    for batch_id in ids[:MAX_RELANDED_CHECKS]:
        recorded = _recorded(lake, batch_id)
        if recorded is None:  # e.g. an SQS message delivered twice
            context.log.info(
                f"batch {batch_id!r} announced again before it was processed: not requested "
                "again (its run processes the files its marker lists, or those present "
                "when it starts)"
            )
            continue
        try:
            now = _content(landing, batch_id, registry)
        except Exception as exc:  # an incomplete or unreadable re-landing: say so, go on
            context.log.warning(f"batch {batch_id!r} landed again but cannot be read: {exc}")
            continue
        old_digest = batch_digest(recorded.items())
        new_digest = batch_digest(now.items())
        if old_digest == new_digest:
            context.log.info(
                f"batch {batch_id!r} landed again with the same content (digest "
                f"{new_digest[:16]}): already processed, nothing to do"
            )
        else:
            context.log.warning(
                f"refused re-landing of batch {batch_id!r}: its content differs from the "
                f"processed batch (digest {old_digest[:16]} → {new_digest[:16]}; "
                f"{_diff(recorded, now)}). Batches are immutable once processed: land the "
                "new content under a new batch id"
            )
    if len(ids) > MAX_RELANDED_CHECKS:
        rest = ids[MAX_RELANDED_CHECKS:]
        context.log.warning(
            f"{len(rest)} more registered batches landed again and were not compared: "
            f"{rest[0]} … {rest[-1]}"
        )


def build_landing_sensor(
    name: str = "landing_sensor",
    *,
    landing: str | None = None,
    queue: str | None = None,
    tuning: SensorTuning | None = None,
    minimum_interval_seconds: int = 10,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """A sensor over ``landing`` (default ``AEROFS_LANDING``, read at each tick)."""

    @dg.sensor(
        name=name,
        # An asset selection, not a job: only such sensors may request backfills. Per-batch
        # runs then run the implicit asset job (the location's in-process executor).
        asset_selection=BATCH_SELECTION,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Registers each complete landing-zone batch as a `batches` partition "
        "and requests one run for it, or one backfill for a backlog.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = _load_cursor(context.cursor)
        before = json.dumps(cursor, sort_keys=True)
        digest = tick_digest(before)
        settings = tuning or _tuning_from_env()
        zone = open_landing(landing, queue)
        tick = _Tick(context, zone, cursor, settings)
        tick.new.update((i, None) for i in _retry_interrupted(context, name, digest))
        backlog = tick.read_events()
        if not backlog and tick.room > 0 and tick.sweep_due(time.time()):
            tick.sweep()
        _log_refused(context, tick.refused)
        if tick.relanded:
            check_relanded(context, zone.url, list(tick.relanded))
        if not tick.new:
            after = json.dumps(cursor, sort_keys=True)
            if after != before:
                return dg.SensorResult(skip_reason="no new batches", cursor=after)
            return dg.SkipReason("no new batches")
        cursor["n"] = int(cursor.get("n", 0)) + 1  # a requesting tick always moves the cursor
        after = json.dumps(cursor, sort_keys=True)
        keys = list(tick.new)
        # Before any partition is added (here or by the daemon): a retry of this tick from
        # the same cursor requests them again (see the module docstring).
        write_pending(context.instance, name, digest, keys)
        backlog_mode = len(keys) > settings.backfill_threshold
        context.log.info(
            f"{len(keys)} new batches: {keys[0]} … {keys[-1]}"
            + (" (backlog: one backfill)" if backlog_mode else "")
        )
        if backlog_mode:
            # Registered here in one batched insert: for a dynamic-partitions request the
            # daemon checks every key with its own query (on PostgreSQL with a new
            # connection each, ~17 ms a key: 17 s for 1000). Same point of no return as
            # the request (partitions are added before the tick's cursor is stored).
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

SENSORS = [landing_sensor]
