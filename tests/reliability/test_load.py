"""Load: 1,000 batches landed at once, all processed exactly once; the gateway keeps answering.

The real platform: ``aerofs serve`` (gateway + Dagster webserver app + ``dagster-daemon``)
on the product's code location and ``dagster.yaml``, PostgreSQL instance storage, local
landing zone and lake. 1,000 seeded batches of small files (one or two CSV tables and one
or two text files each, a few KB) land together, as ``aerofs ingest`` lands them (eight
at a time). The landing sensor turns them into backlog backfills (more than
``AEROFS_SENSOR_BACKFILL_THRESHOLD`` new batches a tick), the backfill daemon runs them.

Meanwhile a client polls ``/healthz`` and an authenticated GraphQL query (the number of
runs) every 0.5 s; every answer must be a 200, and the latencies are printed.

Afterwards nothing is lost or duplicated: each batch asset has exactly one
materialization per batch, no run failed, and every output is checked against its
input (:func:`tests.reliability.batchgen.verify_batch`: every CSV row exactly once in its
Parquet table, every text file's statistics, every file in the manifest with its digest),
and the lake holds no other per-batch file.
"""

from __future__ import annotations

import collections
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from aerofs_pipelines.lake.storage import open_storage
from tests.reliability.batchgen import lake_outputs, land, make_batches, verify_batch
from tests.support.live_daemon import WORKSPACE_YAML, test_dagster_yaml
from tests.support.live_server import LiveServer, live_server

pytestmark = pytest.mark.slow

BATCHES = 1000
BATCH_ASSETS = ("batch_manifest", "tables", "text_stats", "batch_summary")
RUNS_QUERY = "{ runsOrError { __typename ... on Runs { count } } }"
POLL_EVERY = 0.5
MAX_LATENCY = 10.0  # generous: the machine is shared; the numbers are printed


@dataclass
class Poller:
    """Polls the gateway every ``POLL_EVERY`` s on a thread: (route, status, seconds)."""

    server: LiveServer
    token: str
    samples: list[tuple[str, int, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.server.url, timeout=30.0) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                for route in ("/healthz", "/graphql"):
                    t0 = time.monotonic()
                    try:
                        if route == "/healthz":
                            resp = client.get(route)
                        else:
                            resp = client.post(route, json={"query": RUNS_QUERY}, headers=auth)
                            body = resp.json()
                            if resp.status_code == 200 and "errors" in body:
                                self.errors.append(f"graphql errors: {body['errors']}")
                            elif resp.status_code == 200:
                                assert body["data"]["runsOrError"]["__typename"] == "Runs"
                        self.samples.append((route, resp.status_code, time.monotonic() - t0))
                    except Exception as exc:  # recorded, and failed on below
                        self.errors.append(f"{route}: {type(exc).__name__}: {exc}")
                self.stop.wait(max(0.0, POLL_EVERY - (time.monotonic() - started)))

    def report(self) -> str:
        lines = []
        for route in ("/healthz", "/graphql"):
            times = sorted(t for r, _, t in self.samples if r == route)
            if times:
                lines.append(
                    f"{route}: {len(times)} answers, p50 {statistics.median(times) * 1000:.0f} ms, "
                    f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.0f} ms, "
                    f"max {times[-1] * 1000:.0f} ms"
                )
        return "\n".join(lines)


def materialized(instance: dg.DagsterInstance, asset: str) -> collections.Counter[str]:
    """Materializations of ``asset`` per partition (every stored event, repeats counted)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=4 * BATCHES
    ).records
    return collections.Counter(str(r.partition_key) for r in records)


def test_thousand_batches_landed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    settings = {
        "AEROFS_LANDING": str(landing),
        "AEROFS_LAKE": str(lake),
        "AEROFS_PG_URL": pg_url,
        "AEROFS_SECRET_KEY": "load-test-secret-key-0123456789abcdef",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    ids = [f"load-{i:04d}" for i in range(BATCHES)]
    sources = make_batches(tmp_path / "src", ids)
    config = yaml.safe_dump(test_dagster_yaml(), sort_keys=False)

    with live_server(
        tmp_path / "serve",
        dagster_yaml=config,
        workspace_yaml=WORKSPACE_YAML,
        extra_env={**settings, "DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS": "1"},
        timeout=180,
    ) as server:
        poller = Poller(server, server.create_token("admin"))
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        monkeypatch.setenv("DAGSTER_HOME", str(server.home))
        instance = dg.DagsterInstance.from_config(str(server.home))
        try:
            started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda b: land(b, str(landing)), sources))
            landed = time.monotonic() - started

            deadline = time.monotonic() + 420
            in_progress = dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                ]
            )
            # every batch summarized, and the runs done (lake/<dataset> publishes last)
            while (
                len(materialized(instance, "batch_summary")) < BATCHES
                or instance.get_runs_count(in_progress) > 0
            ):
                failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
                assert not failed, [(r.run_id, r.tags) for r in failed]
                assert time.monotonic() < deadline, (
                    f"{len(materialized(instance, 'batch_summary'))}/{BATCHES} batches "
                    f"processed after 420 s\n{server.log_tail()}"
                )
                time.sleep(2)
            processed = time.monotonic() - started
        finally:
            poller.stop.set()
            thread.join(30)

        # Exactly once: one materialization of each batch asset per batch, no failed run.
        for asset in BATCH_ASSETS:
            counts = materialized(instance, asset)
            assert sorted(counts) == ids, asset
            assert set(counts.values()) == {1}, (asset, counts.most_common(3))
        runs = instance.get_runs(dg.RunsFilter(tags={"aerofs/pipeline": "batch"}))
        failures = [
            (e.step_key, e.dagster_event.step_failure_data.error.message[-1500:])
            for r in runs
            if r.status != dg.DagsterRunStatus.SUCCESS
            for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
            if e.dagster_event and e.dagster_event.step_failure_data.error
        ]
        assert runs and not failures and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        backfills = {r.tags.get("dagster/backfill") for r in runs}
        instance.dispose()

    # Every output against its input; no other per-batch file in the lake.
    store = open_storage(str(lake))
    checked: list[str] = []
    for batch in sources:
        checked += verify_batch(store, batch)
    assert lake_outputs(lake) == sorted(checked)

    report = poller.report()
    print(
        f"\n{BATCHES} batches ({sum(len(b.files) for b in sources)} files): landed in "
        f"{landed:.1f} s, all processed {processed:.1f} s after landing began, in "
        f"{len(runs)} runs ({len(backfills - {None})} backfills)\n{report}"
    )
    assert not poller.errors, poller.errors[:5]
    assert poller.samples and {s for _, s, _ in poller.samples} == {200}, collections.Counter(
        s for _, s, _ in poller.samples
    )
    for route in ("/healthz", "/graphql"):
        times = [t for r, _, t in poller.samples if r == route]
        assert len(times) >= 10, route
        assert max(times) < MAX_LATENCY, (route, max(times))
    assert os.environ["AEROFS_PG_URL"] == pg_url
