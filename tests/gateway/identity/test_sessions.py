"""Sessions: signed, server-side, expiring, revocable cookies; the secret key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aerofs_pipelines.gateway import private
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity import secrets as secrets_mod
from aerofs_pipelines.gateway.identity.secrets import MissingSecretKey, secret_key
from aerofs_pipelines.gateway.store import GatewayStore, db
from tests.support.gateway_store import PASSWORD, Clock, open_store


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[GatewayStore]:
    with open_store(url, clock) as s:
        s.users.add("bob", Role.editor, PASSWORD)
        yield s


def _login(store: GatewayStore) -> str:
    return store.sessions.create(store.logins.login("bob", PASSWORD, "10.1.0.1"), "10.1.0.1")


def test_a_session_resolves_to_its_user(store: GatewayStore) -> None:
    cookie = _login(store)
    principal = store.sessions.resolve(cookie)
    assert principal is not None
    assert (principal.username, principal.role, principal.via) == ("bob", Role.editor, "session")
    assert principal.session_id and principal.session_id not in cookie
    with store.engine.connect() as conn:
        ids = conn.scalars(sa.select(db.sessions.c.id)).all()
    assert ids == [principal.session_id]  # only the hash of the cookie's secret is stored


def test_forged_and_foreign_cookies_are_refused(store: GatewayStore) -> None:
    cookie = _login(store)
    value, _, signature = cookie.rpartition(".")
    # (the first character: the last one of base64 carries unused bits)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    other_value = ("A" if value[0] != "A" else "B") + value[1:]
    forged = (f"{value}.{flipped}", f"{other_value}.{signature}")
    for bad in ("", "garbage", cookie + "x", *forged, "é" * 10, cookie * 10):
        assert store.sessions.resolve(bad) is None
    other = GatewayStore(store.url, secret_key="another-key-" + "z" * 32)
    try:
        assert other.sessions.resolve(cookie) is None  # signed with another key
        assert other.sessions.resolve(other.sessions.signer.new()[0]) is None  # no row behind it
    finally:
        other.dispose()


def test_sessions_expire(
    store: GatewayStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AEROFS_SESSION_HOURS", raising=False)
    cookie = _login(store)
    clock.advance(hours=11, minutes=59)
    assert store.sessions.resolve(cookie) is not None
    clock.advance(minutes=2)
    assert store.sessions.resolve(cookie) is None
    monkeypatch.setenv("AEROFS_SESSION_HOURS", "1")
    short = _login(store)
    clock.advance(minutes=61)
    assert store.sessions.resolve(short) is None


def test_idle_sessions_expire(
    store: GatewayStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROFS_SESSION_IDLE_MINUTES", "30")
    cookie = _login(store)
    for _ in range(3):  # in use: stays alive past the idle limit
        clock.advance(minutes=20)
        assert store.sessions.resolve(cookie) is not None
    clock.advance(minutes=31)
    assert store.sessions.resolve(cookie) is None


def test_logout_revokes_and_is_audited(store: GatewayStore) -> None:
    cookie = _login(store)
    store.sessions.revoke(cookie, address="10.1.0.1")
    assert store.sessions.resolve(cookie) is None
    store.sessions.revoke(cookie)  # again: a no-op
    store.sessions.revoke("garbage")
    events = [(e.event, e.username) for e in store.audit.events(limit=2)]
    assert events == [("logout", "bob"), ("login", "bob")]


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.users.set_role("bob", Role.viewer),
        lambda s: s.users.set_disabled("bob", True),
        lambda s: s.users.set_password("bob", "a brand new password"),
        lambda s: s.sessions.revoke_user("bob"),
    ],
    ids=["set_role", "disable", "passwd", "revoke_all"],
)
def test_user_changes_end_sessions(store: GatewayStore, change: object) -> None:
    cookies = [_login(store), _login(store)]
    change(store)  # type: ignore[operator]
    assert [store.sessions.resolve(c) for c in cookies] == [None, None]
    store.users.set_disabled("bob", False)
    assert [store.sessions.resolve(c) for c in cookies] == [None, None]  # they stay ended


def test_secret_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROFS_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("AEROFS_ENV", "production")
    assert secret_key() == "s" * 40
    monkeypatch.setenv("AEROFS_SECRET_KEY", "short")
    with pytest.raises(MissingSecretKey, match="too short"):
        secret_key()


def test_embedded_default_generates_a_private_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AEROFS_SECRET_KEY", "AEROFS_ENV", "AEROFS_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    key = secret_key()
    assert len(key) >= secrets_mod.MIN_KEY_LENGTH and secret_key() == key
    path = tmp_path / "home" / private.FOLDER_NAME / private.KEY_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


@pytest.mark.parametrize(
    "env",
    [{"AEROFS_ENV": "production"}, {"AEROFS_PG_URL": "postgresql://u@h/db"}],
    ids=["production", "postgres"],
)
def test_outside_the_embedded_default_a_key_is_required(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AEROFS_SECRET_KEY", "AEROFS_ENV", "AEROFS_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(MissingSecretKey, match="AEROFS_SECRET_KEY is not set"):
        secret_key()
    assert not (tmp_path / private.FOLDER_NAME / private.KEY_NAME).exists()
