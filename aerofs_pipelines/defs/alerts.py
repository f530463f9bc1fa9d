"""Alerts, on Dagster's own machinery: four sensors that raise them, one that delivers.

* ``alert_on_batch_failure``, a run-failure sensor: a failed run of the batch pipeline
  (or of a schedule) becomes an :class:`~aerofs_pipelines.alerts.Alert` once Dagster
  will not retry it (``dagster/will_retry``; see
  :func:`aerofs_pipelines._dagster_compat.run_will_retry`). The alert names the batch
  (``dagster/partition``, ``aerofs/batch`` or the run's range), the failed blocking check
  (its description is the reason) or else the failed step (its error's first line), and
  links to the run.
* ``alert_on_quarantined_files``, a run-status sensor on success: a batch that was
  processed with files quarantined, in one message per batch (how many, the first
  reason), read from the run's ``batch_summary`` and the batch's manifest.
* ``alert_on_stale_datasets``: a dataset with ``expected_every:`` in the registry has a
  freshness policy on ``lake/<dataset>``, which Dagster's freshness daemon evaluates;
  when it turns failing, one message (per time it turns failing).
* ``alert_on_failing_ticks``: a sensor or schedule (the landing sensor, the maintenance
  schedule, ...) whose tick fails after ticks that did not: one message per run of
  failures, not one per failed tick.
* ``deliver_alerts`` (every 15 s) retries what is queued, with backoff per alert and at
  most one failed attempt per destination per tick, so a destination that is down costs
  one timeout a tick and is not flooded when it comes back.

A raising sensor queues its alert, then tries it once at once. All are evaluated for the
sensor daemon (in the code server), never in a run: delivery never blocks or fails a
run. Each attempt is bounded (5 s per network operation) and a delivery tick starts none
after 30 s, well inside a sensor evaluation's time limit.

The outbox (:mod:`aerofs_pipelines.alerts.outbox`) lives in the instance's key-value
store (the daemon's cursor storage, which the landing sensor also uses), not in a sensor
cursor: sensors cannot share one. Sensors tick on parallel threads, so each document has
one writer: ``deliver_alerts`` owns ``aerofs/alerts/outbox``; each raising sensor writes
only its own ``aerofs/alerts/outbox/<sensor>``, which ``deliver_alerts`` adopts and the
raising sensor then forgets.

On by default where a destination is set (``AEROFS_ALERT_WEBHOOK_URL``,
``AEROFS_ALERT_EMAIL_TO`` with ``AEROFS_SMTP_URL``): with none, all are STOPPED (the UI
says alerts are off, rather than ticks that do nothing).
"""

import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg

from aerofs_pipelines import _dagster_compat, config
from aerofs_pipelines.alerts import (
    Alert,
    Destination,
    Outbox,
    dataset_stale,
    deliver,
    files_quarantined,
    run_failed,
    tick_failed,
)
from aerofs_pipelines.alerts.delivery import destinations_from_config
from aerofs_pipelines.alerts.outbox import Outcome, Pending
from aerofs_pipelines.defs.assets import batch_summary
from aerofs_pipelines.defs.jobs import PIPELINE_TAGS
from aerofs_pipelines.defs.resources import DatasetRegistry, LakeStore
from aerofs_pipelines.defs.sensors import BATCH_TAG
from aerofs_pipelines.lake.layout import read_manifest
from aerofs_pipelines.lake.storage import Storage

__all__ = [
    "DELIVERY_SENSOR",
    "FAILURE_SENSOR",
    "OUTBOX_KEY",
    "QUARANTINE_SENSOR",
    "STALE_SENSOR",
    "TICK_SENSOR",
    "AlertSensors",
    "alert_on_batch_failure",
    "alert_on_failing_ticks",
    "alert_on_quarantined_files",
    "alert_on_stale_datasets",
    "build_alert_sensors",
    "deliver_alerts",
]

FAILURE_SENSOR = "alert_on_batch_failure"
QUARANTINE_SENSOR = "alert_on_quarantined_files"
STALE_SENSOR = "alert_on_stale_datasets"
TICK_SENSOR = "alert_on_failing_ticks"
DELIVERY_SENSOR = "deliver_alerts"
OUTBOX_KEY = "aerofs/alerts/outbox"
"""Instance key-value entry: the outbox ``deliver_alerts`` owns."""
SENSOR_OUTBOX_KEY = "aerofs/alerts/outbox/{sensor}"
"""The outbox of a sensor that raises alerts (written by that sensor alone)."""
DESTINATION_SETTINGS = ("AEROFS_ALERT_WEBHOOK_URL", "AEROFS_ALERT_EMAIL_TO", "AEROFS_SMTP_URL")
INTERVAL_SECONDS = 15
CHECK_INTERVAL_SECONDS = 30
"""The stale-dataset and tick-failure sensors (the freshness daemon runs every 30 s)."""
TICK_LOOKBACK_SECONDS = 900.0
"""How far back the tick-failure sensor reads ticks (its cursor skips those it judged)."""
TICK_BUDGET_SECONDS = 30.0
"""A delivery tick starts no attempt after this long (ticks time out at 60 s)."""
MAX_ATTEMPTS_PER_TICK = 50

_PARTITION_TAG = "dagster/partition"
_SCHEDULE_TAG = "dagster/schedule_name"
_RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
_LAKE_STEP = re.compile(r"^lake__(?P<dataset>\w+)$")
"""The step of ``lake/<dataset>`` (defs/lake.py): its dataset."""
_QUALIFIED_ERROR = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")


def alerts_configured() -> bool:
    """Whether any destination is set (not parsed: a bad value must not stop loading)."""
    return any(config.is_set(name) for name in DESTINATION_SETTINGS)


def default_status() -> dg.DefaultSensorStatus:
    """RUNNING where a destination is set, else STOPPED."""
    if alerts_configured():
        return dg.DefaultSensorStatus.RUNNING
    return dg.DefaultSensorStatus.STOPPED


# --------------------------------------------------------------------------- the outbox


def read_outbox(instance: dg.DagsterInstance, key: str) -> Outbox:
    raw = instance.daemon_cursor_storage.get_cursor_values({key}).get(key)
    return Outbox.from_json(raw)


def write_outbox(instance: dg.DagsterInstance, key: str, box: Outbox) -> None:
    instance.daemon_cursor_storage.set_cursor_values({key: box.to_json()})


def attempt(
    box: Outbox,
    entry: Pending,
    destinations: Sequence[Destination],
    now: float,
    down: set[str],
) -> Outcome | None:
    """Try ``entry`` at the destinations it still needs, except those in ``down``
    (failed already this tick); what came of it (None: nothing tried). Adds the
    destinations that fail to ``down``."""
    wanted = [d for d in destinations if d.name not in entry.sent_to]
    if destinations and not wanted:  # every destination set now has it
        return box.record(entry.alert.key, now)
    tried = [d for d in wanted if d.name not in down]
    if not tried:
        return None
    failed = {f.destination: f.error for f in deliver(entry.alert, tried)}
    down.update(failed)
    return box.record(
        entry.alert.key,
        now,
        sent=[d.name for d in tried if d.name not in failed],
        failed=failed,
        complete=len(tried) == len(wanted),
    )


# --------------------------------------------------------------------------- the alert


@dataclass(frozen=True)
class Cause:
    """What failed in a run, why (one line), and the dataset it concerns."""

    what: str
    why: str | None
    dataset: str | None


def batch_of(tags: Mapping[str, str]) -> str | None:
    """The batch a run processed: its partition, ``aerofs/batch``, or its range."""
    if tags.get(_PARTITION_TAG):
        return tags[_PARTITION_TAG]
    if tags.get(BATCH_TAG):
        return tags[BATCH_TAG]
    start, end = (tags.get(t) for t in _RANGE_TAGS)
    if start and end:
        return start if start == end else f"{start}…{end}"
    return None


def is_batch_run(tags: Mapping[str, str]) -> bool:
    """A run of the batch pipeline: tagged so, or over batches (every partitioned asset
    of this code location is per batch)."""
    pipeline = all(tags.get(k) == v for k, v in PIPELINE_TAGS.items())
    return pipeline or batch_of(tags) is not None


def error_line(error: object) -> str | None:
    """The first line of an error's root cause (``ValueError: …``), if any."""
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        return None
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    return _QUALIFIED_ERROR.sub("", line) or None


def failed_blocking_checks(
    instance: dg.DagsterInstance, run_id: str
) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    found = []
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event is not None else None
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.blocking
            and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ):
            found.append(evaluation)
    return found


def _check_cause(checks: list[dg.AssetCheckEvaluation]) -> Cause:
    first = checks[0]
    what = f"blocking check {first.check_name} on {first.asset_key.to_user_string()}"
    if len(checks) > 1:
        what += f" (and {len(checks) - 1} more)"
    reason = first.metadata.get("reason")
    why = first.description or (str(reason.value) if reason is not None else None)
    named = first.metadata.get("failed_datasets")
    dataset = str(named.value) if named is not None else None
    path = first.asset_key.path
    if dataset is None and len(path) == 2 and path[0] == "lake":
        dataset = path[1]
    return Cause(what, why, dataset)


def failure_cause(context: dg.RunFailureSensorContext) -> Cause:
    """A failed blocking check when one failed the run, else the first failed step,
    else the run's own failure (a crashed worker, a timeout)."""
    checks = failed_blocking_checks(context.instance, context.dagster_run.run_id)
    if checks:
        return _check_cause(checks)
    steps = context.get_step_failure_events()
    if steps:
        step = steps[0]
        key = step.step_key or "?"
        match = _LAKE_STEP.match(key)
        what = f"step {key}" + (f" (and {len(steps) - 1} more)" if len(steps) > 1 else "")
        data = step.event_specific_data
        why = error_line(getattr(data, "error", None))
        return Cause(what, why, match["dataset"] if match else None)
    event = context.failure_event
    why = error_line(getattr(event.event_specific_data, "error", None)) or event.message
    return Cause("the run", why, None)


def alert_for_failed_run(context: dg.RunFailureSensorContext, now: float) -> Alert | None:
    """The alert for the failed run, or None: neither a batch run nor a schedule's, or
    Dagster retries it."""
    run = context.dagster_run
    schedule = run.tags.get(_SCHEDULE_TAG)
    if not is_batch_run(run.tags) and not schedule:
        return None
    if _dagster_compat.run_will_retry(context.instance, run):
        context.log.info(f"run {run.run_id} failed and will be retried: no alert yet")
        return None
    cause = failure_cause(context)
    return run_failed(
        run_id=run.run_id,
        batch=batch_of(run.tags),
        schedule=schedule,
        dataset=cause.dataset,
        what=cause.what,
        why=cause.why,
        retries=_dagster_compat.run_retry_number(run),
        occurred_at=now,
        public_url=_public_url(context.log),
    )


# --------------------------------------------------------------------------- raising


def _public_url(log: Any) -> str | None:
    try:
        return config.public_url()
    except config.ConfigError as exc:  # a bad link setting must not cost the alert
        log.error(f"{exc}: the alert links to the UI with a relative path")
        return None


def quarantine_alerts(
    instance: dg.DagsterInstance, run_id: str, lake: Storage, now: float, public_url: str | None
) -> list[Alert]:
    """One alert per batch of the (successful) run that has quarantined files: the
    counts from the run's ``batch_summary``, the reasons from the batch's manifest."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    found = []
    for record in records:
        done = record.asset_materialization
        if done is None or done.asset_key != batch_summary.key or done.partition is None:
            continue
        counts = {k: v.value for k, v in done.metadata.items() if isinstance(v.value, int)}
        if not counts.get("quarantined"):
            continue
        try:
            files = read_manifest(lake, done.partition).get("files", [])
        except FileNotFoundError:
            files = []
        quarantined = [
            (str(f["name"]), f.get("dataset"), str(f.get("reason") or "quarantined"))
            for f in files
            if f.get("status") == "quarantined"
        ] or [("?", None, f"{counts['quarantined']} file(s) quarantined")]
        found.append(
            files_quarantined(
                run_id=run_id,
                batch=done.partition,
                quarantined=quarantined,
                files=counts.get("files") or len(files),
                occurred_at=now,
                public_url=public_url,
            )
        )
    return found


def stale_alerts(
    instance: dg.DagsterInstance,
    expected: Mapping[str, timedelta],
    alerted: Mapping[str, float],
    public_url: str | None,
) -> list[Alert]:
    """An alert per dataset whose freshness policy turned failing after ``alerted``
    (dataset → when the last alert's failure began)."""
    keys = {dg.AssetKey(["lake", name]): name for name in expected}
    found = []
    for key, since in _dagster_compat.failing_freshness(instance, list(keys)).items():
        dataset = keys[key]
        if since <= alerted.get(dataset, 0.0):
            continue
        last = instance.fetch_materializations(key, limit=1).records
        found.append(
            dataset_stale(
                dataset=dataset,
                every=expected[dataset],
                since=since,
                last_batch=last[0].partition_key if last else None,
                last_at=last[0].timestamp if last else None,
                public_url=public_url,
            )
        )
    return found


@dataclass
class TickWatch:
    """The tick-failure sensor's cursor: per sensor or schedule (``location/name``), the
    last tick judged and whether it was failing."""

    seen: dict[str, int]
    failing: dict[str, bool]

    @classmethod
    def from_json(cls, text: str | None) -> "TickWatch":
        try:
            doc = json.loads(text) if text else {}
            return cls(dict(doc.get("seen", {})), dict(doc.get("failing", {})))
        except (ValueError, TypeError, AttributeError):
            return cls({}, {})

    def to_json(self) -> str:
        return json.dumps({"seen": self.seen, "failing": self.failing}, sort_keys=True)


def tick_alerts(
    instance: dg.DagsterInstance,
    watch: TickWatch,
    now: float,
    public_url: str | None,
    ignore: Collection[str] = (),
) -> list[Alert]:
    """An alert per sensor or schedule whose tick failed after one that did not (or its
    first judged tick); updates ``watch``. Looks back :data:`TICK_LOOKBACK_SECONDS`."""
    found = []
    for item in _dagster_compat.instigator_ticks(instance, after=now - TICK_LOOKBACK_SECONDS):
        if item.name in ignore:
            continue
        ident = f"{item.location}/{item.name}"
        for tick_id, timestamp, failed, error in item.ticks:
            if tick_id <= watch.seen.get(ident, -1):
                continue
            watch.seen[ident] = tick_id
            was_failing = watch.failing.get(ident, False)
            watch.failing[ident] = failed
            if failed and not was_failing:
                found.append(
                    tick_failed(
                        kind=item.kind,
                        name=item.name,
                        location=item.location,
                        tick_id=tick_id,
                        error=error_line(error),
                        occurred_at=timestamp,
                        public_url=public_url,
                    )
                )
    return found


class Raiser:
    """What every raising sensor does with its alerts: queue each in its own outbox
    (unless queued or sent already), then try it once at the destinations."""

    def __init__(
        self, sensor: str, clock: Callable[[], float], destinations: Callable[[], list[Destination]]
    ) -> None:
        self.key = SENSOR_OUTBOX_KEY.format(sensor=sensor)
        self.clock = clock
        self.destinations = destinations

    def raise_alerts(self, context: Any, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        instance, now = context.instance, self.clock()
        shared = read_outbox(instance, OUTBOX_KEY)  # read only: deliver_alerts writes it
        own = read_outbox(instance, self.key)
        own.forget_adopted(shared)
        new = [a for a in alerts if not shared.knows(a.key) and own.add(a, now)]
        write_outbox(instance, self.key, own)  # queued before any attempt: a crash loses none
        for alert in alerts:
            if alert not in new:
                context.log.info(f"alert {alert.key} is already queued or sent")
        if not new:
            return
        try:
            targets = self.destinations()
        except config.ConfigError as exc:
            context.log.error(f"{len(new)} alert(s) queued, not sent: {exc}")
            return
        down = shared.failing() | own.failing()
        for alert in new:
            outcome = attempt(own, own.pending[alert.key], targets, now, down)
            write_outbox(instance, self.key, own)
            context.log.info(f"{alert.headline()}: {outcome or 'queued'}")


# --------------------------------------------------------------------------- sensors


@dataclass(frozen=True)
class AlertSensors:
    """The alert sensors, built together since they share the outbox."""

    failure: dg.SensorDefinition
    quarantine: dg.SensorDefinition
    stale: dg.SensorDefinition
    ticks: dg.SensorDefinition
    delivery: dg.SensorDefinition

    def raising(self) -> tuple[dg.SensorDefinition, ...]:
        return (self.failure, self.quarantine, self.stale, self.ticks)


def build_alert_sensors(
    *,
    prefix: str = "",
    clock: Callable[[], float] = time.time,
    destinations: Callable[[], list[Destination]] = destinations_from_config,
    status: dg.DefaultSensorStatus | None = None,
) -> AlertSensors:
    """The alert sensors (names prefixed with ``prefix``). ``clock`` and ``destinations``
    are read at each tick (tests drive time with ``clock``)."""
    names = [
        prefix + n
        for n in (FAILURE_SENSOR, QUARANTINE_SENSOR, STALE_SENSOR, TICK_SENSOR, DELIVERY_SENSOR)
    ]
    failure_name, quarantine_name, stale_name, tick_name, delivery_name = names
    initial = status or default_status()
    raisers = {n: Raiser(n, clock, destinations) for n in names[:4]}

    @dg.run_failure_sensor(
        name=failure_name,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=initial,
        description="Alerts (webhook, e-mail) when a batch's run, or a schedule's, fails for "
        "good: after Dagster's run retries, naming the batch and the failed check or step.",
    )
    def _on_failure(context: dg.RunFailureSensorContext) -> None:
        # Returns None: the run-status machinery then goes on to the next failed run in
        # the same tick (a value would end the tick after one run).
        alert = alert_for_failed_run(context, clock())
        if alert is not None:
            raisers[failure_name].raise_alerts(context, [alert])

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=quarantine_name,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=initial,
        description="Alerts when a batch was processed with files quarantined: one message "
        "per batch, with how many and the first reason.",
    )
    def _on_success(context: dg.RunStatusSensorContext, lake: LakeStore) -> None:
        run = context.dagster_run
        if not is_batch_run(run.tags):
            return
        alerts = quarantine_alerts(
            context.instance, run.run_id, lake.storage, clock(), _public_url(context.log)
        )
        raisers[quarantine_name].raise_alerts(context, alerts)

    @dg.sensor(
        name=stale_name,
        minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
        default_status=initial,
        description="Alerts when a dataset with `expected_every` in the registry received no "
        "batch for that long (its lake table's freshness policy fails).",
    )
    def _on_stale(context: dg.SensorEvaluationContext, registry: DatasetRegistry) -> dg.SkipReason:
        expected = {
            d.name: d.expected_every for d in registry.registry.datasets if d.expected_every
        }
        alerted = _load_json(context.cursor)
        alerts = stale_alerts(context.instance, expected, alerted, _public_url(context.log))
        raisers[stale_name].raise_alerts(context, alerts)
        for alert in alerts:
            if alert.dataset is not None:
                alerted[alert.dataset] = alert.occurred_at
        context.update_cursor(json.dumps(alerted, sort_keys=True))
        return dg.SkipReason(
            f"{len(expected)} dataset(s) with expected_every; {len(alerts)} newly stale"
        )

    @dg.sensor(
        name=tick_name,
        minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
        default_status=initial,
        description="Alerts when a sensor or schedule (the landing sensor, lake_maintenance, "
        "...) starts failing: one message per run of failed ticks.",
    )
    def _on_ticks(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        watch = TickWatch.from_json(context.cursor)
        alerts = tick_alerts(
            context.instance, watch, clock(), _public_url(context.log), ignore={tick_name}
        )
        raisers[tick_name].raise_alerts(context, alerts)
        context.update_cursor(watch.to_json())
        failing = sorted(k for k, v in watch.failing.items() if v)
        return dg.SkipReason(f"failing: {', '.join(failing)}" if failing else "no tick failing")

    @dg.sensor(
        name=delivery_name,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=initial,
        description="Delivers queued alerts, retrying with backoff (5 s doubling to 5 min, "
        "dropped after 24 h); one message per event.",
    )
    def _deliver(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        instance = context.instance
        box = read_outbox(instance, OUTBOX_KEY)
        now = clock()
        adopted = [
            key
            for raiser in raisers.values()
            for key in box.adopt(read_outbox(instance, raiser.key), now)
        ]
        dropped = box.expire(now)
        for entry in dropped:
            context.log.error(f"alert dropped, never delivered: {entry.alert.headline()}")
        if adopted or dropped:
            write_outbox(instance, OUTBOX_KEY, box)
        targets = destinations()  # a bad setting fails the tick, visibly; nothing is lost
        if not targets:
            return dg.SkipReason(f"no alert destination set; {len(box.pending)} waiting")
        started, down = time.monotonic(), set[str]()
        counts: dict[str, int] = {}
        for entry in box.due(now)[:MAX_ATTEMPTS_PER_TICK]:
            if time.monotonic() - started > TICK_BUDGET_SECONDS:
                break
            outcome = attempt(box, entry, targets, now, down)
            if outcome is None:
                continue
            write_outbox(instance, OUTBOX_KEY, box)  # after each: a crash re-sends none
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "dropped":
                context.log.error(
                    f"alert dropped after {entry.attempts} attempts ({entry.last_error}): "
                    f"{entry.alert.headline()}"
                )
        done = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "none due"
        failing = f" (failing: {', '.join(sorted(down))})" if down else ""
        return dg.SkipReason(f"alerts: {done}; {len(box.pending)} waiting{failing}")

    return AlertSensors(_on_failure, _on_success, _on_stale, _on_ticks, _deliver)


def _load_json(text: str | None) -> dict[str, float]:
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


_SENSORS = build_alert_sensors()
alert_on_batch_failure = _SENSORS.failure
alert_on_quarantined_files = _SENSORS.quarantine
alert_on_stale_datasets = _SENSORS.stale
alert_on_failing_ticks = _SENSORS.ticks
deliver_alerts = _SENSORS.delivery
