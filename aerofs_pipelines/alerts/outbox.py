"""The outbox: alerts not yet delivered, when to try each again, and what was sent.

A destination that is down must neither lose alerts nor be flooded when it comes back,
and an event must be told once. So each alert waits here under its key (:meth:`add` is
idempotent); after a failed attempt the next one backs off exponentially
(:class:`Policy`: 5 s doubling to 5 min); an alert still undelivered after a day is
dropped and logged; and the keys of delivered (and dropped) alerts are remembered, a
bounded list, so the same event never goes out twice. Delivery is tracked per
destination: one that took the alert is not sent it again while another is retried.

The outbox is a small JSON document (:meth:`to_json`, :meth:`from_json`); the caller
stores it (``defs/alerts.py``: in the Dagster instance). A document has ONE writer; a
second writer (the run-failure sensor, which tries each new alert once) keeps its own,
which the delivering writer adopts with :meth:`adopt`, and drops what was adopted with
:meth:`forget_adopted`, so no update is ever lost to two writers racing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aerofs_pipelines.alerts.message import Alert

__all__ = ["Outbox", "Outcome", "Pending", "Policy"]

log = logging.getLogger(__name__)

Outcome = Literal["delivered", "retry", "waiting", "dropped"]


@dataclass(frozen=True)
class Policy:
    """How long to wait between attempts, when to give up, how much to remember."""

    first_delay: float = 5.0
    max_delay: float = 300.0
    give_up_after: float = 24 * 3600.0
    remember: int = 2000
    """Delivered or dropped keys remembered (the oldest are forgotten first)."""
    max_pending: int = 1000
    """Alerts waiting at most (beyond it the oldest is dropped, and logged)."""

    def delay(self, attempts: int) -> float:
        """Seconds before the attempt after ``attempts`` failed ones."""
        return float(min(self.first_delay * 2.0 ** max(attempts - 1, 0), self.max_delay))


@dataclass
class Pending:
    """An alert waiting for (some of) its destinations."""

    alert: Alert
    added_at: float
    next_at: float
    attempts: int = 0
    """Failed attempts so far."""
    sent_to: list[str] = field(default_factory=list)
    """Destinations that took it (never sent it again)."""
    failing: list[str] = field(default_factory=list)
    """Destinations whose last attempt failed."""
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.to_dict(),
            "added_at": self.added_at,
            "next_at": self.next_at,
            "attempts": self.attempts,
            "sent_to": self.sent_to,
            "failing": self.failing,
            "last_error": self.last_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pending:
        return cls(
            alert=Alert.from_dict(dict(data["alert"])),
            added_at=float(data["added_at"]),
            next_at=float(data["next_at"]),
            attempts=int(data.get("attempts", 0)),
            sent_to=[str(d) for d in data.get("sent_to", [])],
            failing=[str(d) for d in data.get("failing", [])],
            last_error=data.get("last_error"),
        )


class Outbox:
    """Pending alerts by key, and the keys already done (delivered or dropped)."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.pending: dict[str, Pending] = {}
        self.done: dict[str, Literal["delivered", "dropped"]] = {}
        """Key → ``delivered`` or ``dropped``, oldest first."""

    # ----------------------------------------------------------------- the document

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "pending": [p.to_dict() for p in self.pending.values()],
                "done": [[k, v] for k, v in self.done.items()],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None, policy: Policy | None = None) -> Outbox:
        """The outbox a document holds; empty for none, and for one that cannot be read
        (logged: losing a queue is better than never alerting again)."""
        box = cls(policy)
        if not text:
            return box
        try:
            doc = json.loads(text)
            pending = [Pending.from_dict(p) for p in doc.get("pending", [])]
            done = [(str(k), v) for k, v in doc.get("done", [])]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error(f"unreadable alert outbox, starting empty: {type(exc).__name__}: {exc}")
            return box
        box.pending = {p.alert.key: p for p in pending}
        box.done = {k: ("dropped" if v == "dropped" else "delivered") for k, v in done}
        return box

    # ----------------------------------------------------------------- queueing

    def knows(self, key: str) -> bool:
        return key in self.pending or key in self.done

    def add(self, alert: Alert, now: float) -> bool:
        """Queue ``alert``, due at once; False (and nothing changes) if its key is known."""
        if self.knows(alert.key):
            return False
        self.pending[alert.key] = Pending(alert, added_at=now, next_at=now)
        self._bound_pending()
        return True

    def due(self, now: float) -> list[Pending]:
        """Alerts whose next attempt time has come, the longest waiting first."""
        ready = [p for p in self.pending.values() if p.next_at <= now]
        return sorted(ready, key=lambda p: (p.next_at, p.added_at))

    def failing(self) -> set[str]:
        """Destinations some pending alert last failed to reach (so: probably down)."""
        return {d for p in self.pending.values() for d in p.failing}

    def record(
        self,
        key: str,
        now: float,
        *,
        sent: Iterable[str] = (),
        failed: Mapping[str, str] | None = None,
        complete: bool = True,
    ) -> Outcome:
        """The result of an attempt: the destinations that took it, those that failed
        (with their error), and whether every destination it still needed was tried.

        All taken: ``delivered``. A failure: it backs off (``retry``), or is ``dropped``
        once it has waited :attr:`Policy.give_up_after`. Destinations not tried (skipped
        as down this tick): it stays due (``waiting``)."""
        entry = self.pending[key]
        took = [d for d in sent if d not in entry.sent_to]
        entry.sent_to.extend(took)
        failed = dict(failed or {})
        entry.failing = sorted((set(entry.failing) - set(took)) | set(failed))
        if not failed:
            if complete:
                self._finish(key, "delivered")
                return "delivered"
            return "waiting"
        entry.attempts += 1
        entry.last_error = "; ".join(f"{d}: {e}" for d, e in sorted(failed.items()))
        if now - entry.added_at >= self.policy.give_up_after:
            self._drop(entry, f"undelivered after {entry.attempts} attempts")
            return "dropped"
        entry.next_at = now + self.policy.delay(entry.attempts)
        return "retry"

    def expire(self, now: float) -> list[Pending]:
        """Drop (and log) the alerts that have waited too long without an attempt."""
        old = [p for p in self.pending.values() if now - p.added_at >= self.policy.give_up_after]
        for entry in old:
            self._drop(entry, f"undelivered after {entry.attempts} attempts")
        return old

    # ----------------------------------------------------------------- two writers

    def adopt(self, other: Outbox, now: float) -> list[str]:
        """Take over the alerts ``other`` (another writer's outbox) still holds and this
        one has never seen (unless too old to send: left over, long forgotten); their keys."""
        taken = []
        for key, entry in other.pending.items():
            if not self.knows(key) and now - entry.added_at < self.policy.give_up_after:
                self.pending[key] = Pending.from_dict(entry.to_dict())
                taken.append(key)
        self._bound_pending()
        return taken

    def forget_adopted(self, other: Outbox) -> list[str]:
        """Stop holding the alerts ``other`` (the delivering writer) has taken over."""
        gone = [key for key in self.pending if other.knows(key)]
        for key in gone:
            del self.pending[key]
        return gone

    # ----------------------------------------------------------------- internals

    def _finish(self, key: str, outcome: Literal["delivered", "dropped"]) -> None:
        self.pending.pop(key, None)
        self.done.pop(key, None)
        self.done[key] = outcome
        while len(self.done) > self.policy.remember:
            del self.done[next(iter(self.done))]

    def _drop(self, entry: Pending, why: str) -> None:
        log.error(
            f"alert dropped, {why} (last error: {entry.last_error or 'none'}): "
            f"{entry.alert.headline()}"
        )
        self._finish(entry.alert.key, "dropped")

    def _bound_pending(self) -> None:
        while len(self.pending) > self.policy.max_pending:
            oldest = min(self.pending.values(), key=lambda p: p.added_at)
            self._drop(oldest, "the outbox is full")
