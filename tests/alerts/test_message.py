"""``alerts.message``: one alert, one line, the same facts in every rendering."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aerofs_pipelines.alerts.message import (
    MAX_LINE,
    MAX_REASON,
    Alert,
    dataset_stale,
    describe_every,
    files_quarantined,
    one_line,
    run_failed,
    tick_failed,
)


def failed(**overrides: object) -> Alert:
    values: dict[str, object] = {
        "run_id": "r-123",
        "batch": "2024-06-01",
        "dataset": "orders",
        "what": "blocking check tables_match_schema on tables",
        "why": "2024-06-01/orders.csv (orders): 3 failure case(s)",
        "retries": 0,
        "occurred_at": 1_700_000_000.0,
        "public_url": "https://aerofs.example.com/",
    }
    values.update(overrides)
    return run_failed(**values)  # type: ignore[arg-type]


def test_a_failed_run_names_the_batch_dataset_check_and_reason_in_one_line() -> None:
    alert = failed()
    assert alert.key == "run-failed:r-123"
    assert alert.kind == "run_failed"
    assert (alert.batch, alert.dataset) == ("2024-06-01", "orders")
    assert alert.summary == (
        "batch 2024-06-01 (orders) failed: blocking check tables_match_schema on tables"
        " — 2024-06-01/orders.csv (orders): 3 failure case(s)"
    )
    assert alert.link == "https://aerofs.example.com/runs/r-123"
    assert alert.headline() == f"[AeroFS] {alert.summary}"
    assert alert.text() == f"{alert.headline()}\n{alert.link}"


def test_retries_and_a_missing_dataset_or_public_url() -> None:
    alert = failed(dataset=None, retries=2, public_url=None)
    assert alert.summary.startswith("batch 2024-06-01 failed after 2 retries: ")
    assert alert.link == "/runs/r-123"
    assert failed(retries=1).summary.startswith("batch 2024-06-01 (orders) failed after 1 retry:")


def test_the_reason_is_one_bounded_line_without_secrets() -> None:
    why = (
        "ValueError: could not reach postgresql://aerofs:s3cr3t@db:5432/x\n"
        "  token=abc123 and password: hunter2\n" + "row data " * 200
    )
    alert = failed(why=why)
    assert "\n" not in alert.summary
    assert len(alert.summary) <= MAX_LINE
    for secret in ("s3cr3t", "abc123", "hunter2", "aerofs:"):
        assert secret not in alert.summary
    assert "postgresql://***@db:5432/x" in alert.summary
    assert alert.summary.endswith("…")
    assert MAX_REASON - 2 <= len(one_line(why)) <= MAX_REASON


def test_webhook_payloads_generic_and_slack() -> None:
    alert = failed()
    generic = alert.webhook_payload("https://ops.example.com/hooks/aerofs")
    assert generic["text"] == alert.text()
    assert generic["alert"]["key"] == "run-failed:r-123"
    assert generic["alert"]["batch"] == "2024-06-01"
    assert Alert.from_dict(generic["alert"]) == alert
    slack = alert.webhook_payload("https://hooks.slack.com/services/T0/B0/XYZ")
    assert slack == {"text": alert.text()}


def test_the_email() -> None:
    alert = failed()
    msg = alert.email("aerofs@host.example", ["ops@example.com", "data@example.com"])
    assert msg["Subject"] == alert.headline()
    assert msg["From"] == "aerofs@host.example"
    assert msg["To"] == "ops@example.com, data@example.com"
    assert msg["X-AeroFS-Alert-Key"] == alert.key
    body = msg.get_content()
    assert alert.summary in body and alert.link in body
    assert "dataset: orders" in body


def test_files_quarantined_counts_and_gives_the_first_reason() -> None:
    alert = files_quarantined(
        run_id="r-9",
        batch="b-1",
        quarantined=[
            ("blob.csv", "blob", "blob.csv: binary content (NUL bytes)"),
            ("x.csv", "blob", "unreadable"),
        ],
        files=7,
        occurred_at=1.0,
        public_url=None,
    )
    assert (alert.key, alert.kind, alert.batch, alert.dataset) == (
        "files-quarantined:r-9:b-1",
        "files_quarantined",
        "b-1",
        "blob",
    )
    assert alert.summary == (
        "batch b-1 (blob): 2 of 7 file(s) quarantined — blob.csv: binary content (NUL bytes)"
        " (and 1 more)"
    )
    assert alert.link == "/runs/r-9"
    two = files_quarantined(
        run_id="r-9",
        batch="b-1",
        quarantined=[("a.csv", "a", "bad header"), ("b.csv", "b", "x")],
        files=2,
        occurred_at=1.0,
        public_url=None,
    )
    assert two.dataset is None and "— a.csv: bad header (and 1 more)" in two.summary


def test_dataset_stale_names_the_dataset_and_its_last_batch() -> None:
    alert = dataset_stale(
        dataset="orders",
        every=timedelta(days=1),
        since=1_796_000_000.0,
        last_batch="b-12",
        last_at=1_795_900_000.0,
        public_url="https://aerofs.example.com",
    )
    assert alert.key == "dataset-stale:orders:1796000000.000"
    assert alert.summary == (
        "dataset orders received no batch in 1d (last: batch b-12, 2026-11-28 21:06 UTC)"
    )
    assert alert.link == "https://aerofs.example.com/assets/lake/orders"
    assert alert.run_id is None and "link:    https://" in str(alert.email("a@b", ["c@d"]))


def test_tick_failed_links_to_the_sensor_or_schedule() -> None:
    alert = tick_failed(
        kind="schedule",
        name="lake_maintenance",
        location="aerofs_pipelines",
        tick_id=42,
        error="OSError: no space (password=hunter2)",
        occurred_at=1.0,
        public_url=None,
    )
    assert alert.key == "tick-failed:aerofs_pipelines:lake_maintenance:42"
    assert alert.summary == "schedule lake_maintenance failed — OSError: no space (password=***"
    assert alert.link == "/locations/aerofs_pipelines/schedules/lake_maintenance"


@pytest.mark.parametrize(
    ("every", "text"),
    [
        (timedelta(weeks=2), "2w"),
        (timedelta(days=1), "1d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=61), "61s"),
    ],
)
def test_describe_every_in_the_registry_notation(every: timedelta, text: str) -> None:
    assert describe_every(every) == text
