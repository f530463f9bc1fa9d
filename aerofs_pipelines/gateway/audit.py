"""Audit records: the event shape, the variables summary and the retention setting.

- ``AuditEvent``: one stored record (``to_json()`` for exports).
- ``summarize_variables(variables)``: keys with value types and sizes, never values, so
  no secret sent as a GraphQL variable reaches the log.
- ``retention_days()``: ``AEROFS_AUDIT_RETENTION_DAYS`` (default 365; 0 keeps forever).

``GatewayStore.audit`` writes records, ``audit_events`` reads them, ``purge_audit`` /
``apply_audit_retention`` delete old ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
