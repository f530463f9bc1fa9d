"""Outages of the services a run depends on: PostgreSQL, S3, the lake's disk.

- PostgreSQL: a private cluster (:mod:`tests.reliability.pgcluster`) holds the
  instance; ``dagster-daemon run`` processes a landed batch and the test really stops
  the server (fast shutdown: sessions terminated, connections refused) in the middle of
  the run, then starts it again. The run completes or fails and is retried; every run
  ends in a final state that matches its events, and the lake matches the input.
- S3 (moto server behind :class:`tests.reliability.faults.FaultProxy`): errors (503
  SlowDown, 500), slow responses, and the server unreachable in the middle of a run. The
  storage client retries with backoff, the assets' ``RetryPolicy`` retries the step; the
  outputs (manifest, Parquet content, text statistics) match the input.
- Disk full on a local lake (a real 4 MB tmpfs): the run fails with "No space left on
  device", nothing partial remains, and a re-run after freeing space completes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import httpx
import pytest

from aerofs_pipelines import sample_data
from aerofs_pipelines.instance_storage import ConnectRetry
from aerofs_pipelines.lake.storage import Storage, open_storage
from tests.reliability.bigcsv import write_big_csv
from tests.reliability.faults import FaultProxy, fault_proxy
from tests.reliability.lakecheck import assert_lake_matches, temp_keys
from tests.reliability.pgcluster import private_postgres
from tests.support.live_daemon import LiveDaemon, live_daemon
from tests.support.pipeline import product_defs, product_instance

AEROFS = str(Path(sys.executable).with_name("aerofs"))
RUN_EVENTS = {
    dg.DagsterEventType.RUN_SUCCESS: dg.DagsterRunStatus.SUCCESS,
    dg.DagsterEventType.RUN_FAILURE: dg.DagsterRunStatus.FAILURE,
    dg.DagsterEventType.RUN_CANCELED: dg.DagsterRunStatus.CANCELED,
}
PG_ROWS = 300_000
S3_ATTEMPTS = 3
"""S3 client attempts per call in these tests (AWS_MAX_ATTEMPTS): shorter backoffs."""
BATCH_ASSET_KEYS = ("batch_manifest", "tables", "text_stats", "batch_summary")


def batch_sources(folder: Path, rows: int) -> dict[str, Path]:
    """A clean batch: one seeded CSV of ``rows`` rows and the sample's text file."""
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.csv"
    write_big_csv(events, rows)
    notes = folder / "notes.txt"
    notes.write_bytes(sample_data.notes_text(seed=7))
    return {"events.csv": events, "notes.txt": notes}


def ingest(sources: dict[str, Path], batch_id: str) -> None:
    """``aerofs ingest`` in a child process (AEROFS_LANDING and AWS_* from the env)."""
    subprocess.run(
        [AEROFS, "ingest", *map(str, sources.values()), "--batch", batch_id],
        check=True,
        timeout=120,
        capture_output=True,
    )


def assert_runs_consistent(instance: dg.DagsterInstance, runs: Sequence[dg.DagsterRun]) -> None:
    """Every run ended, once, and its stored status is the one its events say."""
    for run in runs:
        assert run.is_finished, (run.run_id, run.status)
        ends = [
            e.dagster_event.event_type
            for e in instance.all_logs(run.run_id)
            if e.dagster_event is not None and e.dagster_event.event_type in RUN_EVENTS
        ]
        assert len(ends) == 1, (run.run_id, ends)
        assert RUN_EVENTS[ends[0]] == run.status, (run.run_id, ends, run.status)


# --------------------------------------------------------------------------- PostgreSQL


@dataclass
class PgOutage:
    """A batch whose run saw PostgreSQL go away: the daemon, the batch and its inputs."""

    daemon: LiveDaemon
    batch: str
    sources: dict[str, Path]
    lake: Storage
    scratch: Path
    first_run: str


@contextlib.contextmanager
def postgres_outage_mid_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, outage: float, env: dict[str, str]
) -> Iterator[PgOutage]:
    """A private PostgreSQL holds the instance; ``dagster-daemon run`` processes a landed
    batch; while the run's tables step is converting, the server is stopped (fast
    shutdown) for ``outage`` seconds and started again. Yields once it is back."""
    landing, lake, scratch = tmp_path / "landing", tmp_path / "lake", tmp_path / "scratch"
    scratch.mkdir()
    for name in ("DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_LANDING", str(landing))
    monkeypatch.setenv("AEROFS_LAKE", str(lake))
    sources = batch_sources(tmp_path / "src", PG_ROWS)
    batch = "pg-outage"
    with private_postgres() as pg:
        monkeypatch.setenv("AEROFS_PG_URL", pg.url)
        ingest(sources, batch)
        with live_daemon(tmp_path, env={"TMPDIR": str(scratch), **env}) as daemon:
            assert type(daemon.instance.run_storage).__name__ == "PostgresRunStorage"
            runs = daemon.wait_for(f"a run of {batch}", lambda: daemon.batch_runs(batch), 60)
            first = runs[0].run_id
            daemon.wait_for("the run worker", lambda: daemon.worker_pid(first), 60)
            # the tables step is converting: stop the database under the running worker
            daemon.wait_for(
                "the tables step", lambda: list(scratch.glob("aerofs-tables-*")), 60, 0.05
            )
            assert not daemon.instance.get_run_by_id(first).is_finished  # type: ignore[union-attr]
            pg.stop()
            stopped_at = time.monotonic()
            time.sleep(outage)
            pg.start()
            assert time.monotonic() - stopped_at >= outage
            yield PgOutage(daemon, batch, sources, open_storage(str(lake)), scratch, first)


def assert_batch_materialized(instance: dg.DagsterInstance, batch: str, rows: int) -> None:
    """The instance knows every asset of the batch as materialized, with the right rows."""
    for asset in BATCH_ASSET_KEYS:
        assert batch in instance.get_materialized_partitions(dg.AssetKey(asset)), asset
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("tables"), asset_partitions=[batch]),
        limit=10,
    ).records
    counts = {
        r.asset_materialization.metadata["dagster/row_count"].value  # type: ignore[union-attr]
        for r in records
    }
    assert counts == {rows}


@pytest.mark.slow
def test_postgres_restarted_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage longer than dagster-postgres's own connection retries (~6 s, at most
    ~12 s) and within the product's connect-retry window (AEROFS_PG_RETRY_SECONDS, 60 s
    by default): the run waits for the database with backoff and carries on."""
    with postgres_outage_mid_run(tmp_path, monkeypatch, outage=16.0, env={}) as seen:
        daemon, batch = seen.daemon, seen.batch
        done = daemon.final_run(batch, timeout=120)
        runs = daemon.batch_runs(batch)
        assert done.status == dg.DagsterRunStatus.SUCCESS
        assert_runs_consistent(daemon.instance, runs)
        assert [r.run_id for r in runs] == [seen.first_run] == [done.run_id]  # one run
        log = daemon.log.read_text(errors="replace")
        assert "PostgreSQL unreachable" in log and "PostgreSQL reachable again" in log
        assert_batch_materialized(daemon.instance, batch, PG_ROWS)
    assert_lake_matches(seen.lake, batch, seen.sources)
    assert list(seen.scratch.glob("aerofs-*")) == []


@pytest.mark.slow
def test_postgres_down_longer_than_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outage longer than the window (1 s here) plus dagster-postgres's own retries
    (at most ~12 s): the run fails cleanly (final state and events agree, nothing partial
    in the lake) and is re-run to completion: by run retries when the worker died, or,
    when the failure was recorded as a step failure (as bad data is, which run retries
    must not repeat), by the nightly backfill of failed batches (which selects it)."""
    from aerofs_pipelines.defs.schedules import failed_or_missing

    env = {"AEROFS_PG_RETRY_SECONDS": "1"}
    with postgres_outage_mid_run(tmp_path, monkeypatch, outage=14.0, env=env) as seen:
        daemon, batch, instance = seen.daemon, seen.batch, seen.daemon.instance

        def first_run_ended() -> dg.DagsterRun | None:
            run = instance.get_run_by_id(seen.first_run)
            return run if run is not None and run.is_finished else None

        first: dg.DagsterRun = daemon.wait_for("the run to end", first_run_ended, 60)
        assert first.status == dg.DagsterRunStatus.FAILURE, daemon.describe(first)
        assert "too many retries for DB connection" in daemon.describe(first)
        assert temp_keys(seen.lake) == []
        keys = [dg.AssetKey(a) for a in BATCH_ASSET_KEYS]
        if first.tags.get("dagster/failure_reason") == "STEP_FAILURE":
            # not for run retries: the nightly backfill selects the failed batch, and its
            # run (here in this process, as the backfill's run would) completes
            assert failed_or_missing(instance, keys, [batch]) == [batch]
            assert run_batch(instance, batch).success
        else:  # the worker died without recording a step failure: run retries re-run it
            done = daemon.final_run(batch, timeout=120)
            assert done.parent_run_id == first.run_id
        assert_runs_consistent(instance, instance.get_runs())
        assert failed_or_missing(instance, keys, [batch]) == []
        assert_batch_materialized(instance, batch, PG_ROWS)
    assert_lake_matches(seen.lake, batch, seen.sources)
    assert list(seen.scratch.glob("aerofs-*")) == []


def proxied_pg_url(url: str, proxy: FaultProxy) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(port=proxy.port).render_as_string(hide_password=False)


def test_pg_connect_retry_rides_out_a_short_outage(pg_url: str) -> None:
    """The instance storage's engines wait (with backoff) for a database that refuses
    connections, up to AEROFS_PG_RETRY_SECONDS; then they fail."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from aerofs_pipelines.instance_storage import psycopg2_url

    port = make_url(pg_url).port or 5432
    with fault_proxy(port) as proxy:
        engine = sa.create_engine(
            psycopg2_url(proxied_pg_url(pg_url, proxy)), poolclass=sa.pool.NullPool
        )
        hook = ConnectRetry(window=20)
        sa.event.listen(engine, "do_connect", hook)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1

        proxy.stop()  # refused, as while the server restarts
        timer = threading.Timer(1.5, proxy.start)
        timer.start()
        started = time.monotonic()
        with engine.connect() as conn:  # waits for the restart instead of failing
            assert conn.execute(sa.text("SELECT 2")).scalar() == 2
        assert time.monotonic() - started >= 1.3
        timer.join()

        hook.window = 0.5  # an outage longer than the window fails, promptly
        proxy.stop()
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="refused"):
            engine.connect()
        assert time.monotonic() - started < 5
        engine.dispose()


def connect_retry_hooks(storage: Any) -> list[Any]:
    """The ConnectRetry hooks on a dagster-postgres storage's engine."""
    return [h for h in storage._engine.dialect.dispatch.do_connect if isinstance(h, ConnectRetry)]


def test_postgres_instance_storage_gets_the_retry_window(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product's dagster.yaml on PostgreSQL: run, event log and schedule storage
    share one retry window and carry on through a proxy that refuses connections."""
    from sqlalchemy.engine import make_url

    port = make_url(pg_url).port or 5432
    with fault_proxy(port) as proxy:
        monkeypatch.delenv("DAGSTER_PG_HOST", raising=False)
        monkeypatch.setenv("AEROFS_PG_URL", proxied_pg_url(pg_url, proxy))
        monkeypatch.setenv("AEROFS_PG_RETRY_SECONDS", "30")
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        instance = product_instance(tmp_path / "home")
        try:
            hooks = [
                connect_retry_hooks(getattr(instance, part))
                for part in ("run_storage", "event_log_storage", "schedule_storage")
            ]
            assert all(len(h) == 1 for h in hooks), hooks
            assert hooks[0][0] is hooks[1][0] is hooks[2][0]
            assert hooks[0][0].window == 30
            instance.add_dynamic_partitions("batches", ["before"])
            proxy.stop()
            timer = threading.Timer(2.0, proxy.start)
            timer.start()
            instance.add_dynamic_partitions("batches", ["during"])
            assert instance.get_runs() == []
            assert set(instance.get_dynamic_partitions("batches")) == {"before", "during"}
            timer.join()
        finally:
            instance.dispose()


# --------------------------------------------------------------------------- S3


@pytest.fixture
def s3_proxied(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FaultProxy, Storage, dg.DagsterInstance, Any]]:
    """Landing zone and lake in a fresh bucket of the moto server, reached through a
    FaultProxy (AWS_ENDPOINT_URL); a SQLite instance. Yields the proxy, the lake seen
    directly (not through the proxy), the instance and a direct S3 client."""
    port = int(s3_endpoint.rsplit(":", 1)[1])
    direct = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"outage-{uuid.uuid4().hex[:12]}"
    direct.create_bucket(Bucket=bucket)
    with fault_proxy(port) as proxy:
        for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(S3_ATTEMPTS))  # the product's default: 5
        monkeypatch.setenv("AEROFS_LANDING", f"s3://{bucket}/landing")
        monkeypatch.setenv("AEROFS_LAKE", f"s3://{bucket}/lake")
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        instance = product_instance(tmp_path / "home")
        try:
            lake = open_storage(f"s3://{bucket}/lake", endpoint_url=s3_endpoint)
            yield proxy, lake, instance, direct
        finally:
            instance.dispose()


def run_batch(instance: dg.DagsterInstance, batch_id: str) -> dg.ExecuteInJobResult:
    """The product's ``process_batch`` job for one batch, in this process."""
    if not instance.has_dynamic_partition("batches", batch_id):
        instance.add_dynamic_partitions("batches", [batch_id])
    job = product_defs().resolve_job_def("process_batch")
    return job.execute_in_process(instance=instance, partition_key=batch_id, raise_on_error=False)


def step_events(result: dg.ExecuteInJobResult, kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type == kind]


def failure_text(result: dg.ExecuteInJobResult) -> str:
    return "\n".join(
        e.event_specific_data.error.to_string()
        for e in result.get_step_failure_events()
        if e.event_specific_data.error is not None
    )


@contextlib.contextmanager
def when_manifest_written(direct: Any, lake: Storage, batch_id: str, action: Any) -> Iterator[None]:
    """Run ``action()`` in a thread as soon as the batch's manifest is in the lake (the
    run is then between its first and second step)."""
    assert lake.url.startswith("s3://")
    bucket, _, prefix = lake.url[len("s3://") :].partition("/")
    key = f"{prefix}/manifests/{batch_id}.json"
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            found = direct.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0)
            if found:
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def assert_no_pending_uploads(direct: Any, lake: Storage) -> None:
    bucket = lake.url[len("s3://") :].partition("/")[0]
    assert direct.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_fault_proxy_refuses_fails_and_restarts(s3_endpoint: str) -> None:
    """The fault injector itself: stopped = refused; fail_http = S3 error XML; restart."""
    port = int(s3_endpoint.rsplit(":", 1)[1])
    with fault_proxy(port) as proxy:
        assert httpx.get(proxy.url, timeout=5).status_code == 200
        proxy.fail_http(2, 503)
        for _ in range(2):
            answer = httpx.get(proxy.url, timeout=5)
            assert answer.status_code == 503 and b"<Code>SlowDown</Code>" in answer.content
        assert httpx.get(proxy.url, timeout=5).status_code == 200
        assert proxy.injected == 2
        proxy.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(proxy.url, timeout=5)
        proxy.start()
        proxy.latency = 0.3
        started = time.monotonic()
        assert httpx.get(proxy.url, timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.3


def test_s3_errors_and_slow_responses_are_retried_with_backoff(
    s3_proxied: tuple[FaultProxy, Storage, dg.DagsterInstance, Any], tmp_path: Path
) -> None:
    proxy, lake, instance, direct = s3_proxied
    sources = batch_sources(tmp_path / "src", 50_000)
    batch = "s3-errors"
    ingest(sources, batch)

    proxy.latency = 0.002  # every chunk, both ways: a slow server
    # 503 SlowDown more times than the client's attempts: the first S3 call fails after
    # backing off, and the asset's RetryPolicy retries the step, which then goes through
    proxy.fail_http(S3_ATTEMPTS + 1, 503)
    # 500s in the middle of the run: absorbed by the client's retries
    midrun = S3_ATTEMPTS - 1
    with when_manifest_written(direct, lake, batch, lambda: proxy.fail_http(midrun, 500)):
        started = time.monotonic()
        result = run_batch(instance, batch)
    assert result.success, failure_text(result)
    assert proxy.injected == S3_ATTEMPTS + 1 + midrun and proxy.failures_left == 0
    retried = step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert [e.step_key for e in retried] == ["batch_manifest"]
    assert time.monotonic() - started > 0.5  # backed off, not hammered
    assert_lake_matches(lake, batch, sources)
    assert_no_pending_uploads(direct, lake)


def test_s3_unreachable_mid_run_then_back(
    s3_proxied: tuple[FaultProxy, Storage, dg.DagsterInstance, Any], tmp_path: Path
) -> None:
    proxy, lake, instance, direct = s3_proxied
    sources = batch_sources(tmp_path / "src", 200_000)
    batch = "s3-down"
    ingest(sources, batch)
    outage: dict[str, float] = {}

    def server_down_for_a_while() -> None:
        proxy.stop()  # live connections reset, new ones refused
        outage["stopped"] = time.monotonic()
        time.sleep(3)
        proxy.start()
        outage["restarted"] = time.monotonic()

    with when_manifest_written(direct, lake, batch, server_down_for_a_while):
        result = run_batch(instance, batch)
        finished = time.monotonic()
    assert "stopped" in outage, "the outage missed the run"
    assert outage["stopped"] < outage["restarted"] < finished  # the run outlived the outage
    if not result.success:  # retries exhausted: a clean failure, then the re-run completes
        assert "Could not connect" in failure_text(result) or "refused" in failure_text(result)
        assert temp_keys(lake) == []
        result = run_batch(instance, batch)
    assert result.success, failure_text(result)
    assert_lake_matches(lake, batch, sources)
    assert_no_pending_uploads(direct, lake)


# --------------------------------------------------------------------------- disk full

FILLER_MB = 14


@contextlib.contextmanager
def small_disk(mountpoint: Path, size_mb: int = 16) -> Iterator[Path]:
    """A real ``size_mb`` MB tmpfs at ``mountpoint`` (needs root / CAP_SYS_ADMIN)."""
    mountpoint.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"the disk-full test mounts a small tmpfs and needs root: {done.stderr.strip()}"
        )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.parametrize("full", ["lake", "scratch"])
def test_disk_full_fails_cleanly_and_rerun_completes(
    full: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lake (or the workers' scratch folder) is on a disk with ~2 MB free and the
    batch's Parquet is larger: the run fails, saying "No space left on device"; the file
    is NOT quarantined as if its data were bad; nothing partial is in the lake; after
    space is freed, re-running the batch completes."""
    import tempfile

    disk = tmp_path / "disk"
    with small_disk(disk):
        filler = disk / "filler.bin"  # what an operator would delete to free space
        filler.write_bytes(b"\0" * FILLER_MB * 1024 * 1024)
        landing = tmp_path / "landing"
        lake_dir = disk / "lake" if full == "lake" else tmp_path / "lake"
        scratch = disk / "tmp" if full == "scratch" else tmp_path / "tmp"
        scratch.mkdir()
        for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AEROFS_LANDING", str(landing))
        monkeypatch.setenv("AEROFS_LAKE", str(lake_dir))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # TMPDIR of this process
        sources = batch_sources(tmp_path / "src", 60_000)  # ~4 MB of Parquet
        batch = f"full-{full}"
        ingest(sources, batch)
        instance = product_instance(tmp_path / "home")
        try:
            result = run_batch(instance, batch)
            assert not result.success
            text = failure_text(result)
            assert "No space left on device" in text, text
            assert [e.step_key for e in result.get_step_failure_events()] == ["tables"]
            retried = step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
            assert {e.step_key for e in retried} == {"tables"}  # retried, then gave up
            lake = open_storage(str(lake_dir))
            # nothing partial or temporary; the table is not published, nor quarantined
            assert temp_keys(lake) == []
            assert not lake.list_files(f"unregistered/tables/events/batch={batch}")
            assert not lake.exists(f"_dagster/tables/{batch}.parquet")
            assert list(scratch.iterdir()) == []
            manifest = json.loads(lake.read_bytes(f"manifests/{batch}.json"))
            assert {f["name"]: f["status"] for f in manifest["files"]}["events.csv"] == "processed"

            filler.unlink()  # space freed: the re-run (nightly backfill, or by hand) completes
            again = run_batch(instance, batch)
            assert again.success, failure_text(again)
            assert_lake_matches(lake, batch, sources)
            assert list(scratch.iterdir()) == []
        finally:
            instance.dispose()
