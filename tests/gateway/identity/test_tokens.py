"""API tokens: shown once, stored hashed, scoped, capped by the user's role, revocable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity import tokens as tokens_mod
from aerofs_pipelines.gateway.store import GatewayStore, StoreError, TokenNotFound, UserNotFound
from tests.support.gateway_store import (
    PASSWORD,
    Clock,
    all_text,
    open_store,
)


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[GatewayStore]:
    with open_store(url, clock) as s:
        s.users.add("ci", Role.editor, PASSWORD)
        s.users.add("viewer", Role.viewer, PASSWORD)
        yield s


def test_token_format_and_parse() -> None:
    token_id, token, secret_hash = tokens_mod.new_token()
    assert token.startswith(f"aerofs_{token_id}_") and len(token) == 7 + 16 + 1 + 43
    assert tokens_mod.parse_token(token) == (token_id, secret_hash)
    assert tokens_mod.parse_token(f" {token}\n") == (token_id, secret_hash)
    for bad in ("", token[:-1], token + "x", "Bearer " + token, token.replace("_", "-", 1)):
        assert tokens_mod.parse_token(bad) is None


def test_a_token_resolves_to_its_scope(store: GatewayStore, clock: Clock) -> None:
    info, token = store.tokens.create("ci", Role.launcher, name="nightly")
    assert (info.username, info.role, info.name, info.expires_at) == (
        "ci",
        Role.launcher,
        "nightly",
        None,
    )
    principal = store.tokens.resolve(token)
    assert principal is not None
    assert (principal.username, principal.role, principal.via, principal.token_id) == (
        "ci",
        Role.launcher,
        "token",
        info.id,
    )
    [listed] = store.tokens.list("ci")
    assert listed.id == info.id and listed.last_used_at == clock()


def test_the_default_role_is_the_users_and_never_more(store: GatewayStore) -> None:
    info, _ = store.tokens.create("ci")
    assert info.role is Role.editor
    with pytest.raises(StoreError, match="cannot exceed"):
        store.tokens.create("viewer", Role.launcher)
    with pytest.raises(UserNotFound):
        store.tokens.create("nobody")
    with pytest.raises(StoreError, match="expires_days"):
        store.tokens.create("ci", expires_days=0)
    with pytest.raises(StoreError, match="printable"):
        store.tokens.create("ci", name="two\nlines")


def test_only_a_hash_is_stored(store: GatewayStore) -> None:
    info, token = store.tokens.create("ci", name="secret-check")
    secret = token.rsplit("_", 1)[-1]
    stored = all_text(store)
    assert info.id in stored and secret not in stored and token not in stored


def test_wrong_or_malformed_tokens_are_refused(store: GatewayStore) -> None:
    info, token = store.tokens.create("ci")
    _, other = store.tokens.create("ci")
    forged = f"aerofs_{info.id}_{other.rsplit('_', 1)[-1]}"  # right id, another secret
    for bad in (forged, "", "aerofs_", "x" * 300, token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert store.tokens.resolve(bad) is None
    assert store.tokens.resolve(token) is not None


def test_revoked_tokens_are_refused_and_audited(store: GatewayStore) -> None:
    info, token = store.tokens.create("ci")
    store.tokens.revoke(info.id, actor="cli:ops")
    assert store.tokens.resolve(token) is None
    assert store.tokens.list()[0].revoked_at is not None
    with pytest.raises(TokenNotFound):
        store.tokens.revoke("0" * 16)
    events = [(e.event, e.username) for e in store.audit.events(limit=2)]
    assert events == [("token.revoke", "cli:ops"), ("token.create", None)]
    secret = token.split("_", 2)[2]  # aerofs_<id>_<secret>; the secret may hold "_" too
    assert secret not in " ".join(e.detail for e in store.audit.events())


def test_expired_tokens_are_refused(store: GatewayStore, clock: Clock) -> None:
    info, token = store.tokens.create("ci", expires_days=2)
    assert info.expires_at is not None and info.active(clock())
    clock.advance(days=1, hours=23)
    assert store.tokens.resolve(token) is not None
    clock.advance(hours=2)
    assert store.tokens.resolve(token) is None
    assert not store.tokens.list()[0].active(clock())


def test_a_disabled_user_cannot_use_tokens(store: GatewayStore) -> None:
    _, token = store.tokens.create("ci")
    store.users.set_disabled("ci", True)
    assert store.tokens.resolve(token) is None
    with pytest.raises(StoreError, match="disabled"):
        store.tokens.create("ci")
    store.users.set_disabled("ci", False)
    assert store.tokens.resolve(token) is not None


def test_a_token_is_capped_by_its_users_current_role(store: GatewayStore) -> None:
    _, token = store.tokens.create("ci", Role.editor)
    store.users.set_role("ci", Role.viewer)
    assert store.tokens.resolve(token).role is Role.viewer  # type: ignore[union-attr]
    store.users.set_role("ci", Role.admin)
    assert store.tokens.resolve(token).role is Role.editor  # type: ignore[union-attr]


def test_listing_filters_by_user(store: GatewayStore) -> None:
    a, _ = store.tokens.create("ci", name="a")
    b, _ = store.tokens.create("viewer", name="b")
    assert {t.id for t in store.tokens.list()} == {a.id, b.id}
    assert [t.id for t in store.tokens.list("viewer")] == [b.id]
    assert store.tokens.list("nobody") == []
    assert set(a.to_json()) >= {"id", "username", "role", "expires_at", "revoked_at"}
