"""Sessions (table ``aerofs_sessions``): one row per browser login.

The cookie carries a signed random secret (:mod:`aerofs_pipelines.gateway.identity.sessions`);
the row keeps only its hash, its user, its lifetime and its revocation. Resolving a cookie
goes through the identity cache (:class:`~aerofs_pipelines.gateway.identity.cache.IdentityCache`).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity import sessions as cookies
from aerofs_pipelines.gateway.identity.cache import Found, IdentityCache
from aerofs_pipelines.gateway.identity.principal import Principal
from aerofs_pipelines.gateway.store import audit
from aerofs_pipelines.gateway.store.database import Database
from aerofs_pipelines.gateway.store.db import sessions, users
from aerofs_pipelines.gateway.store.errors import UserNotFound

__all__ = ["Sessions", "revoke_for_user"]

TOUCH_EVERY = timedelta(seconds=60)
"""How often ``last_seen_at`` is written for a session in use."""


def revoke_for_user(conn: Connection, user_id: int, now: datetime) -> int:
    """Revoke every live session of a user (in ``conn``'s transaction); how many. Sessions
    expired a week ago are deleted on the way."""
    result = conn.execute(
        sessions.update()
        .where(sessions.c.user_id == user_id)
        .where(sessions.c.revoked_at.is_(None))
        .where(sessions.c.expires_at > now)
        .values(revoked_at=now)
    )
    conn.execute(sessions.delete().where(sessions.c.expires_at < now - timedelta(days=7)))
    return int(result.rowcount or 0)


class Sessions:
    """Browser sessions: create at login, resolve per request, revoke at logout."""

    def __init__(
        self, db: Database, identities: IdentityCache, secret_key: str | None = None
    ) -> None:
        self.db = db
        self.identities = identities
        self._secret_key = secret_key
        self._signer: cookies.SessionSigner | None = None
        self._lock = threading.Lock()

    @property
    def signer(self) -> cookies.SessionSigner:
        """The cookie signer (loads the secret key on first use)."""
        with self._lock:
            if self._signer is None:
                if self._secret_key is None:
                    from aerofs_pipelines.gateway.identity.secrets import secret_key

                    self._secret_key = secret_key()
                self._signer = cookies.SessionSigner(self._secret_key)
            return self._signer

    def create(self, principal: Principal, address: str | None) -> str:
        """A new session for ``principal``'s user; the cookie value to set."""
        cookie, sid = self.signer.new()
        now = self.db.now()
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(users.c.id, users.c.disabled).where(
                    users.c.username == principal.username
                )
            ).first()
            if row is None:
                raise UserNotFound(f"no user {principal.username!r}")
            if row.disabled:
                raise UserNotFound(f"user {principal.username!r} is disabled")
            conn.execute(
                sessions.insert().values(
                    id=sid,
                    user_id=row.id,
                    created_at=now,
                    expires_at=now + cookies.session_lifetime(),
                    last_seen_at=now,
                    address=audit.clip(address, 255),
                )
            )
        return cookie

    def resolve(self, cookie: str) -> Principal | None:
        """The principal of a valid session cookie; None if forged, expired or revoked."""
        return self.identities.remember("session", cookie, lambda: self._lookup(cookie))

    def _lookup(self, cookie: str) -> Found:
        lifetime = cookies.session_lifetime()
        sid = self.signer.unsign(cookie, lifetime.total_seconds())
        if sid is None:
            return None
        now = self.db.now()
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(sessions, users.c.username, users.c.role, users.c.disabled)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == sid)
            ).first()
        if row is None or row.revoked_at is not None or row.disabled or row.expires_at <= now:
            return None
        idle = cookies.idle_timeout()
        if idle is not None and row.last_seen_at + idle <= now:
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= TOUCH_EVERY:
            with self.db.write() as conn:
                conn.execute(sessions.update().where(sessions.c.id == sid).values(last_seen_at=now))
            last_seen = now
        principal = Principal(row.username, Role[row.role], "session", session_id=sid)
        until = row.expires_at if idle is None else min(row.expires_at, last_seen + idle)
        return principal, until

    def revoke(self, cookie: str, *, address: str | None = None) -> None:
        """End a session (logout); a no-op for an unknown or invalid cookie."""
        sid = self.signer.unsign(cookie, cookies.session_lifetime().total_seconds())
        if sid is None:
            return
        now = self.db.now()
        try:
            with self.db.write() as conn:
                row = conn.execute(
                    sa.select(sessions.c.revoked_at, users.c.username, users.c.role)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(sessions.c.id == sid)
                ).first()
                if row is None or row.revoked_at is not None:
                    return
                conn.execute(sessions.update().where(sessions.c.id == sid).values(revoked_at=now))
                audit.record(conn, now, "logout", row.username, address, "ok", role=row.role)
        finally:  # even when already revoked elsewhere: forget it here
            self.identities.clear()

    def revoke_user(self, username: str) -> int:
        """Revoke every live session of a user; how many."""
        with self.db.write() as conn:
            user_id = conn.scalar(sa.select(users.c.id).where(users.c.username == username))
            if user_id is None:
                raise UserNotFound(f"no user {username!r}")
            revoked = revoke_for_user(conn, int(user_id), self.db.now())
        self.identities.clear()
        return revoked
