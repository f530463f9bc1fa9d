"""Logins (table ``aerofs_login_attempts``): checking a password within the login limits.

The attempts live in the database, so every process sees them; the limits are
:class:`~aerofs_pipelines.gateway.identity.ratelimit.RateLimitPolicy`. Check and record
are one step: in one write transaction, serialized with every other login (SQLite's
write lock; a PostgreSQL advisory lock), the limits are read and the attempt is recorded
as a failure before the password is verified; a proven password turns it into a success
afterwards. So parallel guesses see each other, and no more than the allowed number is
ever verified.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.identity.principal import Principal
from aerofs_pipelines.gateway.identity.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.store import audit
from aerofs_pipelines.gateway.store.database import Database
from aerofs_pipelines.gateway.store.db import login_attempts, users
from aerofs_pipelines.gateway.store.errors import LoginFailed, LoginThrottled

__all__ = ["Logins"]

_LOGIN_LOCK_KEY = 0x4145524F4C4F  # "AEROLO": serializes the check-and-record of logins


class Logins:
    """Password logins and the failed-login limits (per user name and per address)."""

    def __init__(self, db: Database, hasher: Hasher, policy: RateLimitPolicy) -> None:
        self.db = db
        self.hasher = hasher
        self.policy = policy

    def _retry_after(self, conn: Connection, name: str, address: str | None) -> float:
        now = self.db.now()
        recent = conn.execute(
            sa.select(login_attempts.c.time, login_attempts.c.success)
            .where(login_attempts.c.username == name)
            .where(login_attempts.c.time > now - self.policy.user_window)
            .order_by(login_attempts.c.time.desc(), login_attempts.c.id.desc())
            .limit(64)
        ).all()
        failures: list[datetime] = []
        for t, success in recent:
            if success:
                break
            failures.append(t)
        wait = self.policy.user_retry_after(failures[::-1], now)
        if address and self.policy.address_max_failures:
            times = conn.scalars(
                sa.select(login_attempts.c.time)
                .where(login_attempts.c.address == address)
                .where(login_attempts.c.success.is_(False))
                .where(login_attempts.c.time > now - self.policy.address_window)
                .order_by(login_attempts.c.time.desc())
                .limit(self.policy.address_max_failures)
            ).all()
            wait = max(wait, self.policy.address_retry_after(list(times)[::-1], now))
        return wait

    def _record_attempt(self, conn: Connection, name: str, address: str | None) -> int:
        """Record a login attempt as failed until its password is proven; its id."""
        now = self.db.now()
        inserted = conn.execute(
            login_attempts.insert().values(
                time=now, username=name, address=audit.clip(address, 255), success=False
            )
        ).inserted_primary_key
        if inserted is None:  # pragma: no cover - an INSERT with an autoincrement key
            raise RuntimeError("the login attempt got no id")
        conn.execute(
            login_attempts.delete().where(login_attempts.c.time < now - self.policy.horizon)
        )
        return int(inserted[0])

    def login(
        self,
        username: str,
        password: str,
        address: str | None,
        *,
        audit_throttled: Callable[[], bool] | None = None,
    ) -> Principal:
        """Check a password; the user's principal, LoginFailed or LoginThrottled.

        Unknown, disabled and wrong-password logins cost the same hash verification and
        raise the same error; every outcome is audited, a throttled one only when
        ``audit_throttled()`` says so (the gateway caps how many of those an address
        writes: a throttled caller can keep knocking).
        """
        name = username.strip()[:64]
        now = self.db.now()
        with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOGIN_LOCK_KEY)))
            wait = self._retry_after(conn, name, address)
            if wait > 0:
                if audit_throttled is None or audit_throttled():
                    detail = f"retry_after={wait:.0f}s"
                    audit.record(conn, now, "login", name, address, "throttled", detail)
            else:
                attempt = self._record_attempt(conn, name, address)
                row = conn.execute(sa.select(users).where(users.c.username == name)).first()
        if wait > 0:
            raise LoginThrottled(max(1, int(wait + 0.999)))
        if row is None:
            self.hasher.verify_dummy(password)
            ok, reason = False, "unknown user"
        else:
            ok = self.hasher.verify(row.password_hash, password)
            reason = "wrong password"
            if ok and row.disabled:
                ok, reason = False, "user disabled"
        if row is None or not ok:
            with self.db.write() as conn:
                audit.record(conn, self.db.now(), "login", name, address, "failed", reason)
            raise LoginFailed()
        rehashed = None
        if self.hasher.needs_rehash(row.password_hash):
            rehashed = self.hasher.hash(password)
        with self.db.write() as conn:
            conn.execute(
                login_attempts.update().where(login_attempts.c.id == attempt).values(success=True)
            )
            if rehashed is not None:  # parameters changed since this hash was made
                conn.execute(
                    users.update()
                    .where(users.c.id == row.id)
                    .where(users.c.password_hash == row.password_hash)
                    .values(password_hash=rehashed)
                )
            audit.record(conn, self.db.now(), "login", name, address, "ok", role=row.role)
        return Principal(username=row.username, role=Role[row.role], via="session")

    def unlock(
        self, username: str, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Forget a user name's failed logins (ends its lockout)."""
        with self.db.write() as conn:
            conn.execute(login_attempts.delete().where(login_attempts.c.username == username))
            audit.record(
                conn, self.db.now(), "user.unlock", actor, address, "ok", f"user={username}"
            )
