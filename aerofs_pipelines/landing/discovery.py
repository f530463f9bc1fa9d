"""Finding new complete batches, one bounded step (a sensor tick) at a time.

A tick (1) acknowledges the previous tick's events, (2) reads new events (the local
journal or SQS, :mod:`aerofs_pipelines.landing.scan`), (3) continues or starts a
reconciliation sweep with the room left. Work is bounded by ``max_per_tick`` and a time
budget; :class:`LandingCursor` holds the event position and the sweep's place, so the
next tick resumes exactly where the last stored one ended.

Which batches are already registered is asked of the caller (``registered(ids)``: one
batched query per page), so this module knows no Dagster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aerofs_pipelines.landing.scan import Refused, Scanner

__all__ = [
    "CURSOR_VERSION",
    "LandingCursor",
    "SensorTuning",
    "SweepState",
    "Tick",
]

CURSOR_VERSION = 1
RACY_MTIME_NS = 2_000_000_000
"""A landing mtime this close to a sweep's start may hide a later same-tick change."""


@dataclass(frozen=True)
class SensorTuning:
    """Bounds of one tick (``bench/pipeline.py`` measures them; docs/capacity.md)."""

    max_per_tick: int = 1000
    """New batches per tick: keeps Dagster's per-request partition checks short."""
    sweep_page: int = 1000
    """Folder names listed per sweep page."""
    sweep_interval: float = 60.0
    """Seconds between reconciliation sweeps (S3 with a queue: use an hour or more)."""
    full_sweep_interval: float = 3600.0
    """Seconds after which a local sweep runs even if the landing mtime did not change."""
    time_budget: float = 1.0
    """Seconds of sweeping per tick before stopping at a page boundary."""
    backfill_threshold: int = 20
    """More new batches than this in one tick are requested as one backfill, not N runs."""


@dataclass
class SweepState:
    """Where the reconciliation sweep is, and when the last complete one ran."""

    active: bool = False
    """A sweep is under way (it continues on the next tick)."""
    after: str | None = None
    """The active sweep resumes after this batch-folder name."""
    started: float | None = None
    """Wall time the active sweep started."""
    incomplete: int = 0
    """Incomplete batches the active sweep has seen (the next sweep looks again)."""
    start_token: int | None = None
    """The landing's change token when the active sweep started (None: unknown or racy)."""
    finished: float = 0.0
    """Start time of the last complete sweep."""
    token: int | None = None
    """The change token the last complete sweep started from."""
    last_incomplete: int = 0
    """Incomplete batches the last complete sweep left behind."""


@dataclass
class LandingCursor:
    """The landing sensor's cursor: stored by the daemon with each tick, as JSON."""

    events: Any = None
    """Position in the event source (the journal: ``[segment, offset]``)."""
    sweep: SweepState = field(default_factory=SweepState)
    ack: list[str] = field(default_factory=list)
    """Receipt handles of the previous tick's events, acknowledged once it is stored."""
    requests: int = 0
    """Ticks that requested something: every one moves the cursor."""

    def to_json(self) -> str:
        """The stored form (sorted keys: equal cursors, equal strings)."""
        doc: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "events": self.events,
            "sweep": asdict(self.sweep),
            "requests": self.requests,
        }
        if self.ack:
            doc["ack"] = self.ack
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> LandingCursor:
        """The cursor stored as ``raw``; a fresh one when there is none. A cursor of the
        earlier short-key format (``ev``, ``sw``, ``n``) is read too."""
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION:
            return cls()
        if "sw" in doc:  # the format before the typed cursor
            sw = doc.get("sw") or {}
            sweep = SweepState(
                active=bool(sw.get("active")),
                after=sw.get("after"),
                started=sw.get("started"),
                incomplete=int(sw.get("incomplete", 0)),
                start_token=sw.get("start_tok"),
                finished=float(sw.get("at", 0.0)),
                token=sw.get("tok"),
                last_incomplete=int(sw.get("incomplete", 0)) if not sw.get("active") else 0,
            )
            return cls(doc.get("ev"), sweep, list(doc.get("ack") or []), int(doc.get("n", 0)))
        known = {f for f in SweepState.__dataclass_fields__}
        sweep = SweepState(**{k: v for k, v in (doc.get("sweep") or {}).items() if k in known})
        return cls(
            doc.get("events"), sweep, list(doc.get("ack") or []), int(doc.get("requests", 0))
        )


class Tick:
    """One evaluation: collects new batch ids, in order, without duplicates."""

    def __init__(
        self,
        scanner: Scanner,
        cursor: LandingCursor,
        tuning: SensorTuning,
        registered: Callable[[Sequence[str]], set[str]],
    ) -> None:
        self.scanner = scanner
        self.cursor = cursor
        self.tuning = tuning
        self.registered = registered
        self.new: dict[str, None] = {}
        self.relanded: dict[str, None] = {}
        """Registered batches announced again by an event (landed again under their id)."""
        self.refused: list[Refused] = []
        self.started = time.monotonic()

    @property
    def room(self) -> int:
        return self.tuning.max_per_tick - len(self.new)

    def unregistered(self, ids: list[str]) -> list[str]:
        if not ids:
            return []
        existing = self.registered(ids)
        return [i for i in ids if i not in existing and i not in self.new]

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started >= self.tuning.time_budget

    def read_events(self) -> bool:
        """Events first; True when the source may hold more (backlog)."""
        self.scanner.acknowledge(self.cursor.ack)
        self.cursor.ack = []
        ack: list[str] = []
        more = True
        while more and self.room > 0 and not self.out_of_time():
            batch = self.scanner.read_events(self.cursor.events, self.room)
            ack.extend(batch.ack)
            self.cursor.events = batch.position
            self.refused.extend(batch.refused)
            ids = list(dict.fromkeys(batch.batch_ids))
            fresh = self.unregistered(ids)
            for batch_id in fresh:
                if not self.scanner.verify_events or self.scanner.is_complete(batch_id):
                    self.new[batch_id] = None
            known = set(fresh)
            self.relanded.update((i, None) for i in ids if i not in known and i not in self.new)
            more = batch.more
        self.cursor.ack = ack
        return more

    def sweep_due(self, now: float) -> bool:
        """Whether to sweep this tick: one is under way, or its interval has passed and
        the landing zone may have changed since the last complete one."""
        sweep = self.cursor.sweep
        if sweep.active:
            return True
        if now - sweep.finished < self.tuning.sweep_interval:
            return False
        token = self.scanner.change_token()
        return (
            token is None
            or sweep.token != token
            or sweep.last_incomplete > 0
            or now - sweep.finished >= self.tuning.full_sweep_interval
        )

    def sweep(self) -> None:
        """Continue (or start) the sweep until it ends, the room or the time budget runs out."""
        sweep = self.cursor.sweep
        if not sweep.active:
            token = self.scanner.change_token()
            racy = token is not None and time.time_ns() - token < RACY_MTIME_NS
            sweep.active, sweep.after, sweep.started, sweep.incomplete = True, None, time.time(), 0
            sweep.start_token = None if racy else token
        while self.room > 0 and not self.out_of_time():
            page = self.scanner.list_page(sweep.after, self.tuning.sweep_page)
            self.refused.extend(page.refused)
            last = sweep.after
            for name in self.unregistered(page.names):
                if self.room <= 0:
                    break
                if self.scanner.is_complete(name):
                    self.new[name] = None
                else:
                    sweep.incomplete += 1
                last = name
            if self.room <= 0:
                sweep.after = last  # resume after the last name handled
                return
            if page.next_after is None:
                self._finish_sweep()
                return
            sweep.after = page.next_after

    def _finish_sweep(self) -> None:
        sweep = self.cursor.sweep
        started = sweep.started if sweep.started is not None else time.time()
        sweep.active, sweep.after, sweep.finished = False, None, started
        sweep.token, sweep.last_incomplete = sweep.start_token, sweep.incomplete
