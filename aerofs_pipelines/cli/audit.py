"""``aerofs audit``: the audit log, newest first, or ``audit purge`` of old records.

``--since``/``--until`` take ISO 8601 (naive means UTC) or a span ago (``30m``, ``24h``,
``7d``). Values are stored as sent and printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aerofs_pipelines.cli.arguments import int_in_range
from aerofs_pipelines.cli.gateway_store import open_store
from aerofs_pipelines.cli.printing import emit_json, iso, print_table, render_text

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str) -> datetime:
    """ISO 8601 (naive means UTC) or a span ago (``30m``, ``24h``, ``7d``)."""
    m = _RELATIVE.match(value.strip())
    if m:
        return datetime.now(UTC) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {value!r} (ISO 8601 such as 2026-01-31T12:00, or 30m, 24h, 7d)"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def cmd_audit(args: argparse.Namespace) -> int:
    with open_store() as store:
        events = store.audit.events(args.since, args.until, args.user, args.limit)
    if args.json:
        emit_json({"events": [e.to_json() for e in events]})
        return 0
    rows = [["TIME", "EVENT", "OUTCOME", "USER", "ROLE", "ADDRESS", "OPERATION", "DETAIL"]]
    for e in events:
        # stored as sent; printed with control characters escaped, one line per record,
        # and no spaces in the one-word columns, so no value can pose as another record
        operation = e.operation or ""
        if e.fields:
            operation += f" [{', '.join(e.fields)}]"
        rows.append(
            [
                iso(e.time),
                *(render_text(v, spaces=False) for v in (e.event, e.outcome)),
                *(render_text(v, spaces=False) for v in (e.username, e.role, e.address)),
                render_text(operation.strip() or None),
                render_text(" ".join(e.detail.split())[:120] or None),
            ]
        )
    print_table(rows)
    return 0


def cmd_audit_purge(args: argparse.Namespace) -> int:
    with open_store() as store:
        deleted = store.audit.purge(args.older_than_days)
    print(f"deleted {deleted} audit record(s) older than {args.older_than_days} days")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``audit`` to the ``aerofs`` parser."""
    audit = sub.add_parser(
        "audit",
        help="the audit log",
        description="Show the audit log, newest first (or purge old records).",
    )
    audit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    audit.add_argument("--since", type=parse_time, metavar="T", help="ISO 8601, or 30m/24h/7d")
    audit.add_argument("--until", type=parse_time, metavar="T", help="ISO 8601, or 30m/24h/7d")
    audit.add_argument(
        "--limit", type=int_in_range(1), default=100, metavar="N", help="default: 100"
    )
    audit.add_argument("--user", metavar="NAME", help="only this user's events")
    audit.set_defaults(func=cmd_audit)
    aus = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    p = aus.add_parser("purge", help="delete old audit records")
    p.add_argument("--older-than-days", type=int_in_range(1), required=True, metavar="N")
    p.set_defaults(func=cmd_audit_purge)
