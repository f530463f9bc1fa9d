"""Login rate limiting: per user name (known or not) and per address, across processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.store import GatewayStore, LoginFailed, LoginThrottled
from tests.support.gateway_store import PASSWORD, Clock, open_store

POLICY = RateLimitPolicy(
    user_free_failures=3,
    base_lockout=timedelta(seconds=30),
    max_lockout=timedelta(minutes=5),
    address_max_failures=5,
)


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[GatewayStore]:
    with open_store(url, clock, policy=POLICY) as s:
        s.users.add("bob", Role.editor, PASSWORD)
        yield s


def _fail(store: GatewayStore, name: str = "bob", address: str = "10.3.0.1") -> None:
    with pytest.raises(LoginFailed):
        store.logins.login(name, "not the password", address)


def test_policy_backs_off_exponentially() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fails = [now - timedelta(seconds=s) for s in (50, 40, 30, 20)]
    assert POLICY.user_retry_after(fails[:2], now) == 0
    assert POLICY.user_retry_after(fails[:3], now) == 0  # 30 s after the 3rd: over
    assert POLICY.user_retry_after(fails, now) == 40  # 4th: 60 s after it
    many = [now] * 20
    assert POLICY.user_retry_after(many, now) == 300  # capped
    assert POLICY.address_retry_after([now] * 4, now) == 0
    assert POLICY.address_retry_after([now - timedelta(minutes=5)] * 5, now) == 600


def test_policy_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROFS_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("AEROFS_LOGIN_LOCKOUT_SECONDS", "10")
    policy = RateLimitPolicy.from_env()
    assert (policy.user_free_failures, policy.base_lockout) == (7, timedelta(seconds=10))
    monkeypatch.setenv("AEROFS_LOGIN_MAX_FAILURES", "0")
    with pytest.raises(ValueError, match="AEROFS_LOGIN_MAX_FAILURES"):
        RateLimitPolicy.from_env()


def test_a_user_is_locked_out_then_let_back_in(store: GatewayStore, clock: Clock) -> None:
    for _ in range(3):
        _fail(store)
    with pytest.raises(LoginThrottled) as info:
        store.logins.login("bob", PASSWORD, "10.3.0.2")  # even the right password waits
    assert info.value.retry_after_seconds == 30
    clock.advance(seconds=31)
    assert store.logins.login("bob", PASSWORD, "10.3.0.2").username == "bob"
    _fail(store)  # a success resets the count
    _fail(store)
    assert store.logins.login("bob", PASSWORD, "10.3.0.2").username == "bob"
    assert [e.outcome for e in store.audit.events(limit=6)][-3:] == ["ok", "throttled", "failed"]


def test_lockouts_grow(store: GatewayStore, clock: Clock) -> None:
    for _ in range(3):
        _fail(store)
    waits: list[int] = []
    for _ in range(3):
        with pytest.raises(LoginThrottled) as info:
            store.logins.login("bob", "x" * 12, f"10.3.1.{len(waits)}")
        waits.append(info.value.retry_after_seconds)
        clock.advance(seconds=waits[-1])
        _fail(store, address=f"10.3.2.{len(waits)}")
    assert waits == [30, 60, 120]


def test_unknown_names_lock_out_alike(store: GatewayStore) -> None:
    for _ in range(3):
        _fail(store, name="nobody")
    with pytest.raises(LoginThrottled):
        store.logins.login("nobody", PASSWORD, "10.3.0.9")
    assert store.logins.login("bob", PASSWORD, "10.3.0.9").username == "bob"  # others unaffected


def test_an_address_is_throttled_across_names(store: GatewayStore, clock: Clock) -> None:
    for i in range(5):
        _fail(store, name=f"guess{i}", address="10.3.0.66")
    with pytest.raises(LoginThrottled) as info:
        store.logins.login("bob", PASSWORD, "10.3.0.66")
    assert info.value.retry_after_seconds == 15 * 60
    assert store.logins.login("bob", PASSWORD, "10.3.0.67").username == "bob"
    clock.advance(minutes=16)
    assert store.logins.login("bob", PASSWORD, "10.3.0.66").username == "bob"


def test_limits_hold_across_processes(store: GatewayStore, url: str, clock: Clock) -> None:
    with open_store(url, clock, policy=POLICY) as other:  # another process, same database
        _fail(store)
        _fail(other)
        _fail(store)
        with pytest.raises(LoginThrottled):
            other.logins.login("bob", PASSWORD, "10.3.0.1")


@pytest.mark.parametrize("reset", ["unlock", "passwd"])
def test_an_admin_can_end_a_lockout(store: GatewayStore, reset: str) -> None:
    for _ in range(3):
        _fail(store)
    if reset == "unlock":
        store.logins.unlock("bob", actor="cli:ops")
        password = PASSWORD
    else:
        password = "a fresh password"
        store.users.set_password("bob", password)
    assert store.logins.login("bob", password, "10.3.0.1").username == "bob"
