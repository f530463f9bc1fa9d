"""The identity cache: hits skip the database, revocations in this process take effect at
once, expiry is honoured, and another process's revocation within the cache's TTL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.cache import IdentityCache, cache_key, ttl_from_env
from aerofs_pipelines.gateway.identity.principal import Principal
from aerofs_pipelines.gateway.store import GatewayStore, db
from tests.support.gateway_harness import Harness, gateway_harness
from tests.support.gateway_store import PASSWORD, Clock, open_store

QUERY = {"query": "{ version }"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[GatewayStore]:
    with open_store(f"sqlite:///{tmp_path / 'gateway.db'}", clock, identity_ttl=5) as s:
        s.users.add("bob", Role.editor, PASSWORD)
        yield s


def _session(store: GatewayStore) -> str:
    return store.sessions.create(store.logins.login("bob", PASSWORD, "10.1.0.1"), "10.1.0.1")


def _revoke_behind_its_back(store: GatewayStore, clock: Clock) -> None:
    """Revoke every token and session in the database, as another process would."""
    now = clock()
    with store.engine.begin() as conn:
        conn.execute(db.tokens.update().values(revoked_at=now))
        conn.execute(db.sessions.update().values(revoked_at=now))


def test_a_cached_credential_is_answered_without_the_database(
    store: GatewayStore, clock: Clock
) -> None:
    _, token = store.tokens.create("bob")
    cookie = _session(store)
    assert store.identities.cached("token", token) is None  # not yet resolved
    token_principal, session_principal = store.tokens.resolve(token), store.sessions.resolve(cookie)
    assert store.identities.cached("token", token) == token_principal is not None
    assert store.identities.cached("session", cookie) == session_principal is not None
    assert store.identities.cached("session", token) is None  # kinds do not mix
    _revoke_behind_its_back(store, clock)
    assert store.identities.cached("token", token) == token_principal  # not asked again
    assert store.tokens.resolve(token) is None  # resolve_* always asks the database...
    assert store.identities.cached("token", token) is None  # ...and forgets what failed


@pytest.mark.parametrize(
    "revoke",
    [
        lambda s, token_id, cookie: s.tokens.revoke(token_id),
        lambda s, token_id, cookie: s.sessions.revoke(cookie),
        lambda s, token_id, cookie: s.users.set_disabled("bob", True),
        lambda s, token_id, cookie: s.users.set_role("bob", Role.viewer),
        lambda s, token_id, cookie: s.users.set_password("bob", PASSWORD + "!"),
        lambda s, token_id, cookie: s.sessions.revoke_user("bob"),
    ],
    ids=["revoke_token", "logout", "disable", "set_role", "passwd", "revoke_sessions"],
)
def test_revocations_in_this_process_take_effect_at_once(
    store: GatewayStore, revoke: Callable[[GatewayStore, str, str], None]
) -> None:
    info, token = store.tokens.create("bob")
    cookie = _session(store)
    before = (store.tokens.resolve(token), store.sessions.resolve(cookie))
    revoke(store, info.id, cookie)
    assert store.identities.cached("token", token) is None
    assert store.identities.cached("session", cookie) is None
    after = (store.tokens.resolve(token), store.sessions.resolve(cookie))
    assert after != before  # refused, or (set_role) the token now capped at viewer


def test_expiry_is_honoured_inside_the_ttl(
    store: GatewayStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = store.tokens.create("bob", expires_days=1)
    clock.advance(days=1, seconds=-2)
    assert store.tokens.resolve(token) is not None  # cached for 2 s, not 5
    clock.advance(seconds=1.9)
    assert store.identities.cached("token", token) is not None
    clock.advance(seconds=0.1)
    assert store.identities.cached("token", token) is None
    assert store.tokens.resolve(token) is None
    monkeypatch.setenv("AEROFS_SESSION_IDLE_MINUTES", "0.05")  # 3 s: shorter than the TTL
    cookie = _session(store)
    clock.advance(seconds=1)
    assert store.sessions.resolve(cookie) is not None  # cached for 2 s, not 5
    clock.advance(seconds=1.9)
    assert store.identities.cached("session", cookie) is not None
    clock.advance(seconds=0.1)
    assert store.identities.cached("session", cookie) is None
    assert store.sessions.resolve(cookie) is None  # idle for 3 s


def test_another_process_revocation_applies_within_the_ttl(
    store: GatewayStore, clock: Clock
) -> None:
    _, token = store.tokens.create("bob")
    cookie = _session(store)
    assert store.tokens.resolve(token) is not None and store.sessions.resolve(cookie) is not None
    _revoke_behind_its_back(store, clock)
    clock.advance(seconds=4.9)
    assert store.identities.cached("token", token) is not None  # the documented bound
    assert store.identities.cached("session", cookie) is not None
    clock.advance(seconds=0.1)
    assert store.identities.cached("token", token) is None
    assert store.identities.cached("session", cookie) is None
    assert store.tokens.resolve(token) is None and store.sessions.resolve(cookie) is None


def test_a_lookup_overtaken_by_a_revocation_is_not_cached(clock: Clock) -> None:
    cache = IdentityCache(5, clock)
    key, principal = cache_key("token", "t"), Principal("bob", Role.admin, "token")
    generation = cache.generation  # a lookup starts, reads a valid row...
    cache.clear()  # ...a revocation commits and clears...
    cache.put(key, principal, generation)  # ...the stale answer must not stay
    assert cache.get(key) is None
    cache.put(key, principal, cache.generation)
    assert cache.get(key) == principal


def test_the_ttl_setting(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    monkeypatch.delenv("AEROFS_IDENTITY_CACHE_SECONDS", raising=False)
    assert ttl_from_env() == 5
    monkeypatch.setenv("AEROFS_IDENTITY_CACHE_SECONDS", "0")
    cache = IdentityCache(ttl_from_env(), clock)
    cache.put(cache_key("user", "bob"), Principal("bob", Role.viewer, "header"), 0)
    assert cache.get(cache_key("user", "bob")) is None  # off
    for bad in ("-1", "61", "soon"):
        monkeypatch.setenv("AEROFS_IDENTITY_CACHE_SECONDS", bad)
        with pytest.raises(ValueError, match="AEROFS_IDENTITY_CACHE_SECONDS"):
            ttl_from_env()


# ------------------------------------------------------------------ through the app


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with gateway_harness(tmp_path_factory.mktemp("identity_cache")) as h:
        yield h


def test_the_app_answers_cached_tokens_without_a_lookup(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = harness.client(Role.viewer, "token")
    assert client.post("/graphql", json=QUERY).status_code == 200
    calls: list[str] = []
    real = harness.store.tokens.resolve

    def counting(token: str) -> Principal | None:
        calls.append(token)
        return real(token)

    monkeypatch.setattr(harness.store.tokens, "resolve", counting)
    for _ in range(3):
        assert client.post("/graphql", json=QUERY).status_code == 200
    assert calls == []


def test_the_app_refuses_a_token_revoked_a_moment_ago(harness: Harness) -> None:
    info, token = harness.store.tokens.create("launcher", name="short-lived")
    client = harness.client()
    client.headers["authorization"] = f"Bearer {token}"
    assert client.post("/graphql", json=QUERY).status_code == 200
    harness.store.tokens.revoke(info.id)
    assert client.post("/graphql", json=QUERY).status_code == 401


def test_the_app_refuses_sessions_of_a_user_disabled_a_moment_ago(harness: Harness) -> None:
    harness.store.users.add("temp", Role.editor, "password-of-temp-0")
    client = harness.client()
    login = {"username": "temp", "password": "password-of-temp-0"}
    assert client.post("/auth/login", json=login).status_code == 200
    assert client.get("/auth/me").status_code == 200
    harness.store.users.set_disabled("temp", True)
    assert client.get("/auth/me").status_code == 401
