"""Alerts, end to end through ``aerofs serve``, on the wall clock (issue 15).

The real platform as a user runs it (gateway, webserver, daemon with its sensor and
freshness daemons, run workers; polling shortened as in every live test) with
``AEROFS_ALERT_WEBHOOK_URL`` pointing at a local HTTP receiver and a registry whose
``orders`` are expected every minute. Batches land with ``aerofs ingest``:

* one breaking the blocking schema check: exactly one message, within 60 s of landing,
  naming the batch and the check;
* one processed with a file quarantined: one summary message naming the batch;
* then nothing more lands: about a minute after the good batch, ``orders`` goes stale
  and one freshness message says so.

No message is ever sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aerofs_pipelines.landing.ingest import ingest
from tests.support.live_server import LiveServer, product_server
from tests.support.pipeline import BAD_ORDERS
from tests.support.processes import wait_until
from tests.support.receivers import HttpReceiver, http_receiver

REGISTRY = """\
datasets:
  orders:
    patterns: ["orders*.csv"]
    expected_every: 1m
    columns:
      order_id: {type: int64, nullable: false, unique: true, checks: {ge: 1}}
      order_date: {type: date32, nullable: false}
      customer: {type: string, nullable: false}
      amount: {type: float64}
      quantity: {type: int64, checks: {ge: 1}}
      note: {type: string}
"""
GOOD_ORDERS = "order_id,order_date,customer,amount,quantity,note\n1,2026-12-01,Acme,10.5,2,\n"
PUBLIC = "https://aerofs.example.com"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, HttpReceiver]]:
    tmp = tmp_path_factory.mktemp("alerts-live")
    (tmp / "datasets.yaml").write_text(REGISTRY)
    with http_receiver() as hook:
        settings = {
            "AEROFS_LANDING": str(tmp / "landing"),
            "AEROFS_LAKE": str(tmp / "lake"),
            "AEROFS_DATASETS": str(tmp / "datasets.yaml"),
            "AEROFS_ALERT_WEBHOOK_URL": hook.url,
            "AEROFS_PUBLIC_URL": PUBLIC,
            "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",  # Dagster's; its default is 30 s
        }
        with product_server(tmp, settings) as server:
            yield server, hook


def land(tmp: Path, batch: str, files: dict[str, str | bytes], landing: str) -> float:
    """``aerofs ingest`` of ``files``; when it returned (monotonic)."""
    folder = tmp / "src" / batch
    folder.mkdir(parents=True)
    for name, body in files.items():
        path = folder / name
        path.write_bytes(body if isinstance(body, bytes) else body.encode())
    ingest([str(p) for p in sorted(folder.iterdir())], batch, landing)
    return time.monotonic()


def alerts_of(hook: HttpReceiver, kind: str) -> list[dict[str, Any]]:
    return [r.json()["alert"] for r in hook.delivered() if r.json()["alert"]["kind"] == kind]


def test_failure_quarantine_and_freshness_are_each_told_once(
    live: tuple[LiveServer, HttpReceiver], tmp_path: Path
) -> None:
    server, hook = live
    landing = server.env["AEROFS_LANDING"]

    landed = land(tmp_path, "bad-1", {"orders.csv": BAD_ORDERS}, landing)
    (failed,) = wait_until(
        lambda: alerts_of(hook, "run_failed"), "the failure alert", timeout=60, interval=0.5
    )
    told_after = time.monotonic() - landed
    assert told_after < 60
    assert failed["batch"] == "bad-1" and failed["dataset"] == "orders"
    assert "blocking check tables_match_schema" in failed["summary"]
    assert failed["link"].startswith(f"{PUBLIC}/runs/")

    land(
        tmp_path,
        "good-1",
        {"orders.csv": GOOD_ORDERS, "blob.csv": b"\x00\x01binary\x00" * 64},
        landing,
    )
    (quarantined,) = wait_until(
        lambda: alerts_of(hook, "files_quarantined"), "the quarantine alert", timeout=120
    )
    assert quarantined["batch"] == "good-1"
    assert quarantined["summary"].startswith("batch good-1 (blob): 1 of 3 file(s) quarantined")

    # orders expected every minute: the freshness daemon fails lake/orders about 60 s
    # after good-1 published, and the stale-dataset sensor (every 30 s) tells it
    (stale,) = wait_until(
        lambda: alerts_of(hook, "dataset_stale"), "the freshness alert", timeout=150
    )
    assert stale["dataset"] == "orders" and stale["batch"] == "good-1"
    assert stale["summary"].startswith("dataset orders received no batch in 1m (last: batch good-1")
    assert stale["link"] == f"{PUBLIC}/assets/lake/orders"

    time.sleep(20)  # more ticks of every alert sensor: nothing is told twice
    kinds = sorted(r.json()["alert"]["kind"] for r in hook.requests)
    assert kinds == ["dataset_stale", "files_quarantined", "run_failed"], kinds
    print(f"failure alert {told_after:.1f} s after aerofs ingest returned")
