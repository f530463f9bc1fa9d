"""The alert sensors (``defs/alerts.py``) on real failed runs, with real receivers.

Runs fail for real (the product's batch assets on a batch breaking its blocking check, or
a tiny job whose step raises); the sensors are evaluated as the daemon evaluates them,
from their stored cursors; time is driven through the sensors' clock, never slept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from aerofs_pipelines.defs.alerts import (
    DELIVERY_SENSOR,
    FAILURE_SENSOR,
    build_alert_sensors,
    default_status,
)
from aerofs_pipelines.defs.jobs import PIPELINE_TAGS
from aerofs_pipelines.defs.sensors import BATCH_TAG
from tests.support.pipeline import BAD_ORDERS, env_resources, product_defs, run_batches
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


# --------------------------------------------------------------------------- helpers


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Daemon:
    """Ticks the two alert sensors as the sensor daemon does: from the stored cursor."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.clock = Clock()
        self.failure, self.delivery = build_alert_sensors(
            clock=self.clock, status=dg.DefaultSensorStatus.RUNNING
        )
        self.cursor: str | None = None
        self.failure_tick()  # the first tick only starts after the latest failure

    def failure_tick(self, cursor: str | None = None) -> SensorExecutionData:
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor or self.cursor)
        data = self.failure.evaluate_tick(context)
        for reaction in data.dagster_run_reactions or []:
            assert reaction.error is None, reaction.error
        if data.cursor is not None and cursor is None:
            self.cursor = data.cursor
        return data

    def delivery_tick(self, seconds_later: float = 0) -> str | None:
        self.clock.now += seconds_later
        data = self.delivery.evaluate_tick(dg.build_sensor_context(instance=self.instance))
        assert not data.run_requests
        return data.skip_message


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
    assert repo.has_sensor_def(FAILURE_SENSOR) and repo.has_sensor_def(DELIVERY_SENSOR)


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
