"""A gateway database: its engine, its clock, and its transactions."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from aerofs_pipelines.gateway.store import db

__all__ = ["Database"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    """The engine of ``url`` and the clock every table's times come from."""

    def __init__(self, url: str, clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self.engine = db.make_engine(url)
        self.now: Callable[[], datetime] = clock or _utcnow

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction (on SQLite ``BEGIN IMMEDIATE``)."""
        return db.write(self.engine)

    def read(self) -> AbstractContextManager[Connection]:
        """A read transaction."""
        return db.read(self.engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self.engine.dialect.name)
