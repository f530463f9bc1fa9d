"""``aerofs serve``: the gateway app under uvicorn, plus the Dagster daemon.

One process serves the gateway around Dagster's webserver app (in-process, on the
configured instance); a ``dagster-daemon run`` child process, for the same instance and
workspace, runs schedules, sensors, the run queue and backfills. The daemon stops with
the server (and dies with it on Linux, via ``PR_SET_PDEATHSIG``). With the embedded
SQLite store, the server process refuses to open the gateway's private files by any other
path than SQLite (:func:`private.protect`).

The code location: ``--workspace FILE``, else ``./workspace.yaml`` when present, else
the package's ``aerofs_pipelines.definitions:defs``.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from aerofs_pipelines import config

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from aerofs_pipelines.gateway.app.mounts import MountedApp

log = logging.getLogger("aerofs.serve")
DEFAULT_MODULE = "aerofs_pipelines.definitions"
DEFAULT_ATTRIBUTE = "defs"
_PR_SET_PDEATHSIG = 1


def workspace_args(workspace: str | None) -> list[str]:
    """The ``dagster`` CLI arguments naming the code location."""
    if workspace is None and Path("workspace.yaml").is_file():
        workspace = "workspace.yaml"
    if workspace is not None:
        if not Path(workspace).is_file():
            raise FileNotFoundError(2, "workspace file not found", workspace)
        return ["-w", str(Path(workspace).resolve())]
    return ["-m", DEFAULT_MODULE, "-a", DEFAULT_ATTRIBUTE]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def start_daemon(args: Sequence[str]) -> subprocess.Popen[bytes]:
    """``dagster-daemon run`` for the same instance (``DAGSTER_HOME``) and code location."""
    exe = Path(sys.executable).with_name("dagster-daemon")
    from aerofs_pipelines._dagster_compat import DAEMON_MODULE

    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", DAEMON_MODULE]
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen([*cmd, "run", *args], preexec_fn=preexec)


def stop_daemon(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Ask the daemon to stop; kill it if it does not within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve(
    host: str = "127.0.0.1",
    port: int = 3000,
    *,
    workspace: str | None = None,
    daemon: bool = True,
    log_level: str = "info",
    mounts: Callable[[DagsterInstance], Sequence[MountedApp]] | None = None,
) -> int:
    """Run the platform until interrupted; the exit code. ``mounts`` builds, for the
    instance, the apps the gateway serves beside the webserver (the batch API)."""
    home = config.export_dagster_home()

    import uvicorn
    from dagster import DagsterInstance
    from dagster_webserver.version import __version__ as webserver_version

    from aerofs_pipelines._dagster_compat import load_target
    from aerofs_pipelines.gateway import private
    from aerofs_pipelines.gateway.app import GatewayConfig, create_app
    from aerofs_pipelines.gateway.auth.dagster_context import GatewayProcessContext
    from aerofs_pipelines.gateway.bootstrap import prepare_store

    args = workspace_args(workspace)
    gateway_config = GatewayConfig.from_env()
    # key check (MissingSecretKey in production without AEROFS_SECRET_KEY), migrations,
    # and the first admin
    store = prepare_store()
    if config.postgres_url() is None:  # the SQLite store and key: nothing else opens them
        private.protect(private.folder())
    with ExitStack() as stack:
        stack.callback(store.dispose)
        instance = stack.enter_context(DagsterInstance.get())
        if daemon:
            proc = start_daemon(args)
            stack.callback(stop_daemon, proc)
        context = stack.enter_context(
            GatewayProcessContext(
                instance,
                load_target(
                    args[1] if args[0] == "-w" else None, DEFAULT_MODULE, DEFAULT_ATTRIBUTE
                ),
                version=webserver_version,
            )
        )
        app = create_app(
            context, store, gateway_config, mounts(instance) if mounts is not None else ()
        )
        log.info("serving on http://%s:%s (DAGSTER_HOME=%s)", host, port, home)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            ws_max_size=gateway_config.max_body_bytes,
            proxy_headers=False,  # the gateway reads them, from AEROFS_TRUSTED_PROXIES only
        )
    return 0
