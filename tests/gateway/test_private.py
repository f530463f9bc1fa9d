"""The gateway's private folder: where its database and key live, the move from an
earlier layout, and the server process's refusal to open them by another path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aerofs_pipelines.gateway import private
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.store import GatewayStore
from tests.support.gateway_store import open_store


def test_the_server_process_refuses_to_open_the_private_folder(tmp_path: Path) -> None:
    """In a process of its own (the audit hook cannot be removed): after protect(),
    open() of the database fails while SQLite itself keeps working."""
    code = """
import sqlite3, sys
from pathlib import Path
from aerofs_pipelines.gateway import private
folder = Path(sys.argv[1])
folder.mkdir()
db = folder / "aerofs_gateway.db"
sqlite3.connect(db).execute("create table t (a)").connection.commit()
private.protect(folder)
try:
    open(db, "rb")
except PermissionError as exc:
    print("refused:", exc.strerror)
else:
    print("opened")
con = sqlite3.connect(db)
con.execute("insert into t values (1)")
con.commit()
print("sqlite rows:", con.execute("select count(*) from t").fetchone()[0])
open(Path(sys.argv[1]).parent / "elsewhere.txt", "w").write("fine")
print("elsewhere: ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "gateway")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "refused: the gateway's private files are not opened by this process",
        "sqlite rows: 1",
        "elsewhere: ok",
    ]


def test_an_earlier_layout_is_moved_into_the_private_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    (home / "storage").mkdir(parents=True)
    legacy = home / "storage" / "aerofs_gateway.db"
    with open_store(f"sqlite:///{legacy}") as old:
        old.users.add("kept", Role.editor, "kept-user-password")
    (home / ".aerofs_secret_key").write_text("k" * 48 + "\n")
    store = GatewayStore.for_instance(hasher=Hasher.fast())
    try:
        assert store.users.get("kept") is not None
    finally:
        store.dispose()
    folder = home / private.FOLDER_NAME
    assert (folder / private.KEY_NAME).read_text().strip() == "k" * 48
    assert sorted(p.name for p in (home / "storage").iterdir()) == []
    assert not (home / ".aerofs_secret_key").exists()


def test_the_private_folder_is_not_created_with_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROFS_PG_URL", pg_url)
    store = GatewayStore.for_instance(hasher=Hasher.fast())
    store.dispose()
    assert not (tmp_path / "home" / private.FOLDER_NAME).exists()
