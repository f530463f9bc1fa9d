"""Benchmark the orchestration layer against plain Dagster, measured in the same run.

Four sections, all on seeded data in a temporary folder with a real SQLite instance:

1. **backlog** — ``--backlog`` complete batches (default 10,000, ids in seeded random
   order) are pending in a local landing zone. Our sensor (journal and sweep) drains them
   tick by tick; each tick is evaluated like the daemon does (``evaluate_tick``, which
   includes Dagster's resolution of the run requests, then the partition additions).
   Plain Dagster: the documented idiom — list the landing folder, keep ids for which
   ``instance.has_dynamic_partition`` is false, return one ``SensorResult`` with all.
2. **idle** — ``--processed`` batches (default 100,000) already registered and processed;
   the time of ticks that find nothing new (ours: median/max of 30; plain: one tick), and
   what our periodic reconciliation sweep costs at that size.
3. **daemon** — ``--daemon-backlog`` pending batches (default 10,000) through Dagster's own
   daemons on threads (sensor, backfill, queued-run coordinator; runs launched through the
   code server): backlog mode (one backfill per tick) until all are registered and
   requested, then until processed (at most ``--daemon-process`` s, stand-in assets);
   versus one run per batch (the plain daemon path) at ``--daemon-plain`` batches
   (default 300), extrapolated linearly and labelled "est.".
4. **backfill** — ``--batches`` small batches (default 200, a few KB each) processed by
   one single-run backfill (Dagster's backfill daemon, one run) versus one run per batch
   (``dg.materialize`` per partition, in process: cheaper than a launched run, so the
   ratio is conservative). Overhead per batch = (wall - time inside the asset bodies) / batches.

    python -m bench.pipeline                                   # full size
    python -m bench.pipeline --backlog 1000 --processed 10000 --batches 20   # smoke
    python -m bench.pipeline --only daemon --standin --pg postgresql://postgres@127.0.0.1:5432/test
"""

import argparse
import contextlib
import hashlib
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from aerofs_pipelines.defs.jobs import batch_job
from aerofs_pipelines.defs.partitions import batches_partitions
from aerofs_pipelines.defs.sensors import SensorTuning, build_landing_sensor
from aerofs_pipelines.landing.batches import SUCCESS_MARKER
from aerofs_pipelines.landing.scan import EVENTS_DIR
from bench.harness import environment, format_table

REPO_ROOT = Path(__file__).resolve().parents[1]
TICK_TARGET_S = 2.0
BACKLOG_TARGET_S = 300.0
IDLE_TARGET_S = 0.050
BACKFILL_RATIO_TARGET = 10.0
OVERHEAD_TARGET_S = 0.3
SENSOR_INTERVAL_S = 10
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""Run config for both contenders: no DEBUG event lines on the console."""


# ---------------------------------------------------------------------------------------------
# Stand-in per-batch assets (used when the real ones cannot be loaded, or with --standin)

STEP_SECONDS: list[float] = []
"""Seconds spent inside the stand-in asset bodies (in-process runs only)."""


def _standin(name: str, deps: Sequence[str] = ()) -> dg.AssetsDefinition:
    with warnings.catch_warnings():  # backfill_policy is "beta" in dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        decorator = dg.asset(
            name=name,
            partitions_def=batches_partitions,
            group_name="batch",
            deps=list(deps),
            backfill_policy=dg.BackfillPolicy.single_run(),
        )

    @decorator
    def _asset(context: AssetExecutionContext) -> None:
        started = time.perf_counter()
        landing, lake = Path(os.environ["AEROFS_LANDING"]), Path(os.environ["AEROFS_LAKE"])
        for key in context.partition_keys:
            digest = hashlib.blake2b()
            for f in sorted((landing / key).iterdir()):
                digest.update(f.read_bytes())
            out = lake / name / f"{key}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"batch": key, "digest": digest.hexdigest()}))
        STEP_SECONDS.append(time.perf_counter() - started)

    return _asset


STANDIN_ASSETS = [
    _standin("batch_manifest"),
    _standin("tables", ["batch_manifest"]),
    _standin("text_stats", ["batch_manifest"]),
    _standin("batch_summary", ["tables", "text_stats"]),
]
standin_defs = dg.Definitions(
    assets=STANDIN_ASSETS, jobs=[batch_job], executor=dg.in_process_executor
)
"""Same executor as the per-batch contender (``materialize`` runs in process)."""


daemon_defs = dg.Definitions(
    assets=STANDIN_ASSETS,
    jobs=[batch_job],
    sensors=[build_landing_sensor(minimum_interval_seconds=1)],
    executor=dg.in_process_executor,
)
"""For the daemon section: our sensor (landing from ``AEROFS_LANDING``), ticking every second."""


def load_real_defs() -> dg.Definitions | None:
    """The code location's definitions, or None (with the reason) if they do not load."""
    try:
        from aerofs_pipelines.definitions import defs

        return defs()
    except Exception as exc:
        print(
            f"note: real definitions not loadable ({type(exc).__name__}: {exc}); "
            "using stand-in assets",
            file=sys.stderr,
        )
        return None


def in_process_config(defs: dg.Definitions) -> dict[str, Any]:
    """Run config that runs a backfill in process when the definitions name no executor
    (Dagster's default starts a process per step; the product's is in process)."""
    executor = defs.get_repository_def().get_implicit_global_asset_job_def().executor_def
    if executor.name == dg.multi_or_in_process_executor.name:
        return {"execution": {"config": {"in_process": {}}}}
    return {}


# ---------------------------------------------------------------------------------------------
# Data and helpers


PG_ADMIN_URL: str | None = None
"""``--pg``: PostgreSQL server (admin URL) for instance storage; SQLite when None."""


@contextlib.contextmanager
def _pg_database() -> Iterator[str]:
    import sqlalchemy as sa

    from aerofs_pipelines.instance_storage import psycopg2_url

    admin_url = psycopg2_url(str(PG_ADMIN_URL))
    name = f"aerofs_bench_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def instance_in(folder: Path, **kwargs: Any) -> Iterator[dg.DagsterInstance]:
    """A fresh instance: SQLite in ``folder``, or a fresh PostgreSQL database (``--pg``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if PG_ADMIN_URL:
            url = stack.enter_context(_pg_database())
            storage = {"storage": {"postgres": {"postgres_url": url}}}
            kwargs["overrides"] = {**kwargs.get("overrides", {}), **storage}
        instance = stack.enter_context(dg.instance_for_test(temp_dir=str(folder), **kwargs))
        yield instance


def batch_ids(n: int, seed: int) -> list[str]:
    """``n`` ids in a seeded random order (arrival order is not name order)."""
    rng = random.Random(seed)
    ids = [f"batch-{i:06d}-{rng.randrange(16**6):06x}" for i in range(n)]
    rng.shuffle(ids)
    return ids


def seed_landing(root: Path, ids: Sequence[str], *, journal: bool, payload: bool) -> None:
    """Complete batch folders (marker last); journal lines as ``aerofs ingest`` writes them."""
    root.mkdir(parents=True, exist_ok=True)
    for i, b in enumerate(ids):
        d = root / b
        d.mkdir()
        if payload:
            rows = "\n".join(f"{j},{(i * 31 + j) % 997},item{j % 13}" for j in range(60))
            (d / "data.csv").write_text(f"id,value,name\n{rows}\n")
            (d / "notes.txt").write_text(f"batch {b}: the quick brown fox {i}\n" * 20)
        (d / SUCCESS_MARKER).touch()
    if journal:
        events = root / EVENTS_DIR
        events.mkdir(parents=True, exist_ok=True)
        (events / "20260101.log").write_text("".join(f"{b}\n" for b in ids))


class SensorDriver:
    """Evaluates a sensor as the daemon does and applies its partition requests."""

    def __init__(
        self, instance: dg.DagsterInstance, sensor: dg.SensorDefinition, defs: dg.Definitions
    ) -> None:
        self.instance = instance
        self.sensor = sensor
        self.repo = defs.get_repository_def()  # has the job the sensors target
        self.cursor: str | None = None

    def tick(self) -> tuple[float, int]:
        started = time.perf_counter()
        context = dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            repository_def=self.repo,
        )
        data = self.sensor.evaluate_tick(context)
        for req in data.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        if data.cursor is not None:
            self.cursor = data.cursor
        return time.perf_counter() - started, len(data.run_requests or [])


def plain_sensor(landing: Path) -> dg.SensorDefinition:
    """Plain Dagster: list the landing zone, return every complete unregistered batch.

    The documented idiom asks ``instance.has_dynamic_partition`` per folder (one query
    each); this baseline loads the registered keys once instead, which is faster.
    """

    @dg.sensor(name="plain_sensor", job=batch_job)
    def _plain(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        known = set(context.instance.get_dynamic_partitions("batches"))
        new = [
            name
            for name in sorted(os.listdir(landing))
            if not name.startswith("_")
            and name not in known
            and (landing / name / SUCCESS_MARKER).exists()
        ]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=k, run_key=k) for k in new],
            dynamic_partitions_requests=[batches_partitions.build_add_request(new)],
        )

    return _plain


@dataclass
class Row:
    metric: str
    ours: str
    plain: str
    ratio: str
    target: str
    ok: bool | None


# ---------------------------------------------------------------------------------------------
# Sections


def bench_backlog(work: Path, n: int, seed: int, defs: dg.Definitions, rows: list[Row]) -> None:
    ids = batch_ids(n, seed)
    results: dict[str, tuple[list[float], int]] = {}
    for mode in ("journal", "sweep"):
        landing = work / f"backlog-{mode}"
        seed_landing(landing, ids, journal=mode == "journal", payload=False)
        with instance_in(work / f"home-backlog-{mode}") as instance:
            sensor = build_landing_sensor(
                landing=str(landing), tuning=SensorTuning(sweep_interval=0)
            )
            driver = SensorDriver(instance, sensor, defs)
            times: list[float] = []
            total = 0
            while True:
                seconds, count = driver.tick()
                if count == 0:
                    break
                times.append(seconds)
                total += count
            registered = len(instance.get_dynamic_partitions("batches"))
            assert total == n == registered, (mode, total, registered)
            results[mode] = (times, total)
    landing = work / "backlog-journal"
    with instance_in(work / "home-backlog-plain") as instance:
        plain_seconds, plain_count = SensorDriver(instance, plain_sensor(landing), defs).tick()
        assert plain_count == n
    for mode, (times, _) in results.items():
        ticks = len(times)
        wall = ticks * SENSOR_INTERVAL_S + sum(times)
        rows.append(
            Row(
                f"backlog {n}: max tick ({mode}, {ticks} ticks)",
                f"{max(times):.3f} s",
                f"{plain_seconds:.3f} s (1 tick)",
                f"{plain_seconds / max(times):.1f}x",
                f"< {TICK_TARGET_S} s",
                max(times) < TICK_TARGET_S,
            )
        )
        rows.append(
            Row(
                f"backlog {n}: all requested ({mode})",
                f"{wall:.0f} s ({sum(times):.1f} s eval + {SENSOR_INTERVAL_S} s interval)",
                f"{plain_seconds:.1f} s",
                "",
                f"< {BACKLOG_TARGET_S:.0f} s",
                wall < BACKLOG_TARGET_S,
            )
        )


def bench_idle(work: Path, n: int, seed: int, defs: dg.Definitions, rows: list[Row]) -> None:
    ids = batch_ids(n, seed + 1)
    landing = work / "idle"
    seed_landing(landing, ids, journal=True, payload=False)
    with instance_in(work / "home-idle") as instance:
        instance.add_dynamic_partitions("batches", ids)  # already processed
        sensor = build_landing_sensor(landing=str(landing), tuning=SensorTuning())
        driver = SensorDriver(instance, sensor, defs)
        catch_up = 0
        before = None
        while driver.cursor != before or catch_up == 0:  # replay the journal, first sweep
            before = driver.cursor
            _, count = driver.tick()
            assert count == 0
            catch_up += 1
        idle = [driver.tick()[0] for _ in range(30)]
        sweeper = build_landing_sensor(
            landing=str(landing), tuning=SensorTuning(sweep_interval=0, full_sweep_interval=0)
        )
        sweep_driver = SensorDriver(instance, sweeper, defs)
        sweep_driver.cursor = driver.cursor
        sweep_times = []
        for _ in range(20):
            seconds, _ = sweep_driver.tick()
            sweep_times.append(seconds)
            if '"active": false' in (sweep_driver.cursor or ""):
                break
        plain_seconds, _ = SensorDriver(instance, plain_sensor(landing), defs).tick()
    med = statistics.median(idle)
    rows.append(
        Row(
            f"idle tick, {n} processed (median; max {max(idle) * 1000:.1f} ms)",
            f"{med * 1000:.1f} ms",
            f"{plain_seconds * 1000:.0f} ms",
            f"{plain_seconds / med:.0f}x",
            f"< {IDLE_TARGET_S * 1000:.0f} ms",
            max(idle) < IDLE_TARGET_S,
        )
    )
    rows.append(
        Row(
            f"reconciliation sweep over {n} ({len(sweep_times)} ticks)",
            f"{sum(sweep_times):.2f} s (max tick {max(sweep_times):.2f} s)",
            "-",
            "",
            f"ticks < {TICK_TARGET_S} s",
            max(sweep_times) < TICK_TARGET_S,
        )
    )


RUN_QUEUE = {
    "concurrency": {
        "runs": {
            "max_concurrent_runs": 4,
            "tag_concurrency_limits": [{"key": "dagster/backfill", "limit": 2}],
        }
    }
}
"""The run queue of dagster_home/dagster.yaml (QueuedRunCoordinator, 4 runs, 2 backfill runs)."""
BACKFILL_DAEMON_INTERVAL_S = 30.0
"""Dagster's backfill daemon loop interval (``DEFAULT_DAEMON_INTERVAL_SECONDS``)."""


@dataclass
class DaemonResult:
    requested_wall: float
    """Seconds until every batch was registered and requested (runs queued / backfills made)."""
    registered: int
    requested: int
    tick_seconds: list[float]
    backfills: int = 0
    processed: int = 0
    processed_wall: float | None = None
    """Seconds until every batch was processed (None: not within the limit)."""
    runs: int = 0
    measured_at: float = 0.0
    """Seconds from the start to the last measurement."""


def _daemon_backlog(
    work: Path, n: int, seed: int, *, threshold: int, process_limit: float
) -> DaemonResult:
    """Pending batches through Dagster's own daemons: sensor, backfill, queued-run coordinator.

    Each daemon runs its iteration on its own thread, as ``dagster-daemon run`` does (the
    sensor loop every 0.1 s, the sensor's own minimum interval 1 s; the backfill daemon
    every 30 s; the run queue at its dequeue interval). Runs are launched by Dagster's
    default run launcher through the code server (a process per run), in process inside.
    ``process_limit`` > 0: also wait (at most that long) until the stand-in outputs of all
    batches are in the lake.
    """
    import threading

    from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )
    from dagster._daemon.sensor import execute_sensor_iteration

    from aerofs_pipelines.defs.sensors import BACKLOG_TAG

    ids = batch_ids(n, seed + 3)
    landing, lake = work / "landing", work / "lake"
    seed_landing(landing, ids, journal=True, payload=False)
    env = {
        "AEROFS_LANDING": str(landing),
        "AEROFS_LAKE": str(lake),
        "AEROFS_SENSOR_BACKFILL_THRESHOLD": str(threshold),
    }
    done = lake / "batch_summary"
    errors: list[BaseException] = []
    # The instance (and its database) outlives the code server and the daemon threads.
    with (
        environment(env),  # read by the code server's sensor and the runs it launches
        instance_in(work / "home", overrides=RUN_QUEUE) as instance,
        contextlib.ExitStack() as stack,
    ):
        load = ModuleTarget(
            module_name="bench.pipeline",
            attribute="daemon_defs",
            working_directory=str(REPO_ROOT),
            location_name="bench-daemon",
        )
        logger = logging.getLogger("bench.daemon")
        # As dagster.yaml configures the daemon: runs are created on 4 threads.
        submit = stack.enter_context(ThreadPoolExecutor(4))
        workspace = stack.enter_context(create_test_daemon_workspace_context(load, instance))
        workspace.create_request_context()
        stop = threading.Event()
        dequeue_s = float(instance.run_coordinator.dequeue_interval_seconds)  # type: ignore[attr-defined]
        queue_daemon = stack.enter_context(QueuedRunCoordinatorDaemon(dequeue_s))

        def loop(step: Callable[[], object], pause: float) -> None:
            while not stop.is_set():
                try:
                    step()
                except BaseException as exc:  # reported after the run
                    errors.append(exc)
                    return
                stop.wait(pause)

        steps: list[tuple[Callable[[], object], float]] = [
            (lambda: list(execute_sensor_iteration(workspace, logger, None, submit)), 0.1)
        ]
        if process_limit > 0:
            steps += [
                (
                    lambda: list(execute_backfill_iteration(workspace, logger)),
                    BACKFILL_DAEMON_INTERVAL_S,
                ),
                (lambda: list(queue_daemon.run_iteration(workspace)), dequeue_s),
            ]

        def requested() -> int:
            if threshold >= n:
                return instance.get_runs_count()
            return sum(
                int(b.tags.get(BACKLOG_TAG, "0"))
                for b in instance.get_backfills(filters=BulkActionsFilter())
            )

        started = time.perf_counter()
        threads = [threading.Thread(target=loop, args=st, daemon=True) for st in steps]
        for t in threads:
            t.start()
        count = 0
        requested_wall = 0.0
        try:
            while time.perf_counter() - started < 2 * BACKLOG_TARGET_S and not errors:
                count = requested()
                if count >= n:
                    break
                time.sleep(0.2)
            requested_wall = time.perf_counter() - started
            processed, processed_wall = 0, None
            while process_limit > 0 and not errors:
                processed = len(os.listdir(done)) if done.exists() else 0
                if processed >= n:
                    processed_wall = time.perf_counter() - started
                    break
                if time.perf_counter() - started > process_limit:
                    processed_wall = None
                    break
                time.sleep(1.0)
            measured_at = time.perf_counter() - started
        finally:
            stop.set()
            for t in threads:
                t.join()
        ticks = [
            t
            for state in instance.all_instigator_state()
            for t in instance.get_ticks(state.instigator_origin_id, state.selector_id)
        ]
        registered = len(instance.get_dynamic_partitions("batches"))
        backfills = instance.get_backfills(filters=BulkActionsFilter())
        runs = instance.get_runs_count()
        if process_limit > 0:
            # Stop what is still running: the instance and its database go away next.
            for b in backfills:
                if b.status == BulkActionStatus.REQUESTED:
                    instance.update_backfill(b.with_status(BulkActionStatus.CANCELED))  # type: ignore[no-untyped-call]
            for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                instance.run_launcher.terminate(run.run_id)
    if errors:
        raise errors[0]
    tick_seconds = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp]
    print(
        f"[daemon {n}, threshold {threshold}] tick seconds (oldest first): "
        + " ".join(f"{x:.2f}" for x in reversed(tick_seconds) if x > 0.05),
        file=sys.stderr,
    )
    return DaemonResult(
        requested_wall=requested_wall,
        registered=registered,
        requested=count,
        tick_seconds=tick_seconds,
        backfills=len(backfills),
        runs=runs,
        processed=processed,
        processed_wall=processed_wall,
        measured_at=measured_at,
    )


def bench_daemon(
    work: Path, n: int, plain_n: int, seed: int, process_limit: float, rows: list[Row]
) -> None:
    """A backlog through Dagster's daemons: backlog mode (one backfill per tick) at ``n``
    versus one run per batch (the plain daemon path) at ``plain_n``, extrapolated to ``n``."""
    plain = _daemon_backlog(work / "plain", plain_n, seed, threshold=10**9, process_limit=0)
    assert plain.registered == plain.requested == plain_n, plain
    per_run = plain.requested_wall / plain_n
    plain_est = per_run * n
    ours = _daemon_backlog(work / "backlog", n, seed, threshold=20, process_limit=process_limit)
    assert ours.registered == ours.requested == n, ours
    rows.append(
        Row(
            f"backlog {n} via the daemons: max tick ({len(ours.tick_seconds)} ticks, backlog mode)",
            f"{max(ours.tick_seconds):.2f} s",
            f"{max(plain.tick_seconds):.2f} s (at {plain_n})",
            "",
            f"< {TICK_TARGET_S} s",
            max(ours.tick_seconds) < TICK_TARGET_S,
        )
    )
    rows.append(
        Row(
            f"backlog {n} via the daemons: all registered and requested",
            f"{ours.requested_wall:.0f} s ({ours.backfills} backfills)",
            f"{plain_est:.0f} s (est.: {plain_n} runs in {plain.requested_wall:.0f} s, "
            f"{per_run:.3f} s/run, x{n / plain_n:.0f})",
            f"{plain_est / ours.requested_wall:.0f}x",
            f"< {BACKLOG_TARGET_S:.0f} s",
            ours.requested_wall < BACKLOG_TARGET_S,
        )
    )
    if process_limit > 0:
        if ours.processed_wall is not None:
            wall, label = ours.processed_wall, f"all {n} processed"
        else:
            wall = ours.measured_at
            label = f"{ours.processed} of {n} processed (limit {process_limit:.0f} s)"
        rows.append(
            Row(
                f"backlog {n} via the daemons: {label}, {ours.runs} runs",
                f"{wall:.0f} s ({ours.processed / wall * 3600:,.0f} batches/h)",
                "",
                "",
                "(stand-in assets; backfill daemon every 30 s)",
                None,
            )
        )


def _work_seconds(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> float:
    """Seconds of asset work: inside the stand-in bodies (exact), else inside the steps.

    Runs execute in this process (in-process launcher and executor), so the stand-ins'
    own timer sees them. For the real assets the steps' start-to-success time is used,
    which also counts Dagster's in-step event writes: the overhead shown is then a floor.
    """
    if STEP_SECONDS:
        return sum(STEP_SECONDS)
    total = 0.0
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for rec in instance.all_logs(run_id):
            ev = rec.dagster_event
            if ev is None or ev.step_key is None:
                continue
            if ev.event_type_value == "STEP_START":
                starts[ev.step_key] = rec.timestamp
            elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                total += rec.timestamp - starts.pop(ev.step_key, rec.timestamp)
    return total


def _cli_runs(
    work: Path, keys: Sequence[str], target: tuple[str, str], instance_dir: Path
) -> float | None:
    """Seconds per batch of ``dagster asset materialize`` (a fresh process per run, the
    location's default executor), each batch on its own; None when no sample is asked."""
    import shutil as _shutil
    import subprocess

    if not keys:
        return None
    instance_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(instance_dir)}
    (instance_dir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    exe = _shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
        instance.add_dynamic_partitions("batches", list(keys))
    started = time.perf_counter()
    for key in keys:
        subprocess.run(
            [
                exe,
                "asset",
                "materialize",
                "-m",
                target[0],
                "-a",
                target[1],
                "--select",
                "group:batch",
                "--partition",
                key,
            ],
            env=env,
            check=True,
            capture_output=True,
            cwd=REPO_ROOT,
        )
    return (time.perf_counter() - started) / len(keys)


def bench_backfill(
    work: Path,
    n: int,
    seed: int,
    defs: dg.Definitions,
    target: tuple[str, str],
    rows: list[Row],
    cli_sample: int = 5,
) -> None:
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.backfill import execute_backfill_iteration

    ids = sorted(batch_ids(n, seed + 2))
    landing = work / "bf-landing"
    seed_landing(landing, ids, journal=False, payload=True)
    assert os.environ["AEROFS_LANDING"] == str(landing), "set before the definitions load"
    graph = defs.get_repository_def().asset_graph
    asset_keys = sorted(dg.AssetSelection.groups("batch").resolve(graph), key=str)
    assets = [
        a
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition) and set(a.keys) & set(asset_keys)
    ]
    # The same work as the backfill: the assets and the checks on them.
    checks = [c for c in defs.asset_checks or [] if isinstance(c, dg.AssetChecksDefinition)]
    resources = dict(defs.resources or {})

    with instance_in(
        work / "home-bf-single", synchronous_run_coordinator=True, synchronous_run_launcher=True
    ) as instance:
        instance.add_dynamic_partitions("batches", ids)
        module, attr = target
        load = ModuleTarget(
            module_name=module,
            attribute=attr,
            working_directory=str(REPO_ROOT),
            location_name="bench",
        )
        with create_test_daemon_workspace_context(load, instance) as workspace:
            workspace.create_request_context()  # code server up before the clock starts
            STEP_SECONDS.clear()
            started = time.perf_counter()
            instance.add_backfill(
                PartitionBackfill.from_asset_partitions(
                    backfill_id="benchsingle",
                    asset_graph=graph,
                    partition_names=ids,
                    asset_selection=asset_keys,
                    backfill_timestamp=time.time(),
                    tags={},
                    dynamic_partitions_store=instance,
                    all_partitions=False,
                    title=None,
                    description=None,
                    run_config={**QUIET, **in_process_config(defs)},
                )
            )
            logger = logging.getLogger("bench.backfill")
            status = None
            for _ in range(20):
                list(execute_backfill_iteration(workspace, logger))
                bf = instance.get_backfill("benchsingle")
                status = bf.status if bf else None
                if status != BulkActionStatus.REQUESTED:
                    break
            single_wall = time.perf_counter() - started
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": "benchsingle"}))
        assert status == BulkActionStatus.COMPLETED_SUCCESS, status
        single_work = _work_seconds(instance, [r.run_id for r in runs])

    with instance_in(work / "home-bf-per-batch") as instance:
        instance.add_dynamic_partitions("batches", ids)
        STEP_SECONDS.clear()
        started = time.perf_counter()
        run_ids = []
        for key in ids:
            result = dg.materialize(
                [*assets, *checks],
                partition_key=key,
                instance=instance,
                resources=resources,
                selection=asset_keys,
                run_config=QUIET,
            )
            run_ids.append(result.run_id)
        per_wall = time.perf_counter() - started
        per_work = _work_seconds(instance, run_ids)

    cli_per_batch = _cli_runs(work, ids[: max(1, cli_sample)], target, instance_dir=work / "cli")
    ratio = per_wall / single_wall
    overhead = (single_wall - single_work) / n
    per_overhead = (per_wall - per_work) / n
    rows.append(
        Row(
            f"{n} batches: single-run backfill vs run per batch ({len(runs)} run)",
            f"{single_wall:.1f} s",
            f"{per_wall:.1f} s",
            f"{ratio:.1f}x",
            f">= {BACKFILL_RATIO_TARGET:.0f}x",
            ratio >= BACKFILL_RATIO_TARGET,
        )
    )
    rows.append(
        Row(
            "orchestration overhead per batch (wall per batch, work included)",
            f"{overhead:.3f} s ({single_wall / n:.3f} s)",
            f"{per_overhead:.3f} s ({per_wall / n:.3f} s)",
            f"{per_overhead / max(overhead, 1e-9):.0f}x",
            f"< {OVERHEAD_TARGET_S} s",
            overhead < OVERHEAD_TARGET_S,
        )
    )
    if cli_per_batch is not None:
        cli_ratio = cli_per_batch * n / single_wall
        rows.append(
            Row(
                f"{n} batches: vs `dagster asset materialize` per batch ({cli_sample} sampled)",
                f"{single_wall:.1f} s",
                f"{cli_per_batch * n:.0f} s (est.)",
                f"{cli_ratio:.0f}x",
                f">= {BACKFILL_RATIO_TARGET:.0f}x",
                cli_ratio >= BACKFILL_RATIO_TARGET,
            )
        )
    rows.append(
        Row(
            "batches per hour",
            f"{n / single_wall * 3600:,.0f}",
            f"{n / per_wall * 3600:,.0f}",
            f"{ratio:.1f}x",
            "",
            None,
        )
    )


# ---------------------------------------------------------------------------------------------


def print_table(rows: Sequence[Row]) -> None:
    headers = ("metric", "aerofs", "plain dagster", "ratio", "target", "")
    cells = [
        (
            r.metric,
            r.ours,
            r.plain,
            r.ratio,
            r.target,
            "" if r.ok is None else ("PASS" if r.ok else "FAIL"),
        )
        for r in rows
    ]
    for line in format_table([headers, *cells], "<<<<<<", rule="columns"):
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--processed", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--daemon-backlog", type=int, default=10_000)
    parser.add_argument(
        "--daemon-plain", type=int, default=300, help="batches for the run-per-batch daemon path"
    )
    parser.add_argument(
        "--daemon-process",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait at most this long for the daemon backlog to be processed (0: do not)",
    )
    parser.add_argument(
        "--only", choices=("backlog", "daemon", "idle", "backfill"), action="append"
    )
    parser.add_argument("--standin", action="store_true", help="stand-in assets, not the real ones")
    parser.add_argument(
        "--cli-sample", type=int, default=5, help="batches run by `dagster asset materialize`"
    )
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL admin URL: instances on it")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    global PG_ADMIN_URL
    PG_ADMIN_URL = args.pg
    logging.getLogger("dagster").setLevel(logging.ERROR)
    from aerofs_pipelines.instance_storage import apply_event_env

    apply_event_env()  # what every process loading our dagster.yaml gets (both contenders)

    tmp = tempfile.mkdtemp(prefix="aerofs-bench-")
    # The resources read these when the definitions load (here and in the code server).
    os.environ["AEROFS_LANDING"] = str(Path(tmp) / "backfill" / "bf-landing")
    os.environ["AEROFS_LAKE"] = str(Path(tmp) / "backfill" / "bf-lake")
    real = None if args.standin else load_real_defs()
    defs = real or standin_defs
    target = (
        ("aerofs_pipelines.definitions", "defs") if real else ("bench.pipeline", "standin_defs")
    )
    print(
        f"assets: {'real (aerofs_pipelines.definitions)' if real else 'stand-in'}; "
        f"storage: {'PostgreSQL' if args.pg else 'SQLite'}; dagster {dg.__version__}"
    )
    sections: dict[str, Callable[[Path, list[Row]], None]] = {
        "backlog": lambda w, r: bench_backlog(w, args.backlog, args.seed, defs, r),
        "daemon": lambda w, r: bench_daemon(
            w, args.daemon_backlog, args.daemon_plain, args.seed, args.daemon_process, r
        ),
        "idle": lambda w, r: bench_idle(w, args.processed, args.seed, defs, r),
        "backfill": lambda w, r: bench_backfill(
            w, args.batches, args.seed, defs, target, r, args.cli_sample
        ),
    }
    rows: list[Row] = []
    try:
        for name, run in sections.items():
            if args.only and name not in args.only:
                continue
            started = time.perf_counter()
            run(Path(tmp) / name, rows)
            print(f"[{name}] {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))
    failed = any(r.ok is False for r in rows)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    # Run as bench.pipeline, the module the code server and the in-process runs import, so
    # the stand-ins' timer is the one read here (not a second copy named __main__).
    import bench.pipeline

    sys.exit(bench.pipeline.main())
