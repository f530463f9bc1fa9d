"""The alert sensors (``defs/alerts.py``) on real failed runs, with real receivers.

Runs fail for real (the product's batch assets on a batch breaking its blocking check, or
a tiny job whose step raises); the sensors are evaluated as the daemon evaluates them,
from their stored cursors; time is driven through the sensors' clock, never slept.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.test_utils import freeze_time
from dagster._daemon.freshness import FreshnessDaemon
from dagster._daemon.sensor import execute_sensor_iteration

from aerofs_pipelines.defs.alerts import (
    DELIVERY_SENSOR,
    FAILURE_SENSOR,
    QUARANTINE_SENSOR,
    STALE_SENSOR,
    TICK_SENSOR,
    build_alert_sensors,
    default_status,
)
from aerofs_pipelines.defs.jobs import PIPELINE_TAGS
from aerofs_pipelines.defs.resources import DatasetRegistry
from aerofs_pipelines.defs.sensors import BATCH_TAG
from tests.support.pipeline import (
    BAD_ORDERS,
    daemon_workspace,
    env_resources,
    product_defs,
    run_batches,
)
from tests.support.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver

PUBLIC = "https://aerofs.example.com"
SETTINGS = (
    "AEROFS_ALERT_WEBHOOK_URL",
    "AEROFS_ALERT_EMAIL_TO",
    "AEROFS_SMTP_URL",
    "AEROFS_ALERT_EMAIL_FROM",
    "AEROFS_PUBLIC_URL",
)


# --------------------------------------------------------------------------- a failing job


@dg.op
def convert() -> None:
    raise OSError("disk full writing s3://lake/tables (password=hunter2)")


@dg.job(tags={**PIPELINE_TAGS, BATCH_TAG: "b-7"}, executor_def=dg.in_process_executor)
def flaky_batch() -> None:
    convert()


@dg.job(executor_def=dg.in_process_executor)
def housekeeping() -> None:
    convert()


# ---------------------------------------------- a code location for the real daemons

FLAKY_FLAG = "AEROFS_TEST_FLAKY_SENSOR_FLAG"
"""A file whose existence makes ``flaky_landing`` fail (set before the workspace loads)."""
batches = dg.DynamicPartitionsDefinition(name="batches")


@dg.asset(
    key=["lake", "events"],
    partitions_def=batches,
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=1)),
)
def events_table() -> None:
    """Stands for ``lake/events`` of a registry with ``expected_every: 1m``."""


@dg.sensor(minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def flaky_landing() -> dg.SkipReason:
    if Path(os.environ[FLAKY_FLAG]).exists():
        raise ConnectionError("s3://landing unreachable (secret=hunter2)")
    return dg.SkipReason("nothing landed")


defs = dg.Definitions(assets=[events_table], sensors=[flaky_landing])


# --------------------------------------------------------------------------- helpers


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Daemon:
    """Ticks the alert sensors as the sensor daemon does: from their stored cursors."""

    def __init__(
        self, instance: dg.DagsterInstance, resources: dict[str, Any] | None = None
    ) -> None:
        self.instance = instance
        self.resources = resources or {}
        self.clock = Clock()
        self.sensors = build_alert_sensors(clock=self.clock, status=dg.DefaultSensorStatus.RUNNING)
        self.failure, self.delivery = self.sensors.failure, self.sensors.delivery
        self.cursors: dict[str, str | None] = {}
        for sensor in (self.sensors.failure, self.sensors.quarantine):
            self.tick(sensor)  # a run-status sensor's first tick starts after the latest run

    def tick(self, sensor: dg.SensorDefinition, cursor: str | None = None) -> SensorExecutionData:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor or self.cursors.get(sensor.name),
            resources=self.resources,
        )
        data = sensor.evaluate_tick(context)
        for reaction in data.dagster_run_reactions or []:
            assert reaction.error is None, reaction.error
        if data.cursor is not None and cursor is None:
            self.cursors[sensor.name] = data.cursor
        return data

    @property
    def cursor(self) -> str | None:
        return self.cursors.get(self.failure.name)

    def failure_tick(self, cursor: str | None = None) -> SensorExecutionData:
        return self.tick(self.failure, cursor)

    def delivery_tick(self, seconds_later: float = 0) -> str | None:
        self.clock.now += seconds_later
        data = self.delivery.evaluate_tick(dg.build_sensor_context(instance=self.instance))
        assert not data.run_requests
        return data.skip_message


@pytest.fixture
def workspace(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """This module's ``defs`` as the daemons load a code location."""
    monkeypatch.setenv(FLAKY_FLAG, str(tmp_path / "fail"))
    with daemon_workspace(__name__, instance, "alerts_test") as context:
        yield context


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_PUBLIC_URL", PUBLIC)
    return monkeypatch


@pytest.fixture
def hook(alert_env: pytest.MonkeyPatch) -> Iterator[HttpReceiver]:
    with http_receiver() as receiver:
        alert_env.setenv("AEROFS_ALERT_WEBHOOK_URL", receiver.url)
        yield receiver


@pytest.fixture
def mail(alert_env: pytest.MonkeyPatch) -> Iterator[SmtpReceiver]:
    with smtp_receiver() as receiver:
        alert_env.setenv("AEROFS_SMTP_URL", receiver.url())
        alert_env.setenv("AEROFS_ALERT_EMAIL_TO", "ops@example.com")
        alert_env.setenv("AEROFS_ALERT_EMAIL_FROM", "aerofs@test")
        yield receiver


def text_of(request: Any) -> str:
    return str(request.json()["text"])


# --------------------------------------------------------------------------- tests


def test_a_batch_failing_its_blocking_check_is_told_once(
    instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hook: HttpReceiver,
    mail: SmtpReceiver,
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    resources = env_resources(monkeypatch, str(landing), str(lake))
    daemon = Daemon(instance)
    before = daemon.cursor
    (landing / "bad").mkdir(parents=True)
    (landing / "bad" / "orders.csv").write_text(BAD_ORDERS)
    (landing / "bad" / "_SUCCESS").write_bytes(b"")
    result = run_batches(instance, resources, ["bad"], raise_on_error=False)
    assert not result.success

    daemon.failure_tick()  # the next tick after the failure (they come every 15 s)
    assert daemon.failure.minimum_interval_seconds == 15
    (request,) = hook.requests
    alert = request.json()["alert"]
    assert (alert["batch"], alert["dataset"]) == ("bad", "orders")
    assert alert["summary"] == (
        "batch bad (orders) failed: blocking check tables_match_schema on tables"
        " — bad/orders.csv (orders): 3 failure case(s)"
    )
    assert alert["link"] == f"{PUBLIC}/runs/{result.run_id}"
    assert text_of(request) == f"[AeroFS] {alert['summary']}\n{alert['link']}"
    (msg,) = mail.messages
    assert msg["Subject"] == f"[AeroFS] {alert['summary']}"
    # nothing more: the delivery sensor has nothing to retry, and a tick retried from an
    # earlier cursor (a daemon restarted before it stored its tick) sends nothing again
    assert daemon.delivery_tick(15) == "alerts: none due; 0 waiting"
    daemon.failure_tick(cursor=before)
    daemon.delivery_tick(3600)
    assert len(hook.requests) == 1 and len(mail.messages) == 1


def test_a_receiver_down_for_a_minute_gets_the_message_once_it_recovers(
    instance: dg.DagsterInstance, hook: HttpReceiver
) -> None:
    daemon = Daemon(instance)
    hook.status = 500
    result = flaky_batch.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success

    daemon.failure_tick()  # tried at once: 500, next in 5 s
    ticks = [daemon.delivery_tick(15) for _ in range(4)]  # a minute of ticks, every 15 s
    assert ticks == [
        "alerts: 1 retry; 1 waiting (failing: webhook)",  # 15 s: next in 10 s
        "alerts: 1 retry; 1 waiting (failing: webhook)",  # 30 s: next in 20 s
        "alerts: none due; 1 waiting",
        "alerts: 1 retry; 1 waiting (failing: webhook)",  # 60 s: next in 40 s
    ]
    refused = len(hook.requests)
    assert refused == 4 and hook.delivered() == []

    hook.status = 200
    for _ in range(40):  # ten more minutes
        daemon.delivery_tick(15)
    (delivered,) = hook.delivered()
    assert len(hook.requests) == refused + 1 and hook.requests[-1] is delivered
    assert delivered.headers["x-aerofs-alert-key"] == f"run-failed:{result.run_id}"
    text = text_of(delivered)
    assert text.startswith("[AeroFS] batch b-7 failed: step convert — OSError: disk full")
    assert "password=***" in text and "hunter2" not in text


def test_no_alert_while_dagster_will_retry_the_run(tmp_path: Path, hook: HttpReceiver) -> None:
    retries = {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": True}
    with dg.instance_for_test(
        temp_dir=str(tmp_path), overrides={"run_retries": retries}
    ) as instance:
        daemon = Daemon(instance)
        first = flaky_batch.execute_in_process(instance=instance, raise_on_error=False)
        assert instance.get_run_by_id(first.run_id).tags["dagster/will_retry"] == "true"  # type: ignore[union-attr]
        daemon.failure_tick()
        assert hook.requests == []

        with dg.execute_job(
            dg.reconstructable(flaky_batch),
            instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance),
            tags={  # as the daemon tags the retry it launches (the last one allowed)
                "dagster/retry_number": "1",
                "dagster/parent_run_id": first.run_id,
                "dagster/root_run_id": first.run_id,
            },
        ) as retry:
            assert not retry.success
        daemon.failure_tick()
    (request,) = hook.requests
    assert request.json()["alert"]["key"] == f"run-failed:{retry.run_id}"
    assert "batch b-7 failed after 1 retry: step convert" in text_of(request)


def test_runs_that_are_not_the_batch_pipeline_are_not_alerted(
    instance: dg.DagsterInstance, hook: HttpReceiver
) -> None:
    daemon = Daemon(instance)
    assert not housekeeping.execute_in_process(instance=instance, raise_on_error=False).success
    daemon.failure_tick()
    daemon.delivery_tick(60)
    assert hook.requests == []


def test_a_bad_setting_queues_the_alert_and_the_delivery_tick_says_why(
    instance: dg.DagsterInstance, alert_env: pytest.MonkeyPatch
) -> None:
    alert_env.setenv("AEROFS_ALERT_EMAIL_TO", "ops@example.com")  # no AEROFS_SMTP_URL
    daemon = Daemon(instance)
    assert not flaky_batch.execute_in_process(instance=instance, raise_on_error=False).success
    daemon.failure_tick()  # queued, not sent
    with pytest.raises(Exception, match="AEROFS_ALERT_EMAIL_TO is set but AEROFS_SMTP_URL"):
        daemon.delivery_tick(15)
    with http_receiver() as receiver:
        alert_env.delenv("AEROFS_ALERT_EMAIL_TO")
        alert_env.setenv("AEROFS_ALERT_WEBHOOK_URL", receiver.url)
        assert daemon.delivery_tick(15) == "alerts: 1 delivered; 0 waiting"
        daemon.delivery_tick(15)
    (request,) = receiver.requests
    assert "batch b-7 failed" in text_of(request)


def test_on_by_default_where_a_destination_is_set(alert_env: pytest.MonkeyPatch) -> None:
    assert default_status() == dg.DefaultSensorStatus.STOPPED
    alert_env.setenv("AEROFS_ALERT_WEBHOOK_URL", "https://hooks.example.com/x")
    assert default_status() == dg.DefaultSensorStatus.RUNNING
    repo = product_defs().get_repository_def()
    for name in (FAILURE_SENSOR, QUARANTINE_SENSOR, STALE_SENSOR, TICK_SENSOR, DELIVERY_SENSOR):
        assert repo.has_sensor_def(name)  # each built with default_status() at load


def test_a_destination_down_is_tried_once_a_tick_not_flooded(
    instance: dg.DagsterInstance, hook: HttpReceiver
) -> None:
    daemon = Daemon(instance)
    hook.status = 503
    runs = [flaky_batch.execute_in_process(instance=instance, raise_on_error=False) for _ in "abc"]
    daemon.failure_tick()  # the first is tried; then the webhook is known down: queued
    assert len(hook.requests) == 1
    for _ in range(8):
        before = len(hook.requests)
        daemon.delivery_tick(15)
        assert len(hook.requests) - before <= 1
    hook.status = 200
    for _ in range(40):
        daemon.delivery_tick(15)
    keys = sorted(r.headers["x-aerofs-alert-key"] for r in hook.delivered())
    assert keys == sorted(f"run-failed:{r.run_id}" for r in runs)


def test_a_failed_run_of_a_schedule_is_told(
    instance: dg.DagsterInstance, hook: HttpReceiver
) -> None:
    daemon = Daemon(instance)
    run = housekeeping.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/schedule_name": "lake_maintenance"}
    )
    daemon.failure_tick()
    (request,) = hook.requests
    assert text_of(request).startswith(
        "[AeroFS] a run of schedule lake_maintenance failed: step convert — OSError: disk full"
    )
    assert request.json()["alert"]["link"] == f"{PUBLIC}/runs/{run.run_id}"


def test_a_batch_processed_with_quarantined_files_is_summarised_once(
    instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hook: HttpReceiver,
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    resources = env_resources(monkeypatch, str(landing), str(lake))
    daemon = Daemon(instance, {"lake": resources["lake"]})
    batch = landing / "q-1"
    batch.mkdir(parents=True)
    (batch / "notes.txt").write_text("all good here\n")
    (batch / "blob.csv").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    (batch / "_SUCCESS").write_bytes(b"")
    good = landing / "g-1"
    good.mkdir()
    (good / "notes.txt").write_text("nothing wrong\n")
    (good / "_SUCCESS").write_bytes(b"")
    assert run_batches(instance, resources, ["q-1"]).success  # quarantine fails no run
    assert run_batches(instance, resources, ["g-1"]).success

    daemon.tick(daemon.sensors.quarantine)
    (request,) = hook.requests
    alert = request.json()["alert"]
    assert (alert["kind"], alert["batch"], alert["dataset"]) == ("files_quarantined", "q-1", "blob")
    assert alert["summary"].startswith("batch q-1 (blob): 1 of 3 file(s) quarantined — blob.csv")
    assert "binary" in alert["summary"]
    daemon.tick(daemon.sensors.quarantine)
    daemon.delivery_tick(3600)
    assert len(hook.requests) == 1


def test_a_dataset_past_expected_every_is_told_once(
    instance: dg.DagsterInstance, workspace: Any, tmp_path: Path, hook: HttpReceiver
) -> None:
    registry = tmp_path / "datasets.yaml"
    registry.write_text(
        "datasets:\n  events:\n    patterns: [events*.csv]\n    expected_every: 1m\n"
    )
    daemon = Daemon(instance, {"registry": DatasetRegistry(path=str(registry))})
    freshness = FreshnessDaemon()

    def evaluate_freshness(seconds_later: float) -> None:
        """One iteration of Dagster's freshness daemon, ``seconds_later`` from now."""
        with freeze_time(time.time() + seconds_later):
            list(freshness.run_iteration(workspace))

    instance.add_dynamic_partitions("batches", ["e-1", "e-2"])
    dg.materialize([events_table], instance=instance, partition_key="e-1")
    evaluate_freshness(30)  # fresh
    daemon.tick(daemon.sensors.stale)
    assert hook.requests == []

    for _ in range(3):  # failing from 61 s on: one message
        evaluate_freshness(61)
        daemon.tick(daemon.sensors.stale)
    daemon.delivery_tick(3600)
    (request,) = hook.requests
    alert = request.json()["alert"]
    assert (alert["kind"], alert["dataset"], alert["batch"]) == ("dataset_stale", "events", "e-1")
    assert alert["summary"].startswith("dataset events received no batch in 1m (last: batch e-1, ")
    assert alert["link"] == f"{PUBLIC}/assets/lake/events"

    # a new batch makes it fresh; going quiet again is a new message
    dg.materialize([events_table], instance=instance, partition_key="e-2")
    evaluate_freshness(0)
    daemon.tick(daemon.sensors.stale)
    assert len(hook.requests) == 1
    evaluate_freshness(61)
    daemon.tick(daemon.sensors.stale)
    daemon.tick(daemon.sensors.stale)
    assert len(hook.requests) == 2
    assert "(last: batch e-2, " in text_of(hook.requests[-1])


def test_a_failing_sensor_is_told_once_per_run_of_failures(
    instance: dg.DagsterInstance, workspace: Any, tmp_path: Path, hook: HttpReceiver
) -> None:
    daemon = Daemon(instance)
    logger = logging.getLogger("test_alerts")
    flag = tmp_path / "fail"

    def sensor_daemon_iteration() -> None:  # the flaky sensor ticks at most once a second
        time.sleep(1.05)
        list(execute_sensor_iteration(workspace, logger, None, None))

    sensor_daemon_iteration()  # a good tick
    flag.touch()
    for _ in range(3):  # three failed ticks: one message
        sensor_daemon_iteration()
        daemon.tick(daemon.sensors.ticks)
    (request,) = hook.requests
    alert = request.json()["alert"]
    assert alert["kind"] == "tick_failed"
    assert alert["summary"].startswith("sensor flaky_landing failed — ")
    assert "ConnectionError: s3://landing unreachable (secret=***" in alert["summary"]
    assert "hunter2" not in text_of(request)
    assert alert["link"] == f"{PUBLIC}/locations/alerts_test/sensors/flaky_landing"

    flag.unlink()
    sensor_daemon_iteration()  # recovered
    daemon.tick(daemon.sensors.ticks)
    flag.touch()
    sensor_daemon_iteration()  # failing again: a second message
    daemon.tick(daemon.sensors.ticks)
    daemon.tick(daemon.sensors.ticks)
    assert len(hook.requests) == 2
