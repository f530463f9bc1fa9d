"""Fixtures shared by the gateway store tests: a settable clock and a database URL,
once for SQLite and once for a fresh PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway_store import BACKENDS, Clock, url_for


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return url_for(request, tmp_path)
