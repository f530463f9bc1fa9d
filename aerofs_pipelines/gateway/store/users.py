"""Users (table ``aerofs_users``): name, role, argon2id password hash, disabled flag.

Every change is audited in its transaction and takes effect at once: a new role,
password or disabled flag revokes the user's sessions (and a new password clears the
user's failed logins) and clears this process's identity cache.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.cache import Found, IdentityCache
from aerofs_pipelines.gateway.identity.passwords import Hasher, check_password_policy
from aerofs_pipelines.gateway.identity.principal import Principal
from aerofs_pipelines.gateway.store import audit
from aerofs_pipelines.gateway.store.database import Database
from aerofs_pipelines.gateway.store.db import login_attempts, users
from aerofs_pipelines.gateway.store.errors import StoreError, UserExists, UserNotFound
from aerofs_pipelines.gateway.store.sessions import revoke_for_user

__all__ = ["USERNAME_RE", "UserInfo", "Users", "user_row"]

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class UserInfo:
    """A user as listed (never the password hash)."""

    username: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "username": self.username,
            "role": self.role.name,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def of(cls, row: sa.Row[Any]) -> UserInfo:
        return cls(row.username, Role[row.role], bool(row.disabled), row.created_at, row.updated_at)


def user_row(conn: Connection, username: str) -> sa.Row[Any]:
    """The row of ``username`` (UserNotFound when there is none)."""
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise UserNotFound(f"no user {username!r}")
    return row


class Users:
    """Gateway users: managed by ``aerofs users``, resolved for SSO headers."""

    def __init__(self, db: Database, identities: IdentityCache, hasher: Hasher) -> None:
        self.db = db
        self.identities = identities
        self.hasher = hasher

    def add(
        self,
        username: str,
        role: Role,
        password: str,
        *,
        actor: str | None = None,
        address: str | None = None,
    ) -> UserInfo:
        """Create a user; UserExists, or ValueError for a bad name or weak password."""
        if not USERNAME_RE.match(username):
            raise StoreError(
                f"invalid user name {username!r}: 1-64 characters of letters, digits and "
                "._@-, starting with a letter or digit"
            )
        role = Role(role)
        check_password_policy(password)
        encoded = self.hasher.hash(password)
        now = self.db.now()
        with self.db.write() as conn:
            if conn.scalar(sa.select(users.c.id).where(users.c.username == username)):
                raise UserExists(f"user {username!r} already exists")
            conn.execute(
                users.insert().values(
                    username=username,
                    role=role.name,
                    password_hash=encoded,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            detail = f"user={username} role={role.name}"
            audit.record(conn, now, "user.add", actor, address, "ok", detail)
        return UserInfo(username, role, False, now, now)

    def _change(
        self,
        username: str,
        values: dict[str, Any],
        event: str,
        detail: str,
        actor: str | None,
        address: str | None,
    ) -> None:
        now = self.db.now()
        with self.db.write() as conn:
            row = user_row(conn, username)
            conn.execute(
                users.update().where(users.c.id == row.id).values(updated_at=now, **values)
            )
            revoked = revoke_for_user(conn, row.id, now)
            if "password_hash" in values:
                conn.execute(login_attempts.delete().where(login_attempts.c.username == username))
            text = " ".join(
                filter(None, [f"user={username}", detail, f"sessions_revoked={revoked}"])
            )
            audit.record(conn, now, event, actor, address, "ok", text)
        self.identities.clear()

    def set_role(
        self, username: str, role: Role, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Change a user's role (tokens are capped by it); revokes their sessions."""
        role = Role(role)
        self._change(
            username, {"role": role.name}, "user.set_role", f"role={role.name}", actor, address
        )

    def set_disabled(
        self,
        username: str,
        disabled: bool,
        *,
        actor: str | None = None,
        address: str | None = None,
    ) -> None:
        """Disable (no login, sessions revoked, tokens refused) or enable a user."""
        event = "user.disable" if disabled else "user.enable"
        self._change(username, {"disabled": disabled}, event, "", actor, address)

    def set_password(
        self, username: str, password: str, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Set a new password (policy-checked); revokes sessions and clears lockouts."""
        check_password_policy(password)
        encoded = self.hasher.hash(password)
        self._change(username, {"password_hash": encoded}, "user.passwd", "", actor, address)

    def get(self, username: str) -> UserInfo | None:
        """The user called ``username``, or None."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        return UserInfo.of(row) if row is not None else None

    def list(self) -> builtins.list[UserInfo]:
        """All users, by name."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.username)).all()
        return [UserInfo.of(r) for r in rows]

    def count(self) -> int:
        """How many users exist (disabled ones included)."""
        with self.db.read() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(users)) or 0)

    def resolve(self, username: str) -> Principal | None:
        """The principal of an existing, enabled user named by a trusted SSO header."""

        def lookup() -> Found:
            info = self.get(username)
            if info is None or info.disabled:
                return None
            return Principal(info.username, info.role, "header"), None

        return self.identities.remember("user", username, lookup)
