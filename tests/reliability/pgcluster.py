"""A private PostgreSQL cluster that a test may stop and restart for real.

The machine's shared PostgreSQL (127.0.0.1:5432) must never be restarted by a test, so
:func:`private_postgres` runs ``initdb`` into a fresh folder and ``pg_ctl start`` on a
free loopback port, as the ``postgres`` system user (PostgreSQL refuses to run as root)
via ``runuser`` when the tests run as root. The test then restarts THAT server with
:meth:`PrivatePostgres.stop` / :meth:`PrivatePostgres.start` (a fast shutdown: live
connections are terminated, new ones refused until it is back). It fails loudly when the
PostgreSQL server binaries are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import free_port, wait_for_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    explicit = shutil.which("pg_ctl")
    if found:
        return Path(found[-1]).parent
    if explicit:
        return Path(explicit).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are required and not found")


@dataclass
class PrivatePostgres:
    """A running private cluster: ``url`` names its database ``aerofs``."""

    port: int
    data: Path
    bindir: Path
    user: str | None
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/aerofs"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        """Fast shutdown: every session is terminated, then the port closes."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb + start a private cluster on a free port; stop and delete it afterwards."""
    bindir = _bindir()
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="aerofs-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir(mode=0o700)
    log = root / "server.log"
    log.touch()
    if user:
        entry = pwd.getpwnam(user)
        for path in (data, log):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    pg = PrivatePostgres(port=free_port(), data=data, bindir=bindir, user=user, log=log)
    try:
        pg._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N")
        pg.start()
        pg._run(
            "psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-q",
            "-c", "CREATE DATABASE aerofs",
        )  # fmt: skip
        yield pg
    finally:
        with contextlib.suppress(Exception):
            if pg.is_running():
                pg.stop()
        shutil.rmtree(root, ignore_errors=True)
