"""``aerofs users``, ``aerofs tokens`` and ``aerofs audit``: gateway management.

They act directly on the instance's gateway database (migrating it first) and are
audited as ``cli:<os user>``. Module level imports the standard library only.

- ``users add NAME --role ROLE [--password-stdin]``, ``users list [--json]``,
  ``users set-role NAME ROLE``, ``users disable|enable|unlock NAME``,
  ``users passwd NAME [--password-stdin]``. Without ``--password-stdin`` the password
  is asked on a terminal, or else generated and printed once.
- ``tokens create --user NAME [--role ROLE] [--name N] [--expires-days D] [--json]``
  (the token on stdout, once), ``tokens list [--user U] [--json]``, ``tokens revoke ID``.
- ``audit [--json] [--since T] [--until T] [--limit N] [--user U]`` (newest first; T is
  ISO 8601 or ``30m``/``24h``/``7d`` ago), ``audit purge --older-than-days N``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

ADDRESS = "local"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _open_store() -> Iterator[Any]:
    """The instance's store, migrated; disposed of on exit."""
    import sqlalchemy.exc

    from aerofs_pipelines.gateway.store import GatewayStore, StoreError

    store = GatewayStore.for_instance()
    try:
        try:
            store.migrate()
        except sqlalchemy.exc.OperationalError as exc:
            raise StoreError(f"cannot open the gateway database: {exc.orig}") from None
        yield store
    finally:
        store.dispose()


def _role(value: str) -> Any:
    from aerofs_pipelines.gateway.roles import Role

    try:
        return Role.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


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


def _read_password(args: argparse.Namespace, name: str) -> tuple[str, bool]:
    """The new password and whether it was generated (to be printed once)."""
    from aerofs_pipelines.gateway.passwords import check_password_policy, generate_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ValueError("no password on standard input")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        check_password_policy(password)
        if getpass.getpass("again: ") != password:
            raise ValueError("the passwords differ")
    else:
        return generate_password(), True
    check_password_policy(password)
    return password, False


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else "-"


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# --------------------------------------------------------------------------- users


def cmd_users_add(args: argparse.Namespace) -> int:
    password, generated = _read_password(args, args.name)
    with _open_store() as store:
        store.add_user(args.name, args.role, password, actor=_actor(), address=ADDRESS)
    print(f"created user {args.name} ({args.role.name})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    with _open_store() as store:
        found = store.list_users()
    if args.json:
        _emit({"users": [u.to_json() for u in found]})
        return 0
    rows = [["NAME", "ROLE", "STATUS", "CREATED"]]
    for u in found:
        status = "disabled" if u.disabled else "active"
        rows.append([u.username, u.role.name, status, _iso(u.created_at)])
    _table(rows)
    return 0


def _user_change(action: Callable[[Any], None], message: str) -> int:
    with _open_store() as store:
        action(store)
    print(message)
    return 0


def cmd_users_set_role(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.set_role(args.name, args.role, actor=_actor(), address=ADDRESS),
        f"{args.name} is now {args.role.name}; their sessions were ended",
    )


def cmd_users_disable(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.set_disabled(args.name, True, actor=_actor(), address=ADDRESS),
        f"{args.name} is disabled: sessions ended, tokens refused",
    )


def cmd_users_enable(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.set_disabled(args.name, False, actor=_actor(), address=ADDRESS),
        f"{args.name} is enabled",
    )


def cmd_users_unlock(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.clear_login_failures(args.name, actor=_actor(), address=ADDRESS),
        f"{args.name}: failed logins forgotten",
    )


def cmd_users_passwd(args: argparse.Namespace) -> int:
    from aerofs_pipelines.gateway.store import UserNotFound

    with _open_store() as store:
        if store.get_user(args.name) is None:  # before asking for a password
            raise UserNotFound(f"no user {args.name!r}")
        password, generated = _read_password(args, args.name)
        store.set_password(args.name, password, actor=_actor(), address=ADDRESS)
    print(f"password of {args.name} changed; their sessions were ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


# --------------------------------------------------------------------------- tokens


def cmd_tokens_create(args: argparse.Namespace) -> int:
    with _open_store() as store:
        info, token = store.create_token(
            args.user,
            args.role,
            name=args.name,
            expires_days=args.expires_days,
            actor=_actor(),
            address=ADDRESS,
        )
    if args.json:
        _emit({"token": token, **info.to_json()})
        return 0
    print(token)
    expires = _iso(info.expires_at) if info.expires_at else "never"
    sys.stderr.write(
        f"token {info.id} for {info.username} (role {info.role.name}, expires {expires}); "
        "store it now: it is not shown again\n"
    )
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    with _open_store() as store:
        found = store.list_tokens(args.user)
        disabled = {u.username for u in store.list_users() if u.disabled}
    now = datetime.now(UTC)

    def status(t: Any) -> str:
        if t.revoked_at is not None:
            return "revoked"
        if not t.active(now):
            return "expired"
        return "user disabled" if t.username in disabled else "active"

    if args.json:
        _emit({"tokens": [{**t.to_json(), "status": status(t)} for t in found]})
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
                _iso(t.created_at),
                _iso(t.expires_at) if t.expires_at else "never",
                _iso(t.last_used_at),
            ]
        )
    _table(rows)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with _open_store() as store:
        store.revoke_token(args.id, actor=_actor(), address=ADDRESS)
    print(f"token {args.id} revoked")
    return 0


# --------------------------------------------------------------------------- audit


def cmd_audit(args: argparse.Namespace) -> int:
    from aerofs_pipelines.gateway.audit import render_text

    with _open_store() as store:
        events = store.audit_events(args.since, args.until, args.user, args.limit)
    if args.json:
        _emit({"events": [e.to_json() for e in events]})
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
                _iso(e.time),
                *(render_text(v, spaces=False) for v in (e.event, e.outcome)),
                *(render_text(v, spaces=False) for v in (e.username, e.role, e.address)),
                render_text(operation.strip() or None),
                render_text(" ".join(e.detail.split())[:120] or None),
            ]
        )
    _table(rows)
    return 0


def cmd_audit_purge(args: argparse.Namespace) -> int:
    with _open_store() as store:
        deleted = store.purge_audit(args.older_than_days)
    print(f"deleted {deleted} audit record(s) older than {args.older_than_days} days")
    return 0


# --------------------------------------------------------------------------- parser


def _password_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``users``, ``tokens`` and ``audit`` to the ``aerofs`` parser."""
    users = sub.add_parser("users", help="gateway users", description="Manage gateway users.")
    us = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = us.add_parser("add", help="create a user")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", type=_role, required=True, help="viewer, launcher, editor, admin")
    _password_option(p)
    p.set_defaults(func=cmd_users_add)
    p = us.add_parser("list", help="list users")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_users_list)
    p = us.add_parser("set-role", help="change a user's role (ends their sessions)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("role", metavar="ROLE", type=_role)
    p.set_defaults(func=cmd_users_set_role)
    for action, func, text in (
        ("disable", cmd_users_disable, "disable a user (ends sessions, refuses tokens)"),
        ("enable", cmd_users_enable, "enable a disabled user"),
        ("unlock", cmd_users_unlock, "end a login lockout"),
    ):
        p = us.add_parser(action, help=text)
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=func)
    p = us.add_parser("passwd", help="set a user's password (ends their sessions)")
    p.add_argument("name", metavar="NAME")
    _password_option(p)
    p.set_defaults(func=cmd_users_passwd)

    tokens = sub.add_parser(
        "tokens", help="API tokens", description="Manage API tokens (Authorization: Bearer)."
    )
    ts = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    p = ts.add_parser("create", help="create a token (printed once)")
    p.add_argument("--user", required=True, metavar="NAME")
    p.add_argument("--role", type=_role, help="the token's role (default: the user's)")
    p.add_argument("--name", default="", metavar="N", help="what the token is for")
    p.add_argument("--expires-days", type=_positive, metavar="D", help="default: never")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_tokens_create)
    p = ts.add_parser("list", help="list tokens")
    p.add_argument("--user", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_tokens_list)
    p = ts.add_parser("revoke", help="revoke a token")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=cmd_tokens_revoke)

    audit = sub.add_parser(
        "audit",
        help="the audit log",
        description="Show the audit log, newest first (or purge old records).",
    )
    audit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    audit.add_argument("--since", type=parse_time, metavar="T", help="ISO 8601, or 30m/24h/7d")
    audit.add_argument("--until", type=parse_time, metavar="T", help="ISO 8601, or 30m/24h/7d")
    audit.add_argument("--limit", type=_positive, default=100, metavar="N", help="default: 100")
    audit.add_argument("--user", metavar="NAME", help="only this user's events")
    audit.set_defaults(func=cmd_audit)
    aus = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    p = aus.add_parser("purge", help="delete old audit records")
    p.add_argument("--older-than-days", type=_positive, required=True, metavar="N")
    p.set_defaults(func=cmd_audit_purge)
