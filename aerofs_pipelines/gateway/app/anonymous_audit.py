"""How many refused anonymous requests reach the audit log.

Anonymous callers are refused before their request is read, so a flood of them must not
become a flood of audit records.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["AnonymousAuditLimit"]


class AnonymousAuditLimit:
    """How many refused anonymous requests are written to the audit log.

    Anonymous callers are refused before their request is read, so a flood of them must
    not become a flood of audit records: per client address at most ``per_address``
    records a window (then one record saying the rest are not recorded), and at most
    ``overall`` records a window across all addresses. Thread-safe; in memory.
    """

    def __init__(
        self,
        per_address: int = 10,
        overall: int = 100,
        window: timedelta = timedelta(minutes=1),
        max_addresses: int = 10_000,
    ) -> None:
        self.per_address = per_address
        self.overall = overall
        self.window = window
        self.max_addresses = max_addresses
        self._lock = threading.Lock()
        self._window_start: datetime | None = None
        self._counts: dict[str, int] = {}
        self._total = 0

    def admit(self, address: str | None, now: datetime) -> Literal["record", "last", "drop"]:
        """``record`` this refusal, record it as the ``last`` of this address's window
        (saying further ones are not recorded), or ``drop`` it."""
        key = address or "-"
        with self._lock:
            if self._window_start is None or now - self._window_start >= self.window:
                self._window_start, self._counts, self._total = now, {}, 0
            if self._total >= self.overall:
                return "drop"
            if key not in self._counts and len(self._counts) >= self.max_addresses:
                return "drop"
            seen = self._counts.get(key, 0)
            if seen > self.per_address:
                return "drop"
            self._counts[key] = seen + 1
            self._total += 1
            return "last" if seen == self.per_address else "record"
