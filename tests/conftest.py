"""Shared fixtures: ``s3_endpoint`` (a moto S3 server, one per session) and ``pg_url``
(a fresh PostgreSQL database per test)."""

from __future__ import annotations

from collections.abc import Iterator

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
