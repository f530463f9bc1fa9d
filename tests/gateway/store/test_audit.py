"""The audit log: records, variables summaries without values, queries, retention, safe
text rendering, and the limit on anonymous records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from aerofs_pipelines.cli.printing import render_text
from aerofs_pipelines.gateway.app.anonymous_audit import AnonymousAuditLimit
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.store import GatewayStore, StoreError
from aerofs_pipelines.gateway.store.audit import retention_days, summarize_variables
from tests.support.gateway_store import Clock, all_text, open_store


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[GatewayStore]:
    with open_store(url, clock) as s:
        yield s


def test_summaries_keep_shapes_not_values() -> None:
    summary = summarize_variables(
        {
            "password": "hunter2-hunter2",
            "n": 3,
            "ok": True,
            "none": None,
            "ids": [1, 2, 3],
            "selector": {"repositoryName": "r", "nested": {"deeper": {"deepest": {"x": 1}}}},
        }
    )
    assert summary == {
        "password": {"type": "string", "size": 15},
        "n": {"type": "number"},
        "ok": {"type": "bool"},
        "none": {"type": "null"},
        "ids": {"type": "array", "size": 3},
        "selector": {
            "type": "object",
            "size": 2,
            "keys": {
                "repositoryName": {"type": "string", "size": 1},
                "nested": {
                    "type": "object",
                    "size": 1,
                    "keys": {"deeper": {"type": "object", "size": 1}},
                },
            },
        },
    }
    assert summarize_variables(None) is None
    many = summarize_variables({f"k{i}": i for i in range(80)})
    assert many is not None and len(many) == 51 and many["…"]["size"] == 30


def test_events_are_stored_and_read_back(store: GatewayStore) -> None:
    store.audit.record(
        "graphql.mutation",
        username="bob",
        role=Role.launcher,
        address="10.2.0.1",
        outcome="denied",
        operation="WipeIt",
        fields=["wipeAssets"],
        variables={"assetKeys": [{"path": ["a"]}], "token": "aerofs_secret_value"},
        detail="needs editor",
    )
    [event] = store.audit.events()
    assert (event.event, event.username, event.role, event.address, event.outcome) == (
        "graphql.mutation",
        "bob",
        "launcher",
        "10.2.0.1",
        "denied",
    )
    assert (event.operation, event.fields, event.detail) == (
        "WipeIt",
        ("wipeAssets",),
        "needs editor",
    )
    assert event.variables == {
        "assetKeys": {"type": "array", "size": 1},
        "token": {"type": "string", "size": 19},
    }
    assert "aerofs_secret_value" not in all_text(store)
    assert event.to_json()["time"] == event.time.isoformat()


def test_queries_filter_newest_first(store: GatewayStore, clock: Clock) -> None:
    start = clock()
    for i in range(6):
        store.audit.record(
            "e", username=f"u{i % 2}", role=None, address=None, outcome="ok", detail=str(i)
        )
        clock.advance(minutes=10)
    assert [e.detail for e in store.audit.events()] == ["5", "4", "3", "2", "1", "0"]
    assert [e.detail for e in store.audit.events(limit=2)] == ["5", "4"]
    assert [e.detail for e in store.audit.events(username="u1")] == ["5", "3", "1"]
    window = store.audit.events(
        since=start + timedelta(minutes=15), until=start + timedelta(minutes=45)
    )
    assert [e.detail for e in window] == ["4", "3", "2"]


def test_long_values_are_clipped(store: GatewayStore) -> None:
    store.audit.record(
        "x" * 100,
        username="u" * 100,
        role=None,
        address="a" * 300,
        outcome="o" * 20,
        operation="p" * 300,
        fields=["f" * 300] * 300,
        detail="d" * 5000,
    )
    [e] = store.audit.events()
    assert len(e.event) == 64 and len(e.username or "") == 64 and len(e.address or "") == 255
    assert len(e.fields) == 200 and len(e.detail) == 2000 and len(e.operation or "") == 255


def test_purge_and_retention(
    store: GatewayStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROFS_AUDIT_RETENTION_DAYS", "30")
    store.audit.record("old", username=None, role=None, address=None, outcome="ok")
    clock.advance(days=20)
    store.audit.record("middle", username=None, role=None, address=None, outcome="ok")
    clock.advance(days=15)
    assert store.audit.purge(40) == 0
    assert store.audit.apply_retention() == 1
    assert [e.event for e in store.audit.events()] == ["middle"]
    clock.advance(hours=2)  # audit() applies the retention itself, at most hourly
    clock.advance(days=20)
    store.audit.record("new", username=None, role=None, address=None, outcome="ok")
    assert [e.event for e in store.audit.events()] == ["new"]
    clock.advance(seconds=1)
    assert store.audit.purge(0) == 1
    with pytest.raises(StoreError):
        store.audit.purge(-1)
    monkeypatch.setenv("AEROFS_AUDIT_RETENTION_DAYS", "soon")  # misconfigured: still audits
    clock.advance(hours=2)
    store.audit.record("kept", username=None, role=None, address=None, outcome="ok")
    assert [e.event for e in store.audit.events(limit=1)] == ["kept"]


def test_retention_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AEROFS_AUDIT_RETENTION_DAYS", raising=False)
    assert retention_days() == 365
    monkeypatch.setenv("AEROFS_AUDIT_RETENTION_DAYS", "0")
    assert retention_days() is None
    monkeypatch.setenv("AEROFS_AUDIT_RETENTION_DAYS", "week")
    with pytest.raises(ValueError, match="AEROFS_AUDIT_RETENTION_DAYS"):
        retention_days()


def test_render_text_escapes_what_a_terminal_would_act_on() -> None:
    assert render_text("a\\b\tc\x7f\x85\u2028") == "a\\\\b\\x09c\\x7f\\x85\\u2028"
    assert render_text("two words", spaces=False) == "two\\x20words"
    assert render_text("été 東京") == "été 東京"
    assert render_text(None) == "-"


def test_the_anonymous_audit_limit_per_address_and_overall() -> None:
    limit = AnonymousAuditLimit(per_address=2, overall=5)
    now = Clock().now
    assert [limit.admit("a", now) for _ in range(4)] == ["record", "record", "last", "drop"]
    assert [limit.admit(f"b{i}", now) for i in range(4)] == ["record", "record", "drop", "drop"]
    later = now + limit.window
    assert limit.admit("a", later) == "record"  # a new window
