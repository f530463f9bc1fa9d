"""Audit records: the event shape, the variables summary and the retention setting.

- ``AuditEvent``: one stored record (``to_json()`` for exports).
- ``summarize_variables(variables)``: keys with value types and sizes, never values, so
  no secret sent as a GraphQL variable reaches the log.
- ``retention_days()``: ``AEROFS_AUDIT_RETENTION_DAYS`` (default 365; 0 keeps forever).
- ``render_text(value)``: a stored value made safe for a terminal (``aerofs audit``
  stores what was sent, and escapes control characters when it prints).
- ``AnonymousAuditLimit``: how many refused anonymous requests reach the log.

``GatewayStore.audit`` writes records, ``audit_events`` reads them, ``purge_audit`` /
``apply_audit_retention`` delete old ones.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

DEFAULT_RETENTION_DAYS = 365
MAX_KEYS = 50
MAX_DEPTH = 3
MAX_TEXT = 2000


@dataclass(frozen=True)
class AuditEvent:
    """One audit record: who (username, role, address), what, and the outcome."""

    id: int
    time: datetime
    event: str
    username: str | None
    role: str | None
    address: str | None
    outcome: str
    operation: str | None = None
    fields: tuple[str, ...] = ()
    variables: dict[str, Any] | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 time)."""
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "event": self.event,
            "username": self.username,
            "role": self.role,
            "address": self.address,
            "outcome": self.outcome,
            "operation": self.operation,
            "fields": list(self.fields),
            "variables": self.variables,
            "detail": self.detail,
        }


def _describe(value: Any, depth: int) -> Any:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "bool"}
    if isinstance(value, int | float):
        return {"type": "number"}
    if isinstance(value, str | bytes):
        return {"type": "string", "size": len(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {"type": "object", "size": len(value)}
        if depth < MAX_DEPTH:
            out["keys"] = _summary(value, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return {"type": "array", "size": len(value)}
    return {"type": type(value).__name__}


def _summary(variables: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (key, value) in enumerate(variables.items()):
        if i >= MAX_KEYS:
            out["…"] = {"type": "truncated", "size": len(variables) - MAX_KEYS}
            break
        out[str(key)[:64]] = _describe(value, depth)
    return out


def summarize_variables(variables: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Keys and value types/sizes of GraphQL variables (nested objects to depth 3)."""
    if variables is None:
        return None
    if not isinstance(variables, Mapping):
        return {"…": _describe(variables, MAX_DEPTH)}
    return _summary(variables, 1)


def retention_days() -> int | None:
    """Days audit records are kept (``AEROFS_AUDIT_RETENTION_DAYS``); None = forever."""
    raw = os.environ.get("AEROFS_AUDIT_RETENTION_DAYS", "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(f"AEROFS_AUDIT_RETENTION_DAYS must be an integer, got {raw!r}") from None
    if days < 0:
        raise ValueError(f"AEROFS_AUDIT_RETENTION_DAYS must be >= 0, got {days}")
    return days or None


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (None stays None)."""
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Characters that move a terminal's cursor or change what it shows: C0 and C1 controls
# (newline, ESC...), DEL, and Unicode's format characters (bidi overrides) and line and
# paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def render_text(value: str | None, *, spaces: bool = True) -> str:
    """``value`` safe to print on a terminal in one line: control and format characters
    and backslashes escaped (``\\x0a``, ``\\x1b``, ``\\u202e``, ``\\\\``), and spaces too
    when ``spaces`` is False (for one-word columns, so a value cannot pose as two)."""
    if value is None:
        return "-"
    out: list[str] = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif (char == " " and not spaces) or unicodedata.category(char) in _UNSAFE_CATEGORIES:
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)


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
