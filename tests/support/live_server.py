"""The real platform for end-to-end tests: ``aerofs serve`` as a child process.

``live_server(tmp)`` starts ``aerofs serve`` (gateway + Dagster webserver app + daemon) on
a free loopback port, with a fresh ``DAGSTER_HOME`` under ``tmp`` and a workspace that
loads :mod:`tests.support.browser_defs` (code location ``aerofs_pipelines``: job
``process_batch`` over the dynamic partitions ``batches``). Users and tokens are made
with the ``aerofs`` command, as an operator would. It fails loudly (never skips) when the
server does not come up, with the tail of the server's log in the error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, log_tail, running, wait_for_health

ROOT = Path(__file__).resolve().parents[2]
AEROFS = str(Path(sys.executable).with_name("aerofs"))
LOCATION = "aerofs_pipelines"  # as in the product's workspace.yaml
ADMIN_PASSWORD = "admin-password-for-live-tests"

WORKSPACE_YAML = f"""\
load_from:
  - python_module:
      module_name: tests.support.browser_defs
      attribute: defs
      working_directory: {ROOT}
      location_name: {LOCATION}
"""

# Dagster's default run queue (the daemon dequeues), polled every second so a launched
# run starts at once; runs execute in a subprocess (the default run launcher). No
# "Join the community" dialog: it pops up at a random moment over whatever is open.
DAGSTER_YAML = """\
run_queue:
  dequeue_interval_seconds: 1
telemetry:
  enabled: false
nux:
  enabled: false
"""


@dataclass
class LiveServer:
    """A running ``aerofs serve``: its URL, instance home and environment."""

    url: str
    port: int
    home: Path
    env: dict[str, str]
    log: Path

    def aerofs(self, *args: str, stdin: str | None = None) -> str:
        """Run ``aerofs ARGS`` against this instance; its stdout (fails loudly)."""
        done = subprocess.run(
            [AEROFS, *args],
            input=stdin,
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"aerofs {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def add_user(self, name: str, role: str, password: str) -> None:
        self.aerofs("users", "add", name, "--role", role, "--password-stdin", stdin=password)

    def create_token(self, user: str, role: str | None = None) -> str:
        args = ["tokens", "create", "--user", user, "--json"]
        if role is not None:
            args += ["--role", role]
        return str(json.loads(self.aerofs(*args))["token"])

    def add_batches(self, batch_ids: Sequence[str]) -> None:
        """Register batches as the landing sensor would (dynamic partitions)."""
        code = (
            "import sys\n"
            "from dagster import DagsterInstance\n"
            "with DagsterInstance.get() as i:\n"
            "    i.add_dynamic_partitions('batches', sys.argv[1:])\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, *batch_ids], env=self.env, check=True, timeout=60
        )

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log, lines)


@contextmanager
def live_server(
    tmp: Path,
    *,
    daemon: bool = True,
    timeout: float = 60.0,
    dagster_yaml: str = DAGSTER_YAML,
    workspace_yaml: str = WORKSPACE_YAML,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[LiveServer]:
    """``aerofs serve`` on a free loopback port with a fresh instance under ``tmp``.

    By default the test code location and an embedded SQLite instance; ``dagster_yaml``,
    ``workspace_yaml`` and ``extra_env`` (``AEROFS_*`` settings, which are otherwise not
    inherited) serve the product's own instead.
    """
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(dagster_yaml)
    workspace = tmp / "workspace.yaml"
    workspace.write_text(workspace_yaml)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AEROFS_", "DAGSTER_PG_"))
    }
    env.update(extra_env or {})
    env.update(
        DAGSTER_HOME=str(home),
        AEROFS_ADMIN_PASSWORD=ADMIN_PASSWORD,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "serve.log"
    cmd = [AEROFS, "serve", "--host", "127.0.0.1", "--port", str(port), "-w", str(workspace)]
    if not daemon:
        cmd.append("--no-daemon")
    # Stopped with SIGTERM (uvicorn's graceful stop, then the daemon's), then its group.
    with running(cmd, log, env=env, cwd=tmp) as proc:
        wait_for_health(f"{url}/healthz", proc, log, timeout=timeout)
        yield LiveServer(url=url, port=port, home=home, env=env, log=log)


@contextmanager
def product_server(
    tmp: Path, settings: Mapping[str, str], *, daemon: bool = True, test_polling: bool = True
) -> Iterator[LiveServer]:
    """``aerofs serve`` with the product's own code location and ``dagster.yaml`` (its
    polling shortened: :func:`tests.support.live_daemon.test_dagster_yaml`; as shipped
    with ``test_polling=False``) and the ``AEROFS_*`` ``settings`` (landing zone, lake,
    ...), under ``tmp/serve``."""
    import yaml

    from tests.support.live_daemon import WORKSPACE_YAML as PRODUCT_WORKSPACE
    from tests.support.live_daemon import test_dagster_yaml

    if test_polling:
        dagster_yaml = yaml.safe_dump(test_dagster_yaml(), sort_keys=False)
    else:
        dagster_yaml = (ROOT / "dagster_home" / "dagster.yaml").read_text()
    with live_server(
        tmp / "serve",
        daemon=daemon,
        dagster_yaml=dagster_yaml,
        workspace_yaml=PRODUCT_WORKSPACE,
        extra_env=dict(settings),
        timeout=120,
    ) as server:
        yield server
