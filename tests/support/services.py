"""Real services for integration tests: a moto S3 server and fresh PostgreSQL databases.

Both fail loudly when the service cannot be reached or started; nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, stop_process, wait_for_port

__all__ = ["PG_ADMIN_URL", "free_port", "moto_server", "postgres_database", "wait_for_port"]

PG_ADMIN_URL = os.environ.get("AEROFS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """Start ``moto_server`` on loopback; yield its endpoint URL; stop it afterwards."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    log_path = log_dir / f"moto-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port, proc=proc, log=log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, timeout=10, group=False)
        log.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh database on the local PostgreSQL; yield its URL; drop it afterwards."""
    import sqlalchemy as sa

    name = f"aerofs_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise RuntimeError(
            f"PostgreSQL at {PG_ADMIN_URL} is required for this test and is not usable: {exc}"
        ) from exc
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
