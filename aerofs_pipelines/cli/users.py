"""``aerofs users``: gateway users (add, list, set-role, disable, enable, unlock, passwd).

Without ``--password-stdin`` the password is asked on a terminal, or else generated and
printed once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from aerofs_pipelines.cli.gateway_store import ADDRESS, actor, open_store, role
from aerofs_pipelines.cli.printing import emit_json, iso, print_table


def _read_password(args: argparse.Namespace, name: str) -> tuple[str, bool]:
    """The new password and whether it was generated (to be printed once)."""
    from aerofs_pipelines.gateway.identity.passwords import check_password_policy, generate_password

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


def cmd_users_add(args: argparse.Namespace) -> int:
    password, generated = _read_password(args, args.name)
    with open_store() as store:
        store.users.add(args.name, args.role, password, actor=actor(), address=ADDRESS)
    print(f"created user {args.name} ({args.role.name})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        found = store.users.list()
    if args.json:
        emit_json({"users": [u.to_json() for u in found]})
        return 0
    rows = [["NAME", "ROLE", "STATUS", "CREATED"]]
    for u in found:
        status = "disabled" if u.disabled else "active"
        rows.append([u.username, u.role.name, status, iso(u.created_at)])
    print_table(rows)
    return 0


def _user_change(action: Callable[[Any], None], message: str) -> int:
    with open_store() as store:
        action(store)
    print(message)
    return 0


def cmd_users_set_role(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.users.set_role(args.name, args.role, actor=actor(), address=ADDRESS),
        f"{args.name} is now {args.role.name}; their sessions were ended",
    )


def cmd_users_disable(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.users.set_disabled(args.name, True, actor=actor(), address=ADDRESS),
        f"{args.name} is disabled: sessions ended, tokens refused",
    )


def cmd_users_enable(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.users.set_disabled(args.name, False, actor=actor(), address=ADDRESS),
        f"{args.name} is enabled",
    )


def cmd_users_unlock(args: argparse.Namespace) -> int:
    return _user_change(
        lambda s: s.logins.unlock(args.name, actor=actor(), address=ADDRESS),
        f"{args.name}: failed logins forgotten",
    )


def cmd_users_passwd(args: argparse.Namespace) -> int:
    from aerofs_pipelines.gateway.store import UserNotFound

    with open_store() as store:
        if store.users.get(args.name) is None:  # before asking for a password
            raise UserNotFound(f"no user {args.name!r}")
        password, generated = _read_password(args, args.name)
        store.users.set_password(args.name, password, actor=actor(), address=ADDRESS)
    print(f"password of {args.name} changed; their sessions were ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def _password_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``users`` to the ``aerofs`` parser."""
    users = sub.add_parser("users", help="gateway users", description="Manage gateway users.")
    us = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = us.add_parser("add", help="create a user")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", type=role, required=True, help="viewer, launcher, editor, admin")
    _password_option(p)
    p.set_defaults(func=cmd_users_add)
    p = us.add_parser("list", help="list users")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_users_list)
    p = us.add_parser("set-role", help="change a user's role (ends their sessions)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("role", metavar="ROLE", type=role)
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
