"""The landing sensor on S3 against the moto server: SQS notifications and listing mode."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import dagster as dg
import pytest

from aerofs_pipelines.defs.sensors import SensorTuning, build_landing_sensor
from tests.support.pipeline import Daemon


@pytest.fixture
def aws(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    return {"s3": s3, "sqs": boto3.client("sqs", endpoint_url=s3_endpoint), "bucket": bucket}


def put_batch(aws: dict[str, Any], prefix: str, batch_id: str, *, complete: bool = True) -> None:
    aws["s3"].put_object(Bucket=aws["bucket"], Key=f"{prefix}/{batch_id}/a.csv", Body=b"a\n1\n")
    if complete:
        aws["s3"].put_object(Bucket=aws["bucket"], Key=f"{prefix}/{batch_id}/_SUCCESS", Body=b"")


def test_s3_events_through_sqs(aws: dict[str, Any], instance: dg.DagsterInstance) -> None:
    sqs, bucket = aws["sqs"], aws["bucket"]
    queue_url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws["s3"].put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": "_SUCCESS"}]}},
                }
            ]
        },
    )
    sensor = build_landing_sensor(
        landing=f"s3://{bucket}/landing",
        queue=queue_url,
        tuning=SensorTuning(sweep_interval=3600),
    )
    daemon = Daemon(instance, sensor)
    put_batch(aws, "landing", "s3-b2")
    put_batch(aws, "landing", "s3-b1")
    put_batch(aws, "landing", "not valid")  # S3 keys allow what batch ids refuse
    put_batch(aws, "other", "elsewhere")  # outside the landing prefix
    assert sorted(daemon.tick()) == ["s3-b1", "s3-b2"]
    # A duplicated notification (redelivery) registers nothing twice.
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(
            {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "s3": {
                            "bucket": {"name": bucket},
                            "object": {"key": "landing/s3-b1/_SUCCESS"},
                        },
                    }
                ]
            }
        ),
    )
    assert daemon.tick() == []
    put_batch(aws, "landing", "s3-b0")
    assert daemon.tick() == ["s3-b0"]
    assert daemon.tick() == []
    # Every message was deleted once its tick was stored.
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attrs == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_s3_listing_mode_pages_and_restarts(
    aws: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    url = f"s3://{aws['bucket']}/in"
    for b in ("k2", "k1", "k1-x", "k1.y", "k3"):
        put_batch(aws, "in", b)
    put_batch(aws, "in", "k0", complete=False)
    tuning = SensorTuning(sweep_interval=0, max_per_tick=2, sweep_page=2)
    daemon = Daemon(instance, build_landing_sensor(landing=url, tuning=tuning))
    sizes = []
    while keys := daemon.tick():
        sizes.append(len(keys))
    assert max(sizes) <= 2
    assert sorted(daemon.requested) == ["k1", "k1-x", "k1.y", "k2", "k3"]
    put_batch(aws, "in", "k0")  # completed later, sorts first
    restarted = Daemon(instance, build_landing_sensor(landing=url, tuning=tuning))
    restarted.cursor = daemon.cursor
    assert restarted.drain() == ["k0"]


def test_s3_batches_announced_by_ingest_are_found_without_a_queue_or_sweep(
    aws: dict[str, Any], instance: dg.DagsterInstance, tmp_path: Any
) -> None:
    """``aerofs ingest`` (and the batch API) leave ``_aerofs/events/<batch>``: the next tick
    finds the batch with one listing, long before the sweep, and deletes the event."""
    from aerofs_pipelines.landing.ingest import ingest

    url = f"s3://{aws['bucket']}/in"
    daemon = Daemon(
        instance, build_landing_sensor(landing=url, tuning=SensorTuning(sweep_interval=3600))
    )
    assert daemon.tick() == []  # the first sweep, of an empty landing zone
    src = tmp_path / "a.csv"
    src.write_text("a\n1\n")
    ingest([str(src)], "ev-1", url)
    put_batch(aws, "in", "by-another-tool")  # not announced: waits for the sweep
    assert daemon.tick() == ["ev-1"]

    def events() -> list[str]:
        listed = aws["s3"].list_objects_v2(Bucket=aws["bucket"], Prefix="in/_aerofs/events/")
        return [o["Key"] for o in listed.get("Contents", [])]

    assert events() == ["in/_aerofs/events/ev-1"]  # until the tick is stored
    assert daemon.tick() == []
    assert events() == []
    # an event without its batch's marker, or with a name no batch may have: dropped
    put_batch(aws, "in", "half", complete=False)
    for name in ("half", "not valid"):
        aws["s3"].put_object(Bucket=aws["bucket"], Key=f"in/_aerofs/events/{name}", Body=b"")
    assert daemon.tick() == []
    assert daemon.tick() == []
    assert events() == []
    assert "by-another-tool" not in daemon.requested
