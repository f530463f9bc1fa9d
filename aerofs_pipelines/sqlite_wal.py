"""Switching a SQLite database to WAL, for the project's two SQLite stores (the gateway's
database, the lake's Iceberg catalog). Only the standard library.

Several processes opening a new database at once race for the switch, and SQLite answers
the losers "database is locked" at once instead of waiting for its busy handler: the
switch is retried a while. The mode sticks to the file, so a database switched once
stays so.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

__all__ = ["enable_wal"]


def enable_wal(execute: Callable[[str], object], attempts: int = 100) -> None:
    """``PRAGMA journal_mode=WAL`` through ``execute`` (a connection's or cursor's),
    retried every 50 ms while the database is locked, at most ``attempts`` times."""
    for attempt in range(attempts):
        try:
            execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
