"""``aerofs tokens``: API tokens for ``Authorization: Bearer`` (create, list, revoke).

``create`` prints the token once, on stdout; only its hash is stored.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from aerofs_pipelines.cli.arguments import int_in_range
from aerofs_pipelines.cli.gateway_store import ADDRESS, actor, open_store, role
from aerofs_pipelines.cli.printing import emit_json, iso, print_table


def cmd_tokens_create(args: argparse.Namespace) -> int:
    with open_store() as store:
        info, token = store.tokens.create(
            args.user,
            args.role,
            name=args.name,
            expires_days=args.expires_days,
            actor=actor(),
            address=ADDRESS,
        )
    if args.json:
        emit_json({"token": token, **info.to_json()})
        return 0
    print(token)
    expires = iso(info.expires_at) if info.expires_at else "never"
    sys.stderr.write(
        f"token {info.id} for {info.username} (role {info.role.name}, expires {expires}); "
        "store it now: it is not shown again\n"
    )
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        found = store.tokens.list(args.user)
        disabled = {u.username for u in store.users.list() if u.disabled}
    now = datetime.now(UTC)

    def status(t: Any) -> str:
        if t.revoked_at is not None:
            return "revoked"
        if not t.active(now):
            return "expired"
        return "user disabled" if t.username in disabled else "active"

    if args.json:
        emit_json({"tokens": [{**t.to_json(), "status": status(t)} for t in found]})
        return 0
    rows = [["ID", "USER", "ROLE", "NAME", "STATUS", "CREATED", "EXPIRES", "LAST USED"]]
    for t in found:
        rows.append(
            [
                t.id,
                t.username,
                t.role.name,
                t.name or "-",
                status(t),
                iso(t.created_at),
                iso(t.expires_at) if t.expires_at else "never",
                iso(t.last_used_at),
            ]
        )
    print_table(rows)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with open_store() as store:
        store.tokens.revoke(args.id, actor=actor(), address=ADDRESS)
    print(f"token {args.id} revoked")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``tokens`` to the ``aerofs`` parser."""
    tokens = sub.add_parser(
        "tokens", help="API tokens", description="Manage API tokens (Authorization: Bearer)."
    )
    ts = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    p = ts.add_parser("create", help="create a token (printed once)")
    p.add_argument("--user", required=True, metavar="NAME")
    p.add_argument("--role", type=role, help="the token's role (default: the user's)")
    p.add_argument("--name", default="", metavar="N", help="what the token is for")
    p.add_argument("--expires-days", type=int_in_range(1), metavar="D", help="default: never")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_tokens_create)
    p = ts.add_parser("list", help="list tokens")
    p.add_argument("--user", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_tokens_list)
    p = ts.add_parser("revoke", help="revoke a token")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=cmd_tokens_revoke)
