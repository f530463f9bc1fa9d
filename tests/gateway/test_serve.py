"""``aerofs serve`` for real: uvicorn + gateway + daemon, stopped cleanly together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from aerofs_pipelines.gateway import private
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.store import GatewayStore
from tests.support.gateway_harness import LOCATION, ROOT
from tests.support.services import free_port, wait_for_port

WORKSPACE = f"""\
load_from:
  - python_module:
      module_name: tests.support.gateway_harness
      attribute: defs
      working_directory: {ROOT}
      location_name: {LOCATION}
"""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_serve_runs_gateway_and_daemon_and_stops_both(tmp_path: Path) -> None:
    (tmp_path / "workspace.yaml").write_text(WORKSPACE)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "AEROFS_ADMIN_PASSWORD": "first-admin-password",
        "AEROFS_ENV": "",
        "AEROFS_SECRET_KEY": "",
    }
    env.pop("AEROFS_PG_URL", None)
    cmd = [sys.executable, "-m", "aerofs_pipelines.cli", "serve", "--port", str(port)]
    cmd += ["-w", str(tmp_path / "workspace.yaml"), "--log-level", "warning"]
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        wait_for_port(port, timeout=90, proc=proc)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.post(f"{base}/graphql", json={"query": "{ version }"}).status_code == 401
        with httpx.Client(base_url=base, headers={"origin": base}) as client:
            login = {"username": "admin", "password": "first-admin-password"}
            assert client.post("/auth/login", json=login).json()["role"] == "admin"
            version = client.post("/graphql", json={"query": "{ version }"}).json()
            assert version["data"]["version"]
        _client_with_tokens(tmp_path / "home", port)
        daemons = [
            c
            for c in _children(proc.pid)
            if b"dagster-daemon" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        assert len(daemons) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert not _alive(daemons[0])


def _client_with_tokens(home: Path, port: int) -> None:
    """dagster-graphql's own client through the gateway, with a bearer token."""
    store = GatewayStore(f"sqlite:///{home / private.FOLDER_NAME / private.DATABASE_NAME}")
    try:
        store.users.add("launcher", Role.launcher, "launcher-password-1")
        _, launcher = store.tokens.create("launcher")
        _, viewer = store.tokens.create("launcher", role=Role.viewer)
    finally:
        store.dispose()

    def client(token: str) -> DagsterGraphQLClient:
        auth = {"Authorization": f"Bearer {token}"}
        return DagsterGraphQLClient("127.0.0.1", port_number=port, headers=auth)

    run_id = client(launcher).submit_job_execution("plain_job")
    assert client(launcher).get_run_status(run_id) is not None
    with pytest.raises(DagsterGraphQLClientError):
        client(viewer).submit_job_execution("plain_job")


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "AEROFS_ENV": "production"}
    env.pop("AEROFS_SECRET_KEY", None)
    cmd = [sys.executable, "-m", "aerofs_pipelines.cli", "serve", "--no-daemon"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "AEROFS_SECRET_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
