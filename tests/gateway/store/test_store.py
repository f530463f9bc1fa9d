"""GatewayStore: migrations, users, logins (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aerofs_pipelines.gateway import private
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.store import (
    GatewayStore,
    LoginFailed,
    StoreError,
    UserExists,
    UserNotFound,
    db,
)
from aerofs_pipelines.gateway.store.errors import LOGIN_FAILED_MESSAGE
from tests.support.gateway_store import PASSWORD, Clock, open_store


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[GatewayStore]:
    with open_store(url, clock) as s:
        yield s


# --------------------------------------------------------------------------- schema


def test_migrate_creates_the_schema_once(url: str) -> None:
    with open_store(url) as store:
        assert store.schema_version() == db.LATEST_VERSION
        assert store.migrate() == db.LATEST_VERSION  # idempotent
        with store.engine.connect() as conn:
            versions = conn.scalars(sa.select(db.version_table.c.version)).all()
            assert list(versions) == [v for v, _, _ in db.MIGRATIONS]
            inspector = sa.inspect(conn)
            for table in db.metadata.sorted_tables:
                columns = {c["name"]: c for c in inspector.get_columns(table.name)}
                assert set(columns) == set(table.columns.keys()), table.name
                for column in table.columns:
                    assert columns[column.name]["nullable"] == column.nullable, column


def test_empty_database_has_version_zero(tmp_path: Path) -> None:
    store = GatewayStore(f"sqlite:///{tmp_path / 'empty.db'}", hasher=Hasher.fast())
    try:
        assert store.schema_version() == 0
    finally:
        store.dispose()


def test_concurrent_migrations_agree(url: str) -> None:
    stores = [GatewayStore(url, hasher=Hasher.fast()) for _ in range(4)]
    errors: list[BaseException] = []

    def run(s: GatewayStore) -> None:
        try:
            s.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert stores[0].schema_version() == db.LATEST_VERSION
    finally:
        for s in stores:
            s.dispose()


def test_refuses_a_newer_schema(store: GatewayStore, clock: Clock) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            db.version_table.insert().values(
                version=db.LATEST_VERSION + 1, description="future", applied_at=clock()
            )
        )
    with pytest.raises(db.SchemaTooNew, match="newer than this release"):
        store.migrate()


def test_for_instance_uses_a_private_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    store = GatewayStore.for_instance(hasher=Hasher.fast())
    try:
        store.migrate()
        path = tmp_path / "home" / private.FOLDER_NAME / private.DATABASE_NAME
        assert store.engine.url.database == str(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        store.dispose()


def test_for_instance_uses_postgres_when_configured(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = "postgresql://" + pg_url.split("://", 1)[1]  # SQLAlchemy alone would pick psycopg 3
    monkeypatch.setenv("AEROFS_PG_URL", bare)
    store = GatewayStore.for_instance(hasher=Hasher.fast())
    try:
        store.migrate()
        assert store.engine.dialect.name == "postgresql"
        store.users.add("pat", Role.viewer, PASSWORD)
        assert store.users.get("pat") is not None
    finally:
        store.dispose()


def test_bare_postgresql_url_gets_an_installed_driver() -> None:
    url = db.engine_url("postgresql://u@h/db")
    assert url.drivername in ("postgresql+psycopg2", "postgresql+psycopg")
    assert db.engine_url("sqlite:///x.db").drivername == "sqlite"


# --------------------------------------------------------------------------- users


def test_users_are_added_listed_and_changed(store: GatewayStore) -> None:
    store.users.add("bob", Role.editor, PASSWORD)
    store.users.add("alice", Role.viewer, PASSWORD)
    assert [u.username for u in store.users.list()] == ["alice", "bob"]
    bob = store.users.get("bob")
    assert bob is not None and bob.role is Role.editor and not bob.disabled
    store.users.set_role("bob", Role.admin)
    store.users.set_disabled("alice", True)
    assert store.users.get("bob").role is Role.admin  # type: ignore[union-attr]
    assert store.users.get("alice").disabled  # type: ignore[union-attr]
    assert store.users.get("nobody") is None
    assert store.users.count() == 2
    assert store.users.get("bob").to_json()["role"] == "admin"  # type: ignore[union-attr]


def test_bad_user_input_is_refused(store: GatewayStore) -> None:
    store.users.add("bob", Role.editor, PASSWORD)
    with pytest.raises(UserExists):
        store.users.add("bob", Role.viewer, PASSWORD)
    for name in ("", " bob", "a/b", "x" * 65, "-dash"):
        with pytest.raises(StoreError, match="invalid user name"):
            store.users.add(name, Role.viewer, PASSWORD)
    with pytest.raises(ValueError, match="too short"):
        store.users.add("carol", Role.viewer, "short")
    with pytest.raises(ValueError, match="newlines"):
        store.users.set_password("bob", PASSWORD + "\n")
    with pytest.raises(UserNotFound):
        store.users.set_role("nobody", Role.admin)
    with pytest.raises(UserNotFound):
        store.users.set_disabled("nobody", True)
    with pytest.raises(UserNotFound):
        store.users.set_password("nobody", PASSWORD)


def test_passwords_are_stored_as_argon2id(store: GatewayStore) -> None:
    store.users.add("bob", Role.editor, PASSWORD)
    with store.engine.connect() as conn:
        encoded = str(conn.scalar(sa.select(db.users.c.password_hash)))
    assert encoded.startswith("$argon2id$") and PASSWORD not in encoded


def test_production_hasher_parameters_are_strong() -> None:
    encoded = Hasher().hash(PASSWORD)
    assert "$m=65536,t=3,p=4$" in encoded


# --------------------------------------------------------------------------- login


def test_login_returns_the_principal_and_is_audited(store: GatewayStore) -> None:
    store.users.add("bob", Role.launcher, PASSWORD)
    principal = store.logins.login("bob", PASSWORD, "10.0.0.1")
    assert (principal.username, principal.role, principal.via) == ("bob", Role.launcher, "session")
    event = store.audit.events(limit=1)[0]
    assert (event.event, event.outcome, event.username, event.role, event.address) == (
        "login",
        "ok",
        "bob",
        "launcher",
        "10.0.0.1",
    )


def test_failed_logins_look_alike(store: GatewayStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.users.add("bob", Role.editor, PASSWORD)
    store.users.add("gone", Role.editor, PASSWORD)
    store.users.set_disabled("gone", True)
    verified: list[str] = []
    real_verify = store.logins.hasher.verify

    def counting_verify(encoded: str, password: str) -> bool:
        verified.append(password)
        return real_verify(encoded, password)

    monkeypatch.setattr(store.logins.hasher, "verify", counting_verify)
    messages = []
    for name, password in (("bob", "wrong password!"), ("nobody", PASSWORD), ("gone", PASSWORD)):
        with pytest.raises(LoginFailed) as info:
            store.logins.login(name, password, "10.0.0.2")
        messages.append(str(info.value))
    assert messages == [LOGIN_FAILED_MESSAGE] * 3
    assert len(verified) == 3  # an unknown user costs a (dummy) verification too
    outcomes = [(e.username, e.outcome, e.detail) for e in store.audit.events(limit=3)]
    assert outcomes == [
        ("gone", "failed", "user disabled"),
        ("nobody", "failed", "unknown user"),
        ("bob", "failed", "wrong password"),
    ]


def test_login_upgrades_an_outdated_hash(url: str) -> None:
    with open_store(url) as old:
        old.users.add("bob", Role.editor, PASSWORD)
    stronger = Hasher(time_cost=2, memory_cost_kib=16, parallelism=1)
    with open_store(url, hasher=stronger) as store:
        store.logins.login("bob", PASSWORD, "10.0.0.3")
        with store.engine.connect() as conn:
            encoded = str(conn.scalar(sa.select(db.users.c.password_hash)))
        assert "m=16,t=2,p=1" in encoded and not stronger.needs_rehash(encoded)
        assert store.logins.login("bob", PASSWORD, "10.0.0.3").username == "bob"


def test_user_changes_are_audited(store: GatewayStore) -> None:
    store.users.add("bob", Role.editor, PASSWORD, actor="cli:ops", address="local")
    store.users.set_role("bob", Role.viewer, actor="cli:ops")
    store.users.set_password("bob", "another long password", actor="cli:ops")
    store.users.set_disabled("bob", True, actor="cli:ops")
    store.users.set_disabled("bob", False, actor="cli:ops")
    events = [(e.event, e.username) for e in reversed(store.audit.events())]
    assert events == [
        ("user.add", "cli:ops"),
        ("user.set_role", "cli:ops"),
        ("user.passwd", "cli:ops"),
        ("user.disable", "cli:ops"),
        ("user.enable", "cli:ops"),
    ]
    text = " ".join(e.detail for e in store.audit.events())
    assert "another long password" not in text and PASSWORD not in text
