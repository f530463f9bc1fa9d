"""The audit log (table ``aerofs_audit``): who did what, from where, and the outcome.

- :class:`AuditEvent`: one stored record (``to_json()`` for exports);
- :func:`summarize_variables`: keys with value types and sizes, never values, so no
  secret sent as a GraphQL variable reaches the log;
- :func:`record`: write one record inside another table's transaction (user and token
  changes, logins are audited atomically with the change);
- :class:`AuditLog`: record, read (newest first), purge, and the retention of
  ``AEROFS_AUDIT_RETENTION_DAYS`` (applied at most hourly by :meth:`AuditLog.record`).

Values are stored as sent; ``aerofs audit`` escapes them when it prints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aerofs_pipelines import config
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.store.database import Database
from aerofs_pipelines.gateway.store.db import audit_log
from aerofs_pipelines.gateway.store.errors import StoreError

__all__ = ["AuditEvent", "AuditLog", "clip", "record", "retention_days", "summarize_variables"]

MAX_KEYS = 50
MAX_DEPTH = 3
MAX_TEXT = 2000
_RETENTION_EVERY = timedelta(hours=1)
_log = logging.getLogger(__name__)


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
    return config.audit_retention_days() or None


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (None stays None)."""
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record(
    conn: Connection,
    now: datetime,
    event: str,
    username: str | None,
    address: str | None,
    outcome: str,
    detail: str = "",
    *,
    role: str | None = None,
    operation: str | None = None,
    fields: Sequence[str] = (),
    variables: Mapping[str, Any] | None = None,
) -> None:
    """Write one record in the transaction of ``conn`` (values clipped, variables
    summarized)."""
    summary = summarize_variables(variables)
    conn.execute(
        audit_log.insert().values(
            time=now,
            event=clip(event, 64),
            username=clip(username, 64),
            role=role,
            address=clip(address, 255),
            outcome=clip(outcome, 16),
            operation=clip(operation, 255),
            fields=json.dumps([str(f)[:255] for f in list(fields)[:200]]),
            variables=json.dumps(summary) if summary is not None else None,
            detail=clip(detail, MAX_TEXT) or "",
        )
    )


class AuditLog:
    """The audit log of a gateway database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._last_retention: datetime | None = None

    def record(
        self,
        event: str,
        *,
        username: str | None,
        role: Role | None,
        address: str | None,
        outcome: str,
        operation: str | None = None,
        fields: Sequence[str] = (),
        variables: Mapping[str, Any] | None = None,
        detail: str = "",
    ) -> None:
        """Record one event; ``variables`` are kept only as a summary (no values)."""
        now = self.db.now()
        with self.db.write() as conn:
            record(
                conn,
                now,
                event,
                username,
                address,
                outcome,
                detail,
                role=Role(role).name if role is not None else None,
                operation=operation,
                fields=fields,
                variables=variables,
            )
        if self._last_retention is None or now - self._last_retention >= _RETENTION_EVERY:
            self._last_retention = now
            try:
                self.apply_retention()
            except (ValueError, sa.exc.SQLAlchemyError) as exc:  # never fail the caller
                _log.warning("audit retention not applied: %s", exc)

    def events(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Records, newest first: ``since`` <= time < ``until``, one user's if given."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(max(0, limit))
        if since is not None:
            query = query.where(audit_log.c.time >= since)
        if until is not None:
            query = query.where(audit_log.c.time < until)
        if username is not None:
            query = query.where(audit_log.c.username == username)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            AuditEvent(
                id=int(r.id),
                time=r.time,
                event=r.event,
                username=r.username,
                role=r.role,
                address=r.address,
                outcome=r.outcome,
                operation=r.operation,
                fields=tuple(json.loads(r.fields)),
                variables=json.loads(r.variables) if r.variables is not None else None,
                detail=r.detail,
            )
            for r in rows
        ]

    def purge(self, older_than_days: float) -> int:
        """Delete records older than ``older_than_days``; how many."""
        if older_than_days < 0:
            raise StoreError(f"older_than_days must be >= 0, got {older_than_days}")
        cutoff = self.db.now() - timedelta(days=older_than_days)
        with self.db.write() as conn:
            result = conn.execute(audit_log.delete().where(audit_log.c.time < cutoff))
            return int(result.rowcount or 0)

    def apply_retention(self) -> int:
        """Apply ``AEROFS_AUDIT_RETENTION_DAYS``; how many records were deleted."""
        days = retention_days()
        return 0 if days is None else self.purge(days)
