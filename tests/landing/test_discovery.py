"""The landing sensor's cursor: typed, stored as sorted JSON, read back the same."""

from __future__ import annotations

import json

from aerofs_pipelines.landing.discovery import LandingCursor, SweepState


def test_a_cursor_round_trips() -> None:
    cursor = LandingCursor(
        events=["20261206.log", 120],
        sweep=SweepState(active=True, after="b7", started=12.5, incomplete=2, start_token=99),
        ack=["r1", "r2"],
        requests=4,
    )
    raw = cursor.to_json()
    assert LandingCursor.from_json(raw) == cursor
    assert raw == LandingCursor.from_json(raw).to_json()  # equal cursors, equal strings


def test_no_cursor_or_a_foreign_one_starts_fresh() -> None:
    for raw in (None, "", "not json", json.dumps({"v": 99}), json.dumps([1, 2])):
        assert LandingCursor.from_json(raw) == LandingCursor()


def test_the_earlier_short_key_format_is_read() -> None:
    legacy = {
        "v": 1,
        "ev": ["20261201.log", 40],
        "sw": {"active": False, "at": 100.0, "full": 100.0, "tok": 7, "incomplete": 3},
        "ack": ["h"],
        "n": 9,
    }
    cursor = LandingCursor.from_json(json.dumps(legacy))
    assert cursor.events == ["20261201.log", 40]
    assert cursor.ack == ["h"] and cursor.requests == 9
    assert (cursor.sweep.finished, cursor.sweep.token, cursor.sweep.last_incomplete) == (
        100.0,
        7,
        3,
    )
