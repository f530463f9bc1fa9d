"""Ingest to processed: how long a small batch takes through the running product, per stage.

Issue 15 ("Seconds, not minutes") asks for the median under 15 s with the embedded
defaults and under 20 s on S3 without a queue. This benchmark starts the product the way
a user runs it, ``aerofs serve`` (gateway, webserver, daemon) with the product's own code
location and ``dagster_home/dagster.yaml`` (``--test-polling``: the tests' shortened
polling instead), on a fresh instance, once per set-up:

- ``embedded``: the defaults: a local landing folder and lake, SQLite instance;
- ``s3``: a moto S3 server (``moto_server``) for landing zone and lake, no SQS queue,
  SQLite instance;
- ``s3-pg``: the same with the instance on a fresh PostgreSQL database
  (``$AEROFS_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``).

Each batch (a seeded ``orders.csv`` of 200 rows with one bad row, and a ``notes.txt``) is
landed with ``aerofs ingest`` and waited for until its run ended, before the next one (each
batch meets an idle pipeline). Before each ingest a seeded random pause of up to
``--jitter`` seconds (default 10, the sensor's interval) lets batches arrive at any phase
of the daemon's loops, as real ones do: without it every ingest would follow the previous
run's end by the same delay and meet the sensor at the same point of its interval.
``--warmup`` batches (default 1) go first and are not counted.

Every stage comes from the instance's own records: the sensor tick that requested the
run (its start), the run's creation time and its events, whose timestamps the writing
processes took. The clock starts when ``aerofs ingest`` returned (the batch is complete
and announced) and stops at the run's ``RUN_SUCCESS``, which is when the batch API
answers ``processed``:

==============  ===================================================================
sensor wait     ingest returned -> the tick that requested the run started
                (the sensor's ``minimum_interval_seconds``, the daemon's 5 s loop)
sensor tick     tick started -> run created (evaluation in the code server, the
                partition added, the run created)
queue           run created -> ``RUN_STARTING`` (queued, then dequeued and launched by
                the run queue daemon every ``dequeue_interval_seconds``)
launch          ``RUN_STARTING`` -> the run's worker process reports (the code server
                starts a Python process, imports, loads the instance)
code load       worker up -> ``RUN_START`` (the code location loaded, the plan built)
to first step   ``RUN_START`` -> first ``STEP_START`` (executor, resources)
steps           first step start -> last step end (the assets and checks, in process)
finish          last step end -> ``RUN_SUCCESS``
==============  ===================================================================

Printed per set-up: each stage's median, p95, min and max over the batches (the medians
do not add up to the total's: each is a median of its own), the subtotals pickup (ingest
-> run created) and run (created -> success), the total's median and p95 against the
target, each step's median, the landing sensor's ticks (spacing, duration idle and
requesting), the load average at start and end, and any batch that failed or was re-run
(not counted; exit code 1). ``--json`` has every batch's marks.

    python -m bench.latency                                  # embedded and s3, 20 batches each
    python -m bench.latency --setups embedded --batches 2 --warmup 0 --jitter 0   # smoke
    python -m bench.latency --setups s3-pg --test-polling --json latency.json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from aerofs_pipelines.sample_data import notes_text, orders_csv
from bench.harness import environment, format_table, write_json
from tests.support.live_server import LiveServer, product_server
from tests.support.processes import wait_until
from tests.support.services import PG_ADMIN_URL, moto_server, postgres_database

SETUPS = ("embedded", "s3", "s3-pg")
TARGETS_S = {"embedded": 15.0, "s3": 20.0, "s3-pg": 20.0}
"""Issue 15: median ingest -> processed (S3 without a queue: 20 s)."""
SENSOR = "landing_sensor"
PARTITION_TAG = "dagster/partition"
WILL_RETRY = "dagster/will_retry"
BUCKET = "aerofs-latency"
ROWS = 200
POLL_S = 0.5
"""How often the bench looks for the run's end (it only paces the loop: nothing is timed by it)."""

STAGES: tuple[tuple[str, str, str], ...] = (
    ("sensor wait", "ingest_returned", "tick_started"),
    ("sensor tick", "tick_started", "created"),
    ("queue", "created", "starting"),
    ("launch", "starting", "worker_up"),
    ("code load", "worker_up", "run_started"),
    ("to first step", "run_started", "first_step"),
    ("steps", "first_step", "last_step_end"),
    ("finish", "last_step_end", "success"),
)
"""(stage, from mark, to mark): consecutive marks of :class:`Batch`."""
SUBTOTALS: tuple[tuple[str, str, str], ...] = (
    ("= pickup", "ingest_returned", "created"),
    ("= run", "created", "success"),
)
TOTAL = ("total", "ingest_returned", "success")


@dataclass
class Batch:
    """One batch's wall-clock marks (``time.time()`` seconds; None: not found)."""

    batch_id: str
    warmup: bool
    ingest_started: float = 0.0
    ingest_returned: float = 0.0
    observed: float | None = None
    """When this process saw the run finished (paced by ``POLL_S``; not used in stages)."""
    tick_started: float | None = None
    tick_ended: float | None = None
    created: float | None = None
    enqueued: float | None = None
    starting: float | None = None
    """``RUN_STARTING``: dequeued and handed to the run launcher (Dagster 1.13 stores no
    ``RUN_DEQUEUED``)."""
    worker_up: float | None = None
    run_started: float | None = None
    first_step: float | None = None
    last_step_end: float | None = None
    success: float | None = None
    run_id: str | None = None
    status: str | None = None
    error: str | None = None
    """The first error the run's events carry (a step's, the engine's)."""
    runs: int = 1
    """The batch's runs: more than one when Dagster re-ran a failed run (run retries)."""
    retried_errors: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    """Each step's seconds, ``STEP_START`` -> its end."""

    def mark(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)

    def stage(self, start: str, end: str) -> float | None:
        a, b = self.mark(start), self.mark(end)
        return None if a is None or b is None else b - a

    @property
    def total(self) -> float | None:
        return self.stage("ingest_returned", "success")


@dataclass
class SetupResult:
    setup: str
    description: str
    target_s: float
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    batches: list[Batch] = field(default_factory=list)
    ticks: dict[str, Any] = field(default_factory=dict)
    other_runs: dict[str, int] = field(default_factory=dict)
    """Runs not of a measured batch (the catalog's automation), by sensor (else job) name."""

    @property
    def measured(self) -> list[Batch]:
        """Counted batches processed by one run (a re-run's stages would mix two runs)."""
        return [b for b in self.batches if not b.warmup and b.status == "SUCCESS" and b.runs == 1]

    @property
    def failed(self) -> list[Batch]:
        """Batches that failed, or needed a re-run."""
        return [b for b in self.batches if b.status != "SUCCESS" or b.runs > 1]


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks; NaN if none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values) if values else math.nan,
        "p95": percentile(values, 0.95),
        "min": min(values) if values else math.nan,
        "max": max(values) if values else math.nan,
    }


# ---------------------------------------------------------------------------------------------
# Set-ups


@contextlib.contextmanager
def setup_settings(setup: str, tmp: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The ``AEROFS_*``/AWS settings of a set-up (services started), and its description."""
    if setup == "embedded":
        yield (
            {"AEROFS_LANDING": str(tmp / "landing"), "AEROFS_LAKE": str(tmp / "lake")},
            "local landing folder and lake, SQLite instance",
        )
        return
    import boto3

    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(moto_server(tmp))
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=BUCKET)
        settings = {
            **aws,
            "AEROFS_LANDING": f"s3://{BUCKET}/landing",
            "AEROFS_LAKE": f"s3://{BUCKET}/lake",
        }
        description = "moto S3 landing and lake, no queue, SQLite instance"
        if setup == "s3-pg":
            settings["AEROFS_PG_URL"] = stack.enter_context(postgres_database())
            # Outside the embedded SQLite store the session key is not generated.
            settings["AEROFS_SECRET_KEY"] = "latency-bench-secret-key-0123456789abcdef"
            description = (
                f"moto S3 landing and lake, no queue, PostgreSQL instance ({PG_ADMIN_URL})"
            )
        yield settings, description


# ---------------------------------------------------------------------------------------------
# Reading the instance


def batch_runs(instance: dg.DagsterInstance, batch_id: str) -> list[dg.RunRecord]:
    """The batch's runs, newest first."""
    records = instance.get_run_records(dg.RunsFilter(tags={PARTITION_TAG: batch_id}))
    return sorted(records, key=lambda r: r.create_timestamp, reverse=True)


def sensor_ticks(instance: dg.DagsterInstance) -> list[Any]:
    """The landing sensor's ticks, oldest first (none before its first tick)."""
    for state in instance.all_instigator_state():
        if state.name == SENSOR:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            return sorted(ticks, key=lambda t: t.timestamp)
    return []


def read_run(instance: dg.DagsterInstance, batch: Batch, record: dg.RunRecord) -> None:
    """Fill ``batch``'s marks from its run's record and events."""
    run = record.dagster_run
    batch.run_id, batch.status = run.run_id, run.status.value
    batch.created = record.create_timestamp.timestamp()
    starts: dict[str, float] = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind, ts = event.event_type, entry.timestamp
        error = getattr(event.event_specific_data, "error", None)
        if error is not None and batch.error is None:  # a step's or the engine's error
            batch.error = f"{event.step_key or kind.value}: {error.message.strip()}"
        if kind == dg.DagsterEventType.RUN_ENQUEUED:
            batch.enqueued = ts
        elif kind == dg.DagsterEventType.RUN_STARTING:
            batch.starting = ts
        elif kind == dg.DagsterEventType.RUN_START:
            batch.run_started = ts
        elif kind == dg.DagsterEventType.RUN_SUCCESS:
            batch.success = ts
        elif kind == dg.DagsterEventType.RUN_FAILURE and batch.error is None:
            batch.error = entry.message
        elif kind == dg.DagsterEventType.ENGINE_EVENT and batch.worker_up is None:
            if (entry.message or "").startswith("Started process for run"):
                batch.worker_up = ts
        elif kind == dg.DagsterEventType.STEP_START and event.step_key:
            starts[event.step_key] = ts
            batch.first_step = ts if batch.first_step is None else min(batch.first_step, ts)
        elif event.is_step_success or event.is_step_failure or event.is_step_skipped:
            step = event.step_key or "?"
            if step in starts:
                batch.steps[step] = ts - starts[step]
            batch.last_step_end = max(batch.last_step_end or ts, ts)
    if batch.worker_up is None:  # a launcher that does not report its process
        batch.worker_up = batch.run_started
    for tick in sensor_ticks(instance):
        if run.run_id in tick.run_ids:
            batch.tick_started, batch.tick_ended = tick.timestamp, tick.end_timestamp
            break


def tick_summary(instance: dg.DagsterInstance, since: float) -> dict[str, Any]:
    """The landing sensor's ticks since ``since``: their spacing and what an idle one costs."""
    ticks = [t for t in sensor_ticks(instance) if t.timestamp >= since]
    starts = [t.timestamp for t in ticks]
    spacing = [b - a for a, b in itertools.pairwise(starts)]
    idle = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp and not t.run_ids]
    busy = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp and t.run_ids]
    return {
        "ticks": len(ticks),
        "spacing": summary(spacing),
        "idle_tick": summary(idle),
        "requesting_tick": summary(busy),
    }


# ---------------------------------------------------------------------------------------------
# The run of one set-up


def write_batch(folder: Path, seed: int) -> list[str]:
    """A small seeded batch (the sample batch's shape: one bad CSV row, one bad byte)."""
    folder.mkdir(parents=True)
    text, _ = orders_csv(ROWS, seed)
    (folder / "orders.csv").write_text(text)
    (folder / "notes.txt").write_bytes(notes_text(seed=seed))
    return [str(folder / "orders.csv"), str(folder / "notes.txt")]


def wait_for_sensor(server: LiveServer, instance: dg.DagsterInstance, timeout: float) -> None:
    """Until the daemon is up, the code location loaded and the landing sensor ticked."""
    wait_until(
        lambda: len(sensor_ticks(instance)) >= 1,
        f"the first tick of {SENSOR}",
        timeout=timeout,
        interval=POLL_S,
        log=server.log,
    )


def process_batch(
    server: LiveServer, instance: dg.DagsterInstance, batch: Batch, files: list[str], timeout: float
) -> None:
    """Ingest with the CLI, wait for the batch's run to finish, read its marks."""
    batch.ingest_started = time.time()
    server.aerofs("ingest", *files, "--batch", batch.batch_id)
    batch.ingest_returned = time.time()

    def final() -> list[dg.RunRecord] | None:
        """The batch's runs once the newest succeeded, or failed for good (no run retry
        pending: Dagster tags a failed run ``dagster/will_retry``)."""
        runs = batch_runs(instance, batch.batch_id)
        if not runs or not all(r.dagster_run.is_finished for r in runs):
            return None
        newest = runs[0].dagster_run
        if newest.status != dg.DagsterRunStatus.SUCCESS and newest.tags.get(WILL_RETRY) != "false":
            return None
        return runs

    runs = wait_until(
        final,
        f"the final run of batch {batch.batch_id}",
        timeout=timeout,
        interval=POLL_S,
        log=server.log,
    )
    batch.observed = time.time()
    batch.runs = len(runs)
    for failed in runs[1:]:  # re-runs: the errors of the runs before
        earlier = Batch(batch.batch_id, batch.warmup)
        read_run(instance, earlier, failed)
        batch.retried_errors.append(f"run {earlier.run_id} {earlier.status}: {earlier.error}")
    read_run(instance, batch, runs[0])


def run_setup(setup: str, args: argparse.Namespace, tmp: Path) -> SetupResult:
    rng = random.Random(f"{args.seed}-{setup}")
    tmp.mkdir(parents=True)
    with setup_settings(setup, tmp) as (settings, description):
        result = SetupResult(setup, description, TARGETS_S[setup], os.getloadavg())
        with product_server(tmp, settings, test_polling=args.test_polling) as server:
            view = {
                "DAGSTER_HOME": str(server.home),
                "AEROFS_PG_URL": settings.get("AEROFS_PG_URL"),
            }
            view.update({k: None for k in os.environ if k.startswith("DAGSTER_PG_")})
            with environment(view), dg.DagsterInstance.from_config(str(server.home)) as instance:
                wait_for_sensor(server, instance, timeout=args.timeout)
                since = time.time()
                total = args.warmup + args.batches
                for i in range(total):
                    batch = Batch(f"latency-{i:03d}", warmup=i < args.warmup)
                    files = write_batch(tmp / "src" / batch.batch_id, args.seed * 1000 + i)
                    time.sleep(rng.uniform(0, args.jitter))
                    process_batch(server, instance, batch, files, args.timeout)
                    result.batches.append(batch)
                    print(progress_line(setup, i, total, batch), file=sys.stderr, flush=True)
                result.ticks = tick_summary(instance, since)
                ours = {b.batch_id for b in result.batches}
                for record in instance.get_run_records():
                    run = record.dagster_run
                    if run.tags.get(PARTITION_TAG) not in ours:
                        by = run.tags.get("dagster/sensor_name") or run.job_name
                        result.other_runs[by] = result.other_runs.get(by, 0) + 1
        result.load_end = os.getloadavg()
    return result


def progress_line(setup: str, i: int, total: int, batch: Batch) -> str:
    spent = batch.total
    shown = f"{spent:.1f} s" if spent is not None else "?"
    note = " (warm-up)" if batch.warmup else ""
    errors = [*batch.retried_errors, *([batch.error] if batch.error else [])]
    error = "".join(f"\n    {e}" for e in errors)
    note += f" after {batch.runs} runs" if batch.runs > 1 else ""
    return f"[{setup}] {i + 1}/{total} {batch.batch_id}: {batch.status} in {shown}{note}{error}"


# ---------------------------------------------------------------------------------------------
# Report


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def stage_rows(result: SetupResult) -> list[dict[str, Any]]:
    """Per stage, per subtotal and the total: median, p95, min, max over the measured batches."""
    rows = []
    for name, start, end in (*STAGES, *SUBTOTALS, TOTAL):
        values = [v for b in result.measured if (v := b.stage(start, end)) is not None]
        rows.append({"stage": name, "from": start, "to": end, "n": len(values), **summary(values)})
    return rows


def total_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in rows if r["stage"] == TOTAL[0])


def print_setup(result: SetupResult, rows: list[dict[str, Any]]) -> None:
    total = total_row(rows)
    print()
    print(f"== {result.setup}: {result.description}")
    print(
        f"   {len(result.measured)} batches measured, {len(result.failed)} failed or re-run; "
        f"load average {format_load(result.load_start)} at start, "
        f"{format_load(result.load_end)} at end"
    )
    table: list[Sequence[str]] = [("stage", "median s", "p95 s", "min s", "max s", "of total")]
    for row in rows:
        if row["stage"] == SUBTOTALS[0][0]:
            table.append(("",) * 6)
        share = row["median"] / total["median"] if total["median"] else math.nan
        table.append(
            (
                row["stage"],
                _s(row["median"]),
                _s(row["p95"]),
                _s(row["min"]),
                _s(row["max"]),
                "" if row is total or math.isnan(share) else f"{share:.0%}",
            )
        )
    for line in format_table(table, "<>>>>>", rule="columns"):
        print(("   " + line).rstrip())
    met = total["median"] < result.target_s
    print(
        f"   ingest -> processed: median {_s(total['median'])} s, p95 {_s(total['p95'])} s; "
        f"target median < {result.target_s:.0f} s: {'MET' if met else 'NOT MET'}"
    )
    steps: dict[str, list[float]] = {}
    for batch in result.measured:
        for step, seconds in batch.steps.items():
            steps.setdefault(step, []).append(seconds)
    if steps:
        ordered = sorted(steps.items(), key=lambda kv: -statistics.median(kv[1]))
        print(
            f"   {len(steps)} steps (median s): "
            + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in ordered)
        )
    ticks = result.ticks
    if ticks:
        print(
            f"   {SENSOR}: {ticks['ticks']} ticks, one every {_s(ticks['spacing']['median'])} s "
            f"(median; min {_s(ticks['spacing']['min'])}, max {_s(ticks['spacing']['max'])}); "
            f"a tick takes {_s(ticks['idle_tick']['median'])} s idle, "
            f"{_s(ticks['requesting_tick']['median'])} s requesting (median, start to end)"
        )
    if result.other_runs:
        print(
            "   other runs meanwhile: "
            + ", ".join(f"{k} x{v}" for k, v in result.other_runs.items())
        )
    for batch in result.failed:
        errors = [*batch.retried_errors, *([batch.error] if batch.error else [])]
        print(f"   {batch.batch_id} {batch.status} after {batch.runs} run(s): {'; '.join(errors)}")


def format_load(load: Sequence[float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def print_summary(
    results: Sequence[SetupResult], all_rows: Mapping[str, list[dict[str, Any]]]
) -> None:
    print()
    table: list[Sequence[str]] = [
        ("set-up", "batches", "median s", "p95 s", "target", "", "load average (1/5/15 min)")
    ]
    for r in results:
        total = total_row(all_rows[r.setup])
        met = total["median"] < r.target_s
        table.append(
            (
                r.setup,
                str(total["n"]),
                _s(total["median"]),
                _s(total["p95"]),
                f"< {r.target_s:.0f} s",
                "MET" if met else "NOT MET",
                f"{format_load(r.load_start)} -> {format_load(r.load_end)}",
            )
        )
    for line in format_table(table, "<>>>><<", rule="columns"):
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--setups",
        default="embedded,s3",
        help=f"comma-separated, of {', '.join(SETUPS)} (default: embedded,s3)",
    )
    parser.add_argument("--batches", type=int, default=20, help="measured batches per set-up")
    parser.add_argument("--warmup", type=int, default=1, help="batches first, not counted")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--jitter",
        type=float,
        default=10.0,
        metavar="S",
        help="random pause of up to S seconds before each ingest (default 10)",
    )
    parser.add_argument(
        "--test-polling",
        action="store_true",
        help="the tests' dagster.yaml (run queue polled every second) instead of the product's",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for one batch (default 300)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every batch's marks here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = sorted(set(setups) - set(SETUPS))
    if unknown or not setups:
        parser.error(f"unknown set-up(s) {unknown}: choose from {', '.join(SETUPS)}")
    if args.batches < 1 or args.warmup < 0 or args.jitter < 0:
        parser.error("--batches must be positive, --warmup and --jitter not negative")

    # SIGTERM unwinds like Ctrl-C: the servers started here are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    tmp = Path(tempfile.mkdtemp(prefix="aerofs-latency-"))
    print(
        f"ingest -> processed, {args.batches} batches per set-up (+{args.warmup} warm-up), "
        f"jitter up to {args.jitter:g} s, seed {args.seed}, "
        f"{'tests' if args.test_polling else 'product'} dagster.yaml; dagster {dg.__version__}, "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}"
    )
    results: list[SetupResult] = []
    all_rows: dict[str, list[dict[str, Any]]] = {}
    try:
        for setup in setups:
            result = run_setup(setup, args, tmp / setup)
            results.append(result)
            all_rows[setup] = stage_rows(result)
            print_setup(result, all_rows[setup])
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_summary(results, all_rows)
    if args.json:
        write_json(
            args.json,
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "python": platform.python_version(),
                "dagster": dg.__version__,
                "cpus": os.cpu_count(),
                "setups": [asdict(r) | {"stages": all_rows[r.setup]} for r in results],
            },
        )
    missed = any(total_row(all_rows[r.setup])["median"] >= r.target_s for r in results)
    failed = any(r.failed for r in results)
    return 1 if failed or (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
