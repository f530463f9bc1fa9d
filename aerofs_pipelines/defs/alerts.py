"""Alerts when a batch fails, on Dagster's own machinery: two sensors.

* ``alert_on_batch_failure``, a run-failure sensor over this code location's jobs: a
  failed run of the batch pipeline becomes an :class:`~aerofs_pipelines.alerts.Alert`
  once Dagster will not retry it (``dagster/will_retry``; see
  :func:`aerofs_pipelines._dagster_compat.run_will_retry`). The alert names the batch
  (``dagster/partition``, ``aerofs/batch`` or the run's range), the failed blocking check
  (its description is the reason) or else the failed step (its error's first line), and
  links to the run. It is queued, then tried once at once.
* ``deliver_alerts`` (every 15 s) retries what is queued, with backoff per alert and at
  most one failed attempt per destination per tick, so a destination that is down costs
  one timeout a tick and is not flooded when it comes back.

Both are evaluated for the sensor daemon (in the code server), never in a run: delivery
never blocks or fails a run. Each attempt is bounded (5 s per network operation) and a
delivery tick starts none after 30 s, well inside a sensor evaluation's time limit.

The outbox (:mod:`aerofs_pipelines.alerts.outbox`) lives in the instance's key-value
store (the daemon's cursor storage, which the landing sensor also uses), not in a sensor
cursor: two sensors cannot share one. Sensors tick on parallel threads, so each document
has one writer: ``deliver_alerts`` owns ``aerofs/alerts/outbox``; the failure sensor
writes only its own ``aerofs/alerts/outbox/<sensor>``, which ``deliver_alerts`` adopts
and the failure sensor then forgets.

On by default where a destination is set (``AEROFS_ALERT_WEBHOOK_URL``,
``AEROFS_ALERT_EMAIL_TO`` with ``AEROFS_SMTP_URL``): with none, both sensors are STOPPED
(the UI says alerts are off, rather than ticks that do nothing).
"""

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from aerofs_pipelines import _dagster_compat, config
from aerofs_pipelines.alerts import Alert, Destination, Outbox, deliver, run_failed
from aerofs_pipelines.alerts.delivery import destinations_from_config
from aerofs_pipelines.alerts.outbox import Outcome, Pending
from aerofs_pipelines.defs.jobs import PIPELINE_TAGS
from aerofs_pipelines.defs.sensors import BATCH_TAG

__all__ = [
    "DELIVERY_SENSOR",
    "FAILURE_SENSOR",
    "OUTBOX_KEY",
    "alert_on_batch_failure",
    "build_alert_sensors",
    "deliver_alerts",
]

FAILURE_SENSOR = "alert_on_batch_failure"
DELIVERY_SENSOR = "deliver_alerts"
OUTBOX_KEY = "aerofs/alerts/outbox"
"""Instance key-value entry: the outbox ``deliver_alerts`` owns."""
SENSOR_OUTBOX_KEY = "aerofs/alerts/outbox/{sensor}"
"""The outbox of a sensor that raises alerts (written by that sensor alone)."""
DESTINATION_SETTINGS = ("AEROFS_ALERT_WEBHOOK_URL", "AEROFS_ALERT_EMAIL_TO", "AEROFS_SMTP_URL")
INTERVAL_SECONDS = 15
TICK_BUDGET_SECONDS = 30.0
"""A delivery tick starts no attempt after this long (ticks time out at 60 s)."""
MAX_ATTEMPTS_PER_TICK = 50

_PARTITION_TAG = "dagster/partition"
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
    """The alert for the failed run, or None: not a batch run, or Dagster retries it."""
    run = context.dagster_run
    if not is_batch_run(run.tags):
        return None
    if _dagster_compat.run_will_retry(context.instance, run):
        context.log.info(f"run {run.run_id} failed and will be retried: no alert yet")
        return None
    cause = failure_cause(context)
    try:
        public_url = config.public_url()
    except config.ConfigError as exc:  # a bad link setting must not cost the alert
        context.log.error(f"{exc}: the alert links to the run with a relative path")
        public_url = None
    return run_failed(
        run_id=run.run_id,
        batch=batch_of(run.tags),
        dataset=cause.dataset,
        what=cause.what,
        why=cause.why,
        retries=_dagster_compat.run_retry_number(run),
        occurred_at=now,
        public_url=public_url,
    )


# --------------------------------------------------------------------------- sensors


def build_alert_sensors(
    *,
    failure_sensor: str = FAILURE_SENSOR,
    delivery_sensor: str = DELIVERY_SENSOR,
    clock: Callable[[], float] = time.time,
    destinations: Callable[[], list[Destination]] = destinations_from_config,
    status: dg.DefaultSensorStatus | None = None,
) -> tuple[dg.SensorDefinition, dg.SensorDefinition]:
    """The run-failure sensor and the delivery sensor, sharing their outboxes. ``clock``
    and ``destinations`` are read at each tick (tests drive time with ``clock``)."""
    own_key = SENSOR_OUTBOX_KEY.format(sensor=failure_sensor)
    initial = status or default_status()

    @dg.run_failure_sensor(
        name=failure_sensor,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=initial,
        description="Alerts (webhook, e-mail) when a batch's run fails for good: after "
        "Dagster's run retries, naming the batch and the failed check or step.",
    )
    def _on_failure(context: dg.RunFailureSensorContext) -> None:
        # Returns None: the run-status machinery then goes on to the next failed run in
        # the same tick (a value would end the tick after one run).
        now = clock()
        alert = alert_for_failed_run(context, now)
        if alert is None:
            return
        instance = context.instance
        shared = read_outbox(instance, OUTBOX_KEY)  # read only: deliver_alerts writes it
        own = read_outbox(instance, own_key)
        own.forget_adopted(shared)
        if shared.knows(alert.key) or not own.add(alert, now):
            context.log.info(f"alert {alert.key} is already queued or sent")
            write_outbox(instance, own_key, own)
            return
        write_outbox(instance, own_key, own)  # queued before any attempt: a crash loses none
        try:
            targets = destinations()
        except config.ConfigError as exc:
            context.log.error(f"alert {alert.key} queued, not sent: {exc}")
            return
        down = shared.failing() | own.failing()
        outcome = attempt(own, own.pending[alert.key], targets, now, down)
        write_outbox(instance, own_key, own)
        context.log.info(f"{alert.headline()}: {outcome or 'queued'}")

    @dg.sensor(
        name=delivery_sensor,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=initial,
        description="Delivers queued alerts, retrying with backoff (5 s doubling to 5 min, "
        "dropped after 24 h); one message per event.",
    )
    def _deliver(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        instance = context.instance
        box = read_outbox(instance, OUTBOX_KEY)
        now = clock()
        adopted = box.adopt(read_outbox(instance, own_key), now)
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

    return _on_failure, _deliver


alert_on_batch_failure, deliver_alerts = build_alert_sensors()
