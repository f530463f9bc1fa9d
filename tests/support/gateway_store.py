"""Shared helpers for the gateway store tests (no tests here): a store on SQLite or on a
fresh PostgreSQL database, fast argon2 parameters and a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.store import GatewayStore

BACKENDS = ["sqlite", "postgresql"]
SECRET_KEY = "test-session-key-" + "k" * 32
PASSWORD = "correct horse battery"


class Clock:
    """A settable UTC clock: ``clock.advance(hours=13)``."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def url_for(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of the backend ``request.param`` names."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    return str(request.getfixturevalue("pg_url"))


@contextmanager
def open_store(url: str, clock: Clock | None = None, **kwargs: Any) -> Iterator[GatewayStore]:
    """A migrated store with test-speed hashing; disposed afterwards."""
    kwargs.setdefault("hasher", Hasher.fast())
    kwargs.setdefault("secret_key", SECRET_KEY)
    store = GatewayStore(url, clock=clock, **kwargs)
    try:
        store.migrate()
        yield store
    finally:
        store.dispose()


def all_text(store: GatewayStore) -> str:
    """Every value of every gateway table, as one string (to look for leaked secrets)."""
    import sqlalchemy as sa

    from aerofs_pipelines.gateway.store import db

    parts: list[str] = []
    with store.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)
