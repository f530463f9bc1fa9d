"""The real orchestration for fault tests: ``dagster-daemon run`` on the product's code.

:func:`live_daemon` starts ``dagster-daemon run`` (run queue, sensors, run retries, run
monitoring; it starts the code server, whose run workers execute the runs) on the
product's code location ``aerofs_pipelines.definitions`` and a fresh instance in a temp
``DAGSTER_HOME``. The instance is the product's ``dagster_home/dagster.yaml`` with only
its polling intervals shortened (:func:`test_dagster_yaml`), so run retries and run
monitoring are the configured ones. The landing sensor is on by default in the product,
so landing a batch is enough to get it processed.

The caller sets the environment (``AEROFS_LANDING``, ``AEROFS_LAKE``, ``AEROFS_PG_URL``,
AWS variables) with ``monkeypatch`` first: the daemon inherits it, and
:attr:`LiveDaemon.instance` (the test's own view of the same instance) reads it too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from tests.support.processes import log_tail, running, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))

WORKSPACE_YAML = f"""\
load_from:
  - python_module:
      module_name: aerofs_pipelines.definitions
      attribute: defs
      working_directory: {ROOT}
      location_name: aerofs_pipelines
"""

PID_EVENT = re.compile(r"(?:Started process for run|Executing steps in process) \(pid: (\d+)\)")


def test_dagster_yaml() -> dict[str, Any]:
    """The product's dagster.yaml with shorter polling (run queue, run monitoring)."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    assert config["run_retries"]["enabled"] is True
    assert config["run_monitoring"]["enabled"] is True
    config["run_queue"] = {"dequeue_interval_seconds": 1}
    config["run_monitoring"]["poll_interval_seconds"] = 1
    config["run_monitoring"]["start_timeout_seconds"] = 60
    return config


test_dagster_yaml.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class LiveDaemon:
    """A running ``dagster-daemon run``: its instance, log and process."""

    home: Path
    log: Path
    proc: subprocess.Popen[bytes]
    instance: dg.DagsterInstance

    def log_tail(self, lines: int = 80) -> str:
        return log_tail(self.log, lines)

    def batch_runs(self, batch_id: str) -> list[dg.DagsterRun]:
        """The runs of ``batch_id`` (the sensor's and their retries), oldest first."""
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/partition": batch_id})
        )
        return [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float, interval: float = 0.2
    ) -> Any:
        """Poll ``check`` until it returns something truthy; fail with the daemon log."""
        return wait_until(
            check,
            what,
            timeout=timeout,
            interval=interval,
            proc=self.proc,
            log=self.log,
            error=AssertionError,
        )

    def describe(self, run: dg.DagsterRun, events: int = 15) -> str:
        """A run's status, tags and last events, for failure messages."""
        logs = self.instance.all_logs(run.run_id)
        failures = [
            e for e in logs if e.dagster_event is not None and e.dagster_event.is_step_failure
        ]
        lines = [f"run {run.run_id} {run.status.value} tags={dict(run.tags)}"]
        for e in failures:
            error = getattr(e.dagster_event.event_specific_data, "error", None)  # type: ignore[union-attr]
            lines.append(f"  step failure: {e.step_key}: {error.to_string() if error else ''}")
        lines += [f"  {e.dagster_event_type}: {(e.message or '')[:300]}" for e in logs[-events:]]
        return "\n".join(lines)

    def worker_pid(self, run_id: str) -> int | None:
        """The pid of the run's worker process, from its engine event, once started."""
        for record in self.instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            match = PID_EVENT.search(record.message or "")
            if match:
                return int(match.group(1))
        return None

    def final_run(self, batch_id: str, timeout: float) -> dg.DagsterRun:
        """Wait until a run of ``batch_id`` succeeds and none is still in progress."""

        def done() -> dg.DagsterRun | None:
            runs = self.batch_runs(batch_id)
            if not runs or not all(r.is_finished for r in runs):
                return None
            ok = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
            if ok:
                return ok[-1]
            parents = {r.parent_run_id for r in runs}
            retry_pending = any(
                r.tags.get("dagster/will_retry") != "false" and r.run_id not in parents
                for r in runs
            )
            if not retry_pending:
                raise AssertionError(
                    f"every run of {batch_id} failed and none will be retried:\n"
                    + "\n".join(self.describe(r) for r in runs)
                )
            return None

        result: dg.DagsterRun = self.wait_for(f"a successful run of {batch_id}", done, timeout)
        return result


@contextmanager
def live_daemon(tmp: Path, *, env: dict[str, str] | None = None) -> Iterator[LiveDaemon]:
    """``dagster-daemon run`` on the product's code with a fresh instance under ``tmp``.

    The environment is this process's (set it with ``monkeypatch`` before), plus ``env``;
    ``DAGSTER_HOME`` is set here, in both.
    """
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(test_dagster_yaml(), sort_keys=False))
    workspace = tmp / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)  # the caller's monkeypatch restores it
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env.update(
        DAGSTER_HOME=str(home),
        # run retries are launched by the event log consumer daemon: poll every second
        DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), child_env.get("PYTHONPATH")])),
    )
    log = tmp / "daemon.log"
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        # Stopped with SIGINT (the daemon stops its code server), then what is left of its
        # group (the code server and run workers), as stop_group does.
        with running(
            [DAEMON, "run", "-w", str(workspace)], log, env=child_env, cwd=tmp, signum=signal.SIGINT
        ) as proc:
            yield LiveDaemon(home=home, log=log, proc=proc, instance=instance)
    finally:
        instance.dispose()


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGINT the daemon (it stops its code server), then kill what is left of its group."""
    stop_process(proc, signum=signal.SIGINT, timeout=timeout)
