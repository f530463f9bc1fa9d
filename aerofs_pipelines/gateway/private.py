"""Where the gateway keeps its secrets on disk, and how the server process guards them.

In the embedded default the gateway's database (argon2id hashes, sessions, tokens, the
audit log) and its session signing key live in their own folder,
``<DAGSTER_HOME>/gateway/`` (mode 0700): never under a folder Dagster serves (compute
logs have ``<DAGSTER_HOME>/compute_logs/``, see ``instance_storage.LocalComputeLogs``).
Earlier releases kept them at ``<DAGSTER_HOME>/storage/aerofs_gateway.db`` (inside the
default compute log folder, which the webserver's ``/logs`` route serves) and
``<DAGSTER_HOME>/.aerofs_secret_key``; :func:`move_legacy_files` moves them on first use.

:func:`protect` makes the server process refuse to ``open()`` anything in that folder
(a Python audit hook on the ``open`` event). SQLite is not affected (it opens its files
in C, and its connections in one process share their locks), but any other code path
that opened and closed the database file, such as a file-serving route, would silently
drop SQLite's POSIX locks for the whole process, and with them the isolation between
the server's writes and those of ``aerofs users`` in another process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from aerofs_pipelines import config

FOLDER_NAME = "gateway"
DATABASE_NAME = "aerofs_gateway.db"
KEY_NAME = "secret_key"
_LEGACY_DATABASE = Path("storage") / "aerofs_gateway.db"
_LEGACY_KEY = Path(".aerofs_secret_key")
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal")

_protected: tuple[str, ...] = ()
_hook_installed = False


def folder() -> Path:
    """The gateway's private folder under ``DAGSTER_HOME``, created (0700) if missing."""
    path = config.dagster_home() / FOLDER_NAME
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def database_path() -> Path:
    """The embedded default's SQLite database (legacy locations moved first)."""
    move_legacy_files()
    return folder() / DATABASE_NAME


def key_path() -> Path:
    """Where the embedded default keeps its generated session key (legacy moved first)."""
    move_legacy_files()
    return folder() / KEY_NAME


def move_legacy_files() -> None:
    """Move the database and key of an earlier release into the private folder.

    Run it with the server stopped (an upgrade restarts it anyway). The database's WAL is
    folded into the file first, so one hard link moves it whole; a concurrent mover
    finds its work done (the link fails when the target exists).
    """
    home = config.dagster_home()
    old_db, old_key = home / _LEGACY_DATABASE, home / _LEGACY_KEY
    if not old_db.exists() and not old_key.exists():
        return
    target = folder()
    if old_db.exists() and not (target / DATABASE_NAME).exists():
        with contextlib.closing(sqlite3.connect(old_db)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _move(old_db, target / DATABASE_NAME)
        for suffix in _SQLITE_SIDECARS:
            Path(f"{old_db}{suffix}").unlink(missing_ok=True)
    if old_key.exists() and not (target / KEY_NAME).exists():
        _move(old_key, target / KEY_NAME)


def _move(source: Path, target: Path) -> None:
    with contextlib.suppress(FileExistsError):  # another process moved it first
        os.link(source, target)
    source.unlink(missing_ok=True)


def protect(directory: Path) -> None:
    """Refuse, in this process and from now on, every ``open()`` of a file under
    ``directory`` (``PermissionError``). For the server process, after its start-up
    has read what it needs from there."""
    global _protected, _hook_installed
    _protected = (*_protected, os.path.realpath(directory) + os.sep)
    if not _hook_installed:
        sys.addaudithook(_refuse_protected_opens)
        _hook_installed = True


def unprotect_all() -> None:
    """Lift :func:`protect` (the hook stays installed, with nothing to guard)."""
    global _protected
    _protected = ()


def _refuse_protected_opens(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _protected:
        return
    path = args[0] if args else None
    if not isinstance(path, str | bytes | os.PathLike):
        return  # a file descriptor
    full = os.path.realpath(os.fsdecode(path)) + os.sep
    if full.startswith(_protected):
        raise PermissionError(
            errno.EACCES, "the gateway's private files are not opened by this process", path
        )
