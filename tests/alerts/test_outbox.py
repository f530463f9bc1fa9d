"""``alerts.outbox``: one message per event, backoff after failures, a bounded wait."""

from __future__ import annotations

import logging

import pytest

from aerofs_pipelines.alerts.message import Alert, run_failed
from aerofs_pipelines.alerts.outbox import Outbox, Policy

T0 = 1_000_000.0


def alert(run_id: str = "r1") -> Alert:
    return run_failed(
        run_id=run_id,
        batch="b1",
        dataset=None,
        what="step tables",
        why="OSError: disk full",
        retries=0,
        occurred_at=T0,
        public_url=None,
    )


def test_add_is_idempotent_by_key() -> None:
    box = Outbox()
    assert box.add(alert(), T0)
    assert not box.add(alert(), T0 + 1)
    assert [p.alert.key for p in box.due(T0)] == ["run-failed:r1"]


def test_backoff_doubles_to_its_cap() -> None:
    box = Outbox()
    box.add(alert(), T0)
    now, waits = T0, []
    for _ in range(9):
        (entry,) = box.due(now)
        assert box.record(entry.alert.key, now, failed={"webhook": "HTTPError: 500"}) == "retry"
        wait = entry.next_at - now
        assert box.due(now + wait - 0.001) == []
        waits.append(wait)
        now += wait
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert box.pending["run-failed:r1"].attempts == 9
    assert box.failing() == {"webhook"}


def test_delivered_is_never_sent_twice() -> None:
    box = Outbox()
    box.add(alert(), T0)
    assert box.record("run-failed:r1", T0, sent=["webhook"]) == "delivered"
    assert box.due(T0 + 10_000) == []
    assert not box.add(alert(), T0 + 20)  # the same event again
    again = Outbox.from_json(box.to_json())
    assert not again.add(alert(), T0 + 30)
    assert again.done == {"run-failed:r1": "delivered"}


def test_a_destination_that_took_it_is_not_sent_it_again() -> None:
    box = Outbox()
    box.add(alert(), T0)
    outcome = box.record("run-failed:r1", T0, sent=["email"], failed={"webhook": "down"})
    assert outcome == "retry"
    entry = box.pending["run-failed:r1"]
    assert (entry.sent_to, entry.failing) == (["email"], ["webhook"])
    assert box.record("run-failed:r1", T0 + 5, sent=["webhook"]) == "delivered"
    # tried only some of what it needs (the rest skipped as down): it stays due
    box.add(alert("r2"), T0)
    assert box.record("run-failed:r2", T0, sent=["email"], complete=False) == "waiting"
    assert [p.alert.key for p in box.due(T0)] == ["run-failed:r2"]


def test_given_up_after_a_day_logged_and_not_sent_later(caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(Policy(give_up_after=3600))
    box.add(alert(), T0)
    box.record("run-failed:r1", T0, failed={"webhook": "down"})
    with caplog.at_level(logging.ERROR, logger="aerofs_pipelines.alerts.outbox"):
        assert box.record("run-failed:r1", T0 + 3600, failed={"webhook": "down"}) == "dropped"
    assert "alert dropped, undelivered after 2 attempts" in caplog.text
    assert "webhook: down" in caplog.text
    assert box.pending == {} and box.done == {"run-failed:r1": "dropped"}
    assert not box.add(alert(), T0 + 3700)
    # never attempted (no destination, or always skipped): expires too
    box.add(alert("r2"), T0)
    assert [p.alert.key for p in box.expire(T0 + 3600)] == ["run-failed:r2"]


def test_bounded_memory() -> None:
    box = Outbox(Policy(remember=3, max_pending=2))
    for i in range(5):
        box.add(alert(f"d{i}"), T0 + i)
        box.record(f"run-failed:d{i}", T0 + i, sent=["webhook"])
    assert list(box.done) == ["run-failed:d2", "run-failed:d3", "run-failed:d4"]
    for i in range(3):
        box.add(alert(f"p{i}"), T0 + i)
    assert sorted(box.pending) == ["run-failed:p1", "run-failed:p2"]
    assert box.done["run-failed:p0"] == "dropped"


def test_the_document_round_trips_and_a_broken_one_starts_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = Outbox()
    box.add(alert(), T0)
    box.record("run-failed:r1", T0, sent=["email"], failed={"webhook": "down"})
    again = Outbox.from_json(box.to_json())
    assert again.pending == box.pending
    with caplog.at_level(logging.ERROR):
        assert Outbox.from_json('{"pending": [{"nope": 1}]}').pending == {}
    assert "unreadable alert outbox" in caplog.text
    assert Outbox.from_json(None).pending == {}


def test_two_writers_hand_over() -> None:
    sensor, shared = Outbox(), Outbox()
    sensor.add(alert("a"), T0)
    sensor.record("run-failed:a", T0, failed={"webhook": "down"})
    sensor.add(alert("b"), T0)
    sensor.record("run-failed:b", T0, sent=["webhook"])  # delivered at once: stays local
    assert shared.adopt(sensor, T0) == ["run-failed:a"]
    assert shared.adopt(sensor, T0) == []  # idempotent
    adopted = shared.pending["run-failed:a"]
    assert (adopted.attempts, adopted.next_at) == (1, T0 + 5)
    assert sensor.forget_adopted(shared) == ["run-failed:a"]
    assert sensor.pending == {}
    shared.record("run-failed:a", T0 + 5, sent=["webhook"])
    assert shared.adopt(sensor, T0 + 5) == [] and shared.knows("run-failed:a")
    # an entry left over past the give-up time is not taken (it would be dropped)
    sensor.add(alert("old"), T0)
    assert shared.adopt(sensor, T0 + 24 * 3600) == []
