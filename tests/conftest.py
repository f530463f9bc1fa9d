"""Shared fixtures: ``s3_endpoint`` (a moto S3 server, one per session), ``pg_url``
(a fresh PostgreSQL database per test), ``instance`` and ``synchronous_instance``
(temporary Dagster instances)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.services import moto_server, postgres_database


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of a moto S3 server on loopback (credentials: any; region us-east-1)."""
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (dropped after the test)."""
    with postgres_database() as url:
        yield url


def _temp_instance(tmp_path: Path, *, synchronous: bool) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(
        temp_dir=str(home),
        synchronous_run_coordinator=synchronous,
        synchronous_run_launcher=synchronous,
    ) as inst:
        yield inst


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance (SQLite) in a temporary folder."""
    yield from _temp_instance(tmp_path, synchronous=False)


@pytest.fixture
def synchronous_instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """The same, launching requested runs at once, in this process (sensor/backfill tests)."""
    yield from _temp_instance(tmp_path, synchronous=True)
