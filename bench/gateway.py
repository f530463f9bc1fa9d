"""GraphQL through the gateway versus the bare Dagster webserver, in the same run.

Two servers on loopback, each its own process, on one shared instance (a fresh
``DAGSTER_HOME`` with the product's ``dagster.yaml``, seeded with ``--runs`` finished runs
of ``process_batch``) and the product's ``workspace.yaml``:

- **gateway**: ``aerofs serve --no-daemon --log-level warning`` (the gateway around
  Dagster's webserver app, in-process), called with ``Authorization: Bearer <token>`` of
  a viewer (made with ``aerofs users add`` / ``aerofs tokens create``);
- **bare**: ``dagster-webserver`` (the same Starlette app from
  ``create_app_from_workspace_process_context`` under uvicorn, log level warning, no
  authentication).

Each server gets ``--clients`` concurrent clients (asyncio + httpx, keep-alive), each
sending the same read query back to back: ``runs`` (the Runs page's list: 25 runs with
status, times and tags; the default) or ``assets`` (the asset catalogue's nodes). After a
warm-up, the load alternates between the servers in ``--rounds`` rounds (bare, gateway,
gateway, bare, ...) so that a noisy neighbour hurts both alike; each server gets
``--duration`` seconds of load in total. A response counts as an error unless it is
HTTP 200 with data of the expected type and no GraphQL errors.

Printed: requests, errors, req/s, p50/p99/mean latency per server, and the gateway's
overhead (p50 and p99 ratio - 1, throughput ratio). Target: p50 overhead under 10 % and
no errors. ``--check`` makes the exit code 1 when the target is missed.

    python -m bench.gateway                          # 60 s each, 20 clients
    python -m bench.gateway --duration 10 --warmup 2 # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness import format_table, write_json
from tests.support.processes import free_port, running, wait_for_health

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
P50_OVERHEAD_TARGET = 0.10

QUERIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (query, root field whose __typename is checked, variables)
    "runs": (
        """
query BenchRuns($limit: Int!) {
  runsOrError(limit: $limit) {
    __typename
    ... on Runs {
      results {
        id runId status jobName creationTime startTime endTime updateTime
        tags { key value }
      }
    }
    ... on PythonError { message }
  }
}""",
        "runsOrError",
        {"limit": 25},
    ),
    "assets": (
        """
query BenchAssets {
  assetNodes {
    id
    assetKey { path }
    groupName
    description
    isPartitioned
    jobNames
    computeKind
    repository { name location { name } }
  }
}""",
        "assetNodes",
        {},
    ),
}
EXPECTED_TYPENAME = {"runs": "Runs", "assets": None}


@dataclass
class Result:
    server: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies_ms")
        data.update(rps=self.rps, p50_ms=self.pct(0.50), p99_ms=self.pct(0.99), mean_ms=self.mean())
        return data


# ------------------------------------------------------------------------------ set-up


def child_env(home: Path) -> dict[str, str]:
    """The environment of the servers and CLI calls: this instance, nothing inherited
    that would point them elsewhere (PostgreSQL, another home)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROFS_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), AEROFS_ADMIN_PASSWORD="bench-admin-password-0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def aerofs(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "aerofs"), *args],
        input=stdin,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"aerofs {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def seed_runs(home: Path, count: int) -> None:
    """``count`` finished runs of ``process_batch`` (about 1 in 20 failed), each with
    start and end events, one registered batch each, as a busy instance would have."""
    from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun
    from dagster._core.storage.dagster_run import DagsterRunStatus

    os.environ["DAGSTER_HOME"] = str(home)
    now = time.time()
    with DagsterInstance.get() as instance:
        batch_ids = [f"bench-{i:05d}" for i in range(count)]
        instance.add_dynamic_partitions("batches", batch_ids)
        for i, batch_id in enumerate(batch_ids):
            run = instance.add_run(
                DagsterRun(
                    job_name="process_batch",
                    run_id=str(uuid.uuid4()),
                    status=DagsterRunStatus.NOT_STARTED,
                    tags={"dagster/partition": batch_id, "aerofs/pipeline": "batch"},
                )
            )
            started = now - (count - i) * 60.0
            instance.report_dagster_event(
                DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name),
                run.run_id,
                timestamp=started,
            )
            end = DagsterEventType.RUN_FAILURE if i % 20 == 7 else DagsterEventType.RUN_SUCCESS
            instance.report_dagster_event(
                DagsterEvent(end.value, job_name=run.job_name),
                run.run_id,
                timestamp=started + 5.0 + (i % 13),
            )


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Until the server answers; exits the bench with the tail of its log if it does not."""
    try:
        # Both answer their own health route without authentication once serving.
        wait_for_health(f"{url}/server_info", proc, log, timeout=timeout, statuses=(200, 401))
    except RuntimeError as exc:
        raise SystemExit(f"{url}: {exc}") from None


@contextmanager
def server(cmd: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[int]:
    """A server process (own process group); stopped with SIGTERM, then killed, and its
    code server with it if still there."""
    with running(cmd, log, env=env, cwd=REPO_ROOT) as proc:
        wait_ready(url, proc, log)
        yield proc.pid


# ------------------------------------------------------------------------------ load


async def load(
    url: str,
    headers: dict[str, str],
    query: str,
    clients: int,
    seconds: float,
    result: Result | None,
) -> None:
    """``clients`` loops sending the query for ``seconds``; recorded into ``result``."""
    text, root, variables = QUERIES[query]
    expected = EXPECTED_TYPENAME[query]
    body = json.dumps({"query": text, "variables": variables}).encode()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    all_headers = {**headers, "content-type": "application/json"}

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one_client(stop: float) -> None:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                problem = None
                try:
                    response = await client.post("/graphql", content=body, headers=all_headers)
                    if response.status_code != 200:
                        problem = f"HTTP {response.status_code}: {response.text[:200]}"
                    else:
                        payload = response.json()
                        data = (payload.get("data") or {}).get(root)
                        if payload.get("errors") or data is None:
                            problem = f"GraphQL: {str(payload)[:200]}"
                        elif expected and data.get("__typename") != expected:
                            problem = f"{data.get('__typename')}: {str(data)[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - began
                if result is None:
                    continue
                result.requests += 1
                if problem is None:
                    result.latencies_ms.append(elapsed * 1000)
                else:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(problem)

        started = time.perf_counter()
        stop = started + seconds
        await asyncio.gather(*(one_client(stop) for _ in range(clients)))
        if result is not None:
            result.seconds += time.perf_counter() - started


def same_answer(targets: dict[str, tuple[str, dict[str, str]]], query: str) -> None:
    """Both servers give the same data for the query (the gateway changes nothing)."""
    text, _, variables = QUERIES[query]
    answers = {
        name: httpx.post(
            f"{url}/graphql",
            json={"query": text, "variables": variables},
            headers=headers,
            timeout=60,
        ).json()
        for name, (url, headers) in targets.items()
    }
    if answers["bare"] != answers["gateway"] or answers["bare"].get("errors"):
        raise SystemExit(f"the servers disagree: {str(answers)[:1000]}")


# ------------------------------------------------------------------------------ report


def pct_change(new: float, base: float) -> str:
    return f"{(new / base - 1) * 100:+.1f}%" if base else "n/a"


def report(bare: Result, gateway: Result, args: argparse.Namespace) -> dict[str, Any]:
    rows = [
        ["server", "requests", "errors", "req/s", "p50 ms", "p99 ms", "mean ms"],
        *(
            [
                r.server,
                str(r.requests),
                str(r.errors),
                f"{r.rps:.1f}",
                f"{r.pct(0.50):.2f}",
                f"{r.pct(0.99):.2f}",
                f"{r.mean():.2f}",
            ]
            for r in (bare, gateway)
        ),
    ]
    print()
    print(
        f"GraphQL `{args.query}` query, {args.clients} concurrent clients, "
        f"{args.duration:g} s per server ({args.rounds} rounds), {args.runs} runs seeded"
    )
    for line in format_table(rows, "<>>>>>>"):
        print(line)
    p50 = gateway.pct(0.5) / bare.pct(0.5) - 1
    print()
    print(
        f"gateway overhead: p50 {pct_change(gateway.pct(0.5), bare.pct(0.5))}, "
        f"p99 {pct_change(gateway.pct(0.99), bare.pct(0.99))}, "
        f"throughput {pct_change(gateway.rps, bare.rps)} "
        f"(p50 ratio {gateway.pct(0.5) / bare.pct(0.5):.3f})"
    )
    errors = bare.errors + gateway.errors
    ok = p50 < P50_OVERHEAD_TARGET and errors == 0
    print(
        f"target: p50 overhead < {P50_OVERHEAD_TARGET:.0%} and no errors -> "
        f"{'PASS' if ok else 'FAIL'}"
    )
    for r in (bare, gateway):
        for sample in r.error_samples:
            print(f"  {r.server} error: {sample}")
    return {
        "query": args.query,
        "clients": args.clients,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "seeded_runs": args.runs,
        "results": [bare.summary(), gateway.summary()],
        "p50_overhead": p50,
        "p99_overhead": gateway.pct(0.99) / bare.pct(0.99) - 1,
        "throughput_ratio": gateway.rps / bare.rps if bare.rps else None,
        "target_met": ok,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


# ------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load per server")
    p.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    p.add_argument("--query", choices=sorted(QUERIES), default="runs")
    p.add_argument("--rounds", type=int, default=3, help="alternations per server (default 3)")
    p.add_argument("--warmup", type=float, default=5.0, help="unrecorded seconds per server")
    p.add_argument("--runs", type=int, default=200, help="finished runs to seed (default 200)")
    p.add_argument(
        "--workspace", type=Path, default=REPO_ROOT / "workspace.yaml", help="code location"
    )
    p.add_argument(
        "--instance-yaml",
        type=Path,
        default=REPO_ROOT / "dagster_home" / "dagster.yaml",
        help="dagster.yaml of the fresh instance (default: the product's)",
    )
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.rounds < 1 or args.runs < 0:
        p.error("--duration, --clients, --rounds must be positive, --runs >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="aerofs-bench-gateway-"))
    try:
        return run(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> int:
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(args.instance_yaml, home / "dagster.yaml")
    env = child_env(home)
    t0 = time.perf_counter()
    seed_runs(home, args.runs)
    aerofs(
        env,
        "users",
        "add",
        "bench",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="bench-viewer-password-0",
    )
    token = json.loads(aerofs(env, "tokens", "create", "--user", "bench", "--json"))["token"]
    print(f"instance seeded with {args.runs} runs in {time.perf_counter() - t0:.1f}s ({home})")

    workspace = str(args.workspace.resolve())
    gw_port, bare_port = free_port(), free_port()
    gw_url, bare_url = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{bare_port}"
    gw_cmd = [
        str(BIN / "aerofs"),
        "serve",
        "--no-daemon",
        "--host",
        "127.0.0.1",
        "--port",
        str(gw_port),
        "-w",
        workspace,
        "--log-level",
        "warning",
    ]
    bare_cmd = [
        str(BIN / "dagster-webserver"),
        "-h",
        "127.0.0.1",
        "-p",
        str(bare_port),
        "-w",
        workspace,
    ]
    targets = {
        "bare": (bare_url, {}),
        "gateway": (gw_url, {"authorization": f"Bearer {token}"}),
    }
    results = {name: Result(name) for name in targets}
    with ExitStack() as stack:
        stack.enter_context(server(bare_cmd, env, tmp / "bare.log", bare_url))
        stack.enter_context(server(gw_cmd, env, tmp / "gateway.log", gw_url))
        print(f"bare webserver on {bare_url}, gateway on {gw_url}; warming up")
        same_answer(targets, args.query)
        for url, headers in targets.values():
            asyncio.run(load(url, headers, args.query, args.clients, args.warmup, None))
        slice_s = args.duration / args.rounds
        for i in range(args.rounds):
            order = ["bare", "gateway"] if i % 2 == 0 else ["gateway", "bare"]
            for name in order:
                url, headers = targets[name]
                asyncio.run(load(url, headers, args.query, args.clients, slice_s, results[name]))
                r = results[name]
                print(f"  round {i + 1}/{args.rounds} {name:8s} {r.requests:7d} requests so far")
    summary = report(results["bare"], results["gateway"], args)
    if args.json:
        write_json(args.json, summary)
    return 1 if args.check and not summary["target_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
