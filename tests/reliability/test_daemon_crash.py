"""kill -9 of the daemon between a sensor tick's partition request and its run launch.

Real processes on PostgreSQL: ``dagster-daemon run`` on the product's code
(:mod:`tests.support.live_daemon`), batches landed as ``aerofs ingest`` lands them.

The critical moment is made certain without any hook in the product: a trigger on
Dagster's ``job_ticks`` table in the test's own database stalls the one write that stores
the landing sensor's tick with its reserved runs (and its cursor). Everything the tick
did before is committed — the partitions are added, by the sensor itself in backlog mode,
by the daemon in trickle mode — and nothing after it happens. The test then SIGKILLs the
daemon's process group and cancels the stalled statement: the instance holds the
partitions, a ``STARTED`` tick with no run reserved, no run, no backfill, and the
sensor's stored cursor from before the tick.

After a restart the batches must be processed exactly once: one run per batch (trickle)
or one backfill (backlog), one materialization of each batch asset per partition, and
outputs equal to the inputs. Before the fix in ``sensors.py`` (retry of the interrupted
tick's batches), the restarted sensor found them registered and requested nothing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.execution.backfill import BulkActionsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from aerofs_pipelines.defs.sensors import BACKLOG_TAG, BATCH_TAG
from aerofs_pipelines.instance_storage import psycopg2_url
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.landing.scan import record_ready
from tests.reliability.batchgen import SourceBatch, land, make_batch, verify_batch
from tests.support.live_daemon import LiveDaemon, live_daemon

pytestmark = pytest.mark.slow

BATCH_ASSETS = ("batch_manifest", "tables", "text_stats", "batch_summary")
THRESHOLD = 5  # trickle: at most 5 new batches a tick (one run each); more: one backfill


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str) -> str:
    for name in ("AEROFS_DATASETS", "AEROFS_LANDING_QUEUE", "DAGSTER_PG_HOST", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("AEROFS_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("AEROFS_PG_URL", pg_url)
    monkeypatch.setenv("AEROFS_SENSOR_BACKFILL_THRESHOLD", str(THRESHOLD))
    # Batches arrive through the journal only (see land_at_once): no sweep between ticks.
    monkeypatch.setenv("AEROFS_SWEEP_INTERVAL", "3600")
    return pg_url


def landing_sensor_state(daemon: LiveDaemon) -> tuple[str, str]:
    """The landing sensor's origin and selector ids, once the daemon has ticked it."""

    def find() -> tuple[str, str] | None:
        for state in daemon.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == "landing_sensor" and daemon.instance.get_ticks(
                state.instigator_origin_id, state.selector_id
            ):
                return state.instigator_origin_id, state.selector_id
        return None

    ids: tuple[str, str] = daemon.wait_for("a first landing_sensor tick", find, 120)
    return ids


STALL_SQL = """
CREATE FUNCTION aerofs_test_stall_reservation() RETURNS trigger AS $$
BEGIN
  IF NEW.selector_id = '{selector}' AND NEW.tick_body LIKE '%"reserved_run_ids": ["%' THEN
    PERFORM pg_sleep(600);
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER aerofs_test_stall BEFORE UPDATE ON job_ticks
  FOR EACH ROW EXECUTE FUNCTION aerofs_test_stall_reservation();
"""
STALLED = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE 'UPDATE job_ticks%'"
)


@contextmanager
def stall_tick_reservation(engine: sa.Engine, selector: str) -> Iterator[None]:
    """Make the daemon hang where it stores a landing_sensor tick with its reserved runs.

    A trigger on Dagster's ``job_ticks`` table (test side, in the test's own database)
    sleeps in that ``UPDATE``: everything the tick did before — partitions added — is
    committed, nothing after it happens. Afterwards the stalled statement is cancelled
    (its backend terminated), so it never completes, and the trigger is dropped.
    """
    with engine.begin() as conn:
        conn.execute(sa.text(STALL_SQL.format(selector=selector)))
    try:
        yield
    finally:
        with engine.begin() as conn:  # first the stalled statement (it holds the table)
            for pid in conn.execute(sa.text(STALLED)).scalars():
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER aerofs_test_stall ON job_ticks"))
            conn.execute(sa.text("DROP FUNCTION aerofs_test_stall_reservation()"))


def land_at_once(batches: Sequence[SourceBatch], landing: Path) -> None:
    """Land ``batches`` so that one sensor tick sees all of them: each is ingested into a
    staging zone, moved in, then announced by one journal write."""
    staging = landing.parent / "staging"
    landing.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        land(batch, str(staging))
    for batch in batches:
        (staging / batch.batch_id).rename(landing / batch.batch_id)
    record_ready(str(landing), *(b.batch_id for b in batches))


def registered(daemon: LiveDaemon, ids: Sequence[str]) -> bool:
    return set(daemon.instance.get_existing_dynamic_partitions("batches", list(ids))) == set(ids)


def kill_between_partitions_and_runs(
    daemon: LiveDaemon, engine: sa.Engine, sensor: tuple[str, str], batches: Sequence[SourceBatch]
) -> None:
    """Land ``batches``; SIGKILL the daemon once a tick registered them, before it stored
    the tick with its reserved runs (its cursor with it)."""
    origin, selector = sensor
    ids = [b.batch_id for b in batches]
    with stall_tick_reservation(engine, selector):
        land_at_once(batches, Path(os.environ["AEROFS_LANDING"]))

        def stalled() -> bool:
            with engine.connect() as conn:
                return registered(daemon, ids) and bool(conn.execute(sa.text(STALLED)).first())

        daemon.wait_for("the tick to register the batches and stall", stalled, 90, 0.1)
        os.killpg(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(30)
    # The state the kill left: partitions, a STARTED tick without reserved runs, no runs,
    # no backfill; the sensor's stored cursor is still the one from before that tick.
    tick = daemon.instance.get_ticks(origin, selector, limit=1)[0]
    assert tick.status == TickStatus.STARTED
    assert not tick.tick_data.reserved_run_ids and not tick.run_ids
    for batch_id in ids:
        assert daemon.batch_runs(batch_id) == []
    assert registered(daemon, ids)
    assert not [
        b
        for b in daemon.instance.get_backfills(filters=BulkActionsFilter())
        if b.tags.get(BACKLOG_TAG) == str(len(ids))
    ]


def materializations(instance: dg.DagsterInstance, asset: str, ids: Sequence[str]) -> list[str]:
    """Partition of every stored materialization of ``asset`` among ``ids`` (repeats kept)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=list(ids)),
        limit=10 * len(ids) + 10,
    ).records
    return sorted(str(r.partition_key) for r in records)


def wait_processed(daemon: LiveDaemon, ids: Sequence[str], timeout: float) -> None:
    def done() -> bool:
        failed = daemon.instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert not failed, f"a run failed: {failed[0].run_id}\n{daemon.log_tail()}"
        got = materializations(daemon.instance, "batch_summary", ids)
        if set(got) != set(ids):
            return False
        active = daemon.instance.get_runs(
            dg.RunsFilter(statuses=[s for s in dg.DagsterRunStatus if s not in FINISHED])
        )
        return not [r for r in active if r.tags.get("aerofs/pipeline") == "batch"]

    daemon.wait_for(f"{len(ids)} batches processed", done, timeout, interval=0.5)


FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


def assert_exactly_once(
    daemon: LiveDaemon, batches: Sequence[SourceBatch], *, backlog: bool
) -> None:
    instance = daemon.instance
    ids = [b.batch_id for b in batches]
    for asset in BATCH_ASSETS:
        assert materializations(instance, asset, ids) == sorted(ids), asset
    backfills = [
        b
        for b in instance.get_backfills(filters=BulkActionsFilter())
        if b.tags.get(BACKLOG_TAG) == str(len(ids))
    ]
    if backlog:
        (backfill,) = backfills
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        for batch_id in ids:
            assert not instance.get_runs(dg.RunsFilter(tags={BATCH_TAG: batch_id}))
    else:
        assert backfills == []
        for batch_id in ids:
            runs = instance.get_runs(dg.RunsFilter(tags={BATCH_TAG: batch_id}))
            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS], batch_id
            assert runs[0].tags["dagster/run_key"] == batch_id
    lake = open_storage(os.environ["AEROFS_LAKE"])
    for batch in batches:
        verify_batch(lake, batch)


def test_daemon_killed_between_partitions_and_runs(env: str, tmp_path: Path) -> None:
    engine = sa.create_engine(psycopg2_url(env), isolation_level="READ COMMITTED")
    src = tmp_path / "src"
    trickle = [make_batch(src, f"trickle-{i}", i) for i in range(3)]
    backlog = [make_batch(src, f"backlog-{i:02d}", 10 + i) for i in range(8)]
    try:
        # 1. trickle mode: the daemon adds the partitions, then dies before it stores the tick
        with live_daemon(tmp_path / "daemon-1") as daemon:
            sensor = landing_sensor_state(daemon)
            kill_between_partitions_and_runs(daemon, engine, sensor, trickle)

        # 2. restarted: each batch gets its one run; then backlog mode, where the sensor adds
        # the partitions itself, and the daemon dies again at the same point
        with live_daemon(tmp_path / "daemon-2") as daemon:
            wait_processed(daemon, [b.batch_id for b in trickle], 180)
            assert_exactly_once(daemon, trickle, backlog=False)
            kill_between_partitions_and_runs(daemon, engine, sensor, backlog)

        # 3. restarted: one backfill covers them all; nothing ran twice
        with live_daemon(tmp_path / "daemon-3") as daemon:
            wait_processed(daemon, [b.batch_id for b in backlog], 180)
            assert_exactly_once(daemon, backlog, backlog=True)
            assert_exactly_once(daemon, trickle, backlog=False)
            log = "".join(
                (tmp_path / f"daemon-{i}" / "daemon.log").read_text(errors="replace")
                for i in (1, 2, 3)
            )
            assert "Moving dangling STARTED tick" in log
    finally:
        engine.dispose()
