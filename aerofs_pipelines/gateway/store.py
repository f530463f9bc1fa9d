"""The gateway's identity store: users, sessions, API tokens, login attempts, audit log.

It lives in the instance database: ``<DAGSTER_HOME>/gateway/aerofs_gateway.db`` (SQLite,
in the gateway's private folder: :mod:`private`) by default, the PostgreSQL database
when ``settings.postgres_url()`` is set.
Tables and migrations: ``aerofs_pipelines.gateway.db``. The methods block (argon2,
database): call them from a worker thread in async code.

API (``GatewayStore``; all times are aware UTC datetimes):

- ``GatewayStore(url, *, hasher=None, secret_key=None, policy=None, clock=None,
  identity_ttl=None)``,
  ``GatewayStore.for_instance()``, ``.migrate() -> int``, ``.schema_version()``,
  ``.dispose()``.
- users: ``.add_user(username, role, password)``, ``.set_role(username, role)``,
  ``.set_disabled(username, disabled)``, ``.set_password(username, password)``,
  ``.list_users()``, ``.get_user(username)``, ``.user_count()``,
  ``.clear_login_failures(username)``. Each change takes ``actor=``/``address=`` for
  the audit record, and role, password and disable changes revoke the user's sessions.
- login: ``.login(username, password, address) -> Principal`` or ``LoginFailed`` /
  ``LoginThrottled(retry_after_seconds)``.
- identities: ``.resolve_token``, ``.resolve_session`` and ``.resolve_user`` always ask
  the database and keep the answer for a few seconds (:mod:`identity_cache`);
  ``.cached_identity(kind, credential)`` answers from there without blocking (None:
  resolve it). Every change that can take access away clears this process's cache; a
  change made by another process shows in ``cached_identity`` within the cache's TTL.
- sessions: ``.create_session(principal, address) -> cookie``,
  ``.resolve_session(cookie) -> Principal | None``, ``.revoke_session(cookie)``,
  ``.revoke_user_sessions(username) -> int``.
- tokens: ``.create_token(username, role=None, name="", expires_days=None) ->
  (TokenInfo, token)``, ``.resolve_token(token) -> Principal | None``,
  ``.list_tokens(username=None)``, ``.revoke_token(token_id)``.
- audit: ``.audit(event, *, username, role, address, outcome, operation=None,
  fields=(), variables=None, detail="")``, ``.audit_events(since=None, until=None,
  username=None, limit=1000)`` (newest first), ``.purge_audit(older_than_days) -> int``,
  ``.apply_audit_retention() -> int`` (also run by ``audit`` at most hourly).

Errors: ``StoreError`` (a ``ValueError``: ``UserExists``, ``UserNotFound``,
``TokenNotFound``) for bad management input, ``db.SchemaTooNew`` from ``migrate``;
``LoginFailed`` / ``LoginThrottled`` (``AuthError``) for refused logins, one generic
message each.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aerofs_pipelines.gateway import audit as audit_mod
from aerofs_pipelines.gateway import db, private
from aerofs_pipelines.gateway import sessions as sessions_mod
from aerofs_pipelines.gateway import tokens as tokens_mod
from aerofs_pipelines.gateway.audit import AuditEvent
from aerofs_pipelines.gateway.db import audit_log, login_attempts, sessions, tokens, users
from aerofs_pipelines.gateway.identity import CredentialKind, Principal
from aerofs_pipelines.gateway.identity_cache import (
    IdentityCache,
    cache_key,
    ttl_from_env,
)
from aerofs_pipelines.gateway.passwords import Hasher, check_password_policy
from aerofs_pipelines.gateway.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.roles import Role
from aerofs_pipelines.gateway.tokens import TokenInfo

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
LOGIN_FAILED_MESSAGE = "invalid username or password"
_TOUCH_EVERY = timedelta(seconds=60)  # how often last_seen/last_used are written
_RETENTION_EVERY = timedelta(hours=1)
_LOGIN_LOCK_KEY = 0x4145524F4C4F  # "AEROLO": serializes the check-and-record of logins
# a database lookup's answer: the principal and when the credential expires (or None)
_Found = tuple[Principal, datetime | None] | None
_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- errors


class StoreError(ValueError):
    """Bad management input (unknown user, duplicate name, bad role...)."""


class UserExists(StoreError):
    """A user of that name already exists."""


class UserNotFound(StoreError):
    """No user of that name."""


class TokenNotFound(StoreError):
    """No token with that id."""


class AuthError(Exception):
    """A refused login."""


class LoginFailed(AuthError):
    """Wrong name or password, or a disabled user: one message for all."""

    def __init__(self) -> None:
        super().__init__(LOGIN_FAILED_MESSAGE)


class LoginThrottled(AuthError):
    """Too many failed logins for this user name or address."""

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"too many failed logins; try again in {retry_after_seconds} seconds")


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


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the store


class GatewayStore:
    """Users, sessions, tokens, login limits and audit log in one database."""

    def __init__(
        self,
        url: str,
        *,
        hasher: Hasher | None = None,
        secret_key: str | None = None,
        policy: RateLimitPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        identity_ttl: float | None = None,
    ) -> None:
        self.url = url
        self.engine = db.make_engine(url)
        self.hasher = hasher or Hasher()
        self.policy = policy or RateLimitPolicy.from_env()
        self._secret_key = secret_key
        self._signer: sessions_mod.SessionSigner | None = None
        self._now = clock or _utcnow
        self._last_retention: datetime | None = None
        self._lock = threading.Lock()
        ttl = ttl_from_env() if identity_ttl is None else identity_ttl
        self.identities = IdentityCache(ttl, self._now)

    @classmethod
    def for_instance(cls, **kwargs: Any) -> GatewayStore:
        """The store of the configured instance (PostgreSQL or the SQLite default)."""
        from aerofs_pipelines import settings

        url = settings.postgres_url()
        if url is None:
            path = private.database_path()
            if not path.exists():  # password hashes and audit: owner-only from the start
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            url = f"sqlite:///{path}"
        return cls(url, **kwargs)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def now(self) -> datetime:
        """The store's clock (aware UTC)."""
        return self._now()

    def _write(self) -> AbstractContextManager[Connection]:
        return db.write(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return db.read(self.engine)

    # ----------------------------------------------------------------- migrations

    def schema_version(self) -> int:
        """The applied schema version (0 for an empty database)."""
        return db.schema_version(self.engine)

    def migrate(self) -> int:
        """Apply the pending migrations (serialized across processes); the new version."""
        return db.migrate(self.engine, self._now())

    # ----------------------------------------------------------------- users

    def _user_row(self, conn: Connection, username: str) -> sa.Row[Any]:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise UserNotFound(f"no user {username!r}")
        return row

    @staticmethod
    def _user_info(row: sa.Row[Any]) -> UserInfo:
        return UserInfo(
            username=row.username,
            role=Role[row.role],
            disabled=bool(row.disabled),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def add_user(
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
        now = self._now()
        with self._write() as conn:
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
            self._audit(conn, "user.add", actor, address, "ok", f"user={username} role={role.name}")
        return UserInfo(username, role, False, now, now)

    def _change_user(
        self,
        username: str,
        values: dict[str, Any],
        event: str,
        detail: str,
        actor: str | None,
        address: str | None,
    ) -> None:
        now = self._now()
        with self._write() as conn:
            row = self._user_row(conn, username)
            conn.execute(
                users.update().where(users.c.id == row.id).values(updated_at=now, **values)
            )
            revoked = self._revoke_sessions(conn, row.id, now)
            if "password_hash" in values:
                conn.execute(login_attempts.delete().where(login_attempts.c.username == username))
            self._audit(
                conn,
                event,
                actor,
                address,
                "ok",
                " ".join(filter(None, [f"user={username}", detail, f"sessions_revoked={revoked}"])),
            )
        self.identities.clear()

    def set_role(
        self, username: str, role: Role, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Change a user's role (tokens are capped by it); revokes their sessions."""
        role = Role(role)
        self._change_user(
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
        self._change_user(username, {"disabled": disabled}, event, "", actor, address)

    def set_password(
        self, username: str, password: str, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Set a new password (policy-checked); revokes sessions and clears lockouts."""
        check_password_policy(password)
        encoded = self.hasher.hash(password)
        self._change_user(username, {"password_hash": encoded}, "user.passwd", "", actor, address)

    def resolve_user(self, username: str) -> Principal | None:
        """The principal of an existing, enabled user named by a trusted SSO header."""

        def lookup() -> _Found:
            info = self.get_user(username)
            if info is None or info.disabled:
                return None
            return Principal(info.username, info.role, "header"), None

        return self._remember("user", username, lookup)

    # ----------------------------------------------------------------- identity cache

    def cached_identity(self, kind: CredentialKind, credential: str) -> Principal | None:
        """Without blocking: the principal a ``resolve_*`` call found for ``credential``
        (token, session cookie or SSO user name) in the last few seconds; None: ask it."""
        return self.identities.get(cache_key(kind, credential))

    def _remember(
        self, kind: CredentialKind, credential: str, lookup: Callable[[], _Found]
    ) -> Principal | None:
        """Run a database lookup and keep (or drop) its answer in the identity cache."""
        key = cache_key(kind, credential)
        generation = self.identities.generation  # before the read: see IdentityCache.put
        found = lookup()
        if found is None:
            self.identities.discard(key)
            return None
        self.identities.put(key, found[0], generation, found[1])
        return found[0]

    def get_user(self, username: str) -> UserInfo | None:
        """The user called ``username``, or None."""
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        return self._user_info(row) if row is not None else None

    def list_users(self) -> list[UserInfo]:
        """All users, by name."""
        with self._read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.username)).all()
        return [self._user_info(r) for r in rows]

    def user_count(self) -> int:
        """How many users exist (disabled ones included)."""
        with self._read() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(users)) or 0)

    def clear_login_failures(
        self, username: str, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Forget a user name's failed logins (ends its lockout)."""
        with self._write() as conn:
            conn.execute(login_attempts.delete().where(login_attempts.c.username == username))
            self._audit(conn, "user.unlock", actor, address, "ok", f"user={username}")

    # ----------------------------------------------------------------- login

    def _retry_after(self, conn: Connection, name: str, address: str | None) -> float:
        now = self._now()
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
        now = self._now()
        inserted = conn.execute(
            login_attempts.insert().values(
                time=now, username=name, address=audit_mod.clip(address, 255), success=False
            )
        ).inserted_primary_key
        assert inserted is not None  # an INSERT of one row with an autoincrement key
        attempt_id = inserted[0]
        conn.execute(
            login_attempts.delete().where(login_attempts.c.time < now - self.policy.horizon)
        )
        return int(attempt_id)

    def login(
        self,
        username: str,
        password: str,
        address: str | None,
        *,
        audit_throttled: Callable[[], bool] | None = None,
    ) -> Principal:
        """Check a password; the user's principal, LoginFailed or LoginThrottled.

        Check and record are one step: in one write transaction, serialized with every
        other login (SQLite's write lock; a PostgreSQL advisory lock), the limits are
        read and the attempt is recorded as a failure before the password is verified;
        a proven password turns it into a success afterwards. So parallel guesses see
        each other, and no more than the allowed number is ever verified. Unknown,
        disabled and wrong-password logins cost the same hash verification and raise
        the same error; every outcome is audited, a throttled one only when
        ``audit_throttled()`` says so (the gateway caps how many of those an address
        writes: a throttled caller can keep knocking).
        """
        name = username.strip()[:64]
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOGIN_LOCK_KEY)))
            wait = self._retry_after(conn, name, address)
            if wait > 0:
                if audit_throttled is None or audit_throttled():
                    detail = f"retry_after={wait:.0f}s"
                    self._audit(conn, "login", name, address, "throttled", detail)
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
            with self._write() as conn:
                self._audit(conn, "login", name, address, "failed", reason)
            raise LoginFailed()
        rehashed = None
        if self.hasher.needs_rehash(row.password_hash):
            rehashed = self.hasher.hash(password)
        with self._write() as conn:
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
            self._audit(conn, "login", name, address, "ok", "", role=row.role)
        return Principal(username=row.username, role=Role[row.role], via="session")

    # ----------------------------------------------------------------- sessions

    @property
    def signer(self) -> sessions_mod.SessionSigner:
        """The cookie signer (loads the secret key on first use)."""
        with self._lock:
            if self._signer is None:
                if self._secret_key is None:
                    from aerofs_pipelines.gateway.secrets import secret_key

                    self._secret_key = secret_key()
                self._signer = sessions_mod.SessionSigner(self._secret_key)
            return self._signer

    def create_session(self, principal: Principal, address: str | None) -> str:
        """A new session for ``principal``'s user; the cookie value to set."""
        cookie, sid = self.signer.new()
        now = self._now()
        with self._write() as conn:
            row = self._user_row(conn, principal.username)
            if row.disabled:
                raise UserNotFound(f"user {principal.username!r} is disabled")
            conn.execute(
                sessions.insert().values(
                    id=sid,
                    user_id=row.id,
                    created_at=now,
                    expires_at=now + sessions_mod.session_lifetime(),
                    last_seen_at=now,
                    address=audit_mod.clip(address, 255),
                )
            )
        return cookie

    def resolve_session(self, cookie: str) -> Principal | None:
        """The principal of a valid session cookie; None if forged, expired or revoked."""
        return self._remember("session", cookie, lambda: self._lookup_session(cookie))

    def _lookup_session(self, cookie: str) -> _Found:
        lifetime = sessions_mod.session_lifetime()
        sid = self.signer.unsign(cookie, lifetime.total_seconds())
        if sid is None:
            return None
        now = self._now()
        with self._read() as conn:
            row = conn.execute(
                sa.select(sessions, users.c.username, users.c.role, users.c.disabled)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == sid)
            ).first()
        if row is None or row.revoked_at is not None or row.disabled or row.expires_at <= now:
            return None
        idle = sessions_mod.idle_timeout()
        if idle is not None and row.last_seen_at + idle <= now:
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= _TOUCH_EVERY:
            with self._write() as conn:
                conn.execute(sessions.update().where(sessions.c.id == sid).values(last_seen_at=now))
            last_seen = now
        principal = Principal(row.username, Role[row.role], "session", session_id=sid)
        until = row.expires_at if idle is None else min(row.expires_at, last_seen + idle)
        return principal, until

    def revoke_session(self, cookie: str, *, address: str | None = None) -> None:
        """End a session (logout); a no-op for an unknown or invalid cookie."""
        sid = self.signer.unsign(cookie, sessions_mod.session_lifetime().total_seconds())
        if sid is None:
            return
        now = self._now()
        try:
            with self._write() as conn:
                row = conn.execute(
                    sa.select(sessions.c.revoked_at, users.c.username, users.c.role)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(sessions.c.id == sid)
                ).first()
                if row is None or row.revoked_at is not None:
                    return
                conn.execute(sessions.update().where(sessions.c.id == sid).values(revoked_at=now))
                self._audit(conn, "logout", row.username, address, "ok", "", role=row.role)
        finally:  # even when already revoked elsewhere: forget it here
            self.identities.clear()

    def _revoke_sessions(self, conn: Connection, user_id: int, now: datetime) -> int:
        result = conn.execute(
            sessions.update()
            .where(sessions.c.user_id == user_id)
            .where(sessions.c.revoked_at.is_(None))
            .where(sessions.c.expires_at > now)
            .values(revoked_at=now)
        )
        conn.execute(sessions.delete().where(sessions.c.expires_at < now - timedelta(days=7)))
        return int(result.rowcount or 0)

    def revoke_user_sessions(self, username: str) -> int:
        """Revoke every live session of a user; how many."""
        with self._write() as conn:
            revoked = self._revoke_sessions(conn, self._user_row(conn, username).id, self._now())
        self.identities.clear()
        return revoked

    # ----------------------------------------------------------------- tokens

    def create_token(
        self,
        username: str,
        role: Role | None = None,
        name: str = "",
        expires_days: int | None = None,
        *,
        actor: str | None = None,
        address: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new API token for ``username``: its record and the token (shown once).

        ``role`` defaults to the user's role and may not exceed it.
        """
        if expires_days is not None and expires_days <= 0:
            raise StoreError(f"expires_days must be > 0, got {expires_days}")
        if len(name) > 128 or not name.isprintable():
            raise StoreError("token name: at most 128 printable characters")
        token_id, token, secret_hash = tokens_mod.new_token()
        now = self._now()
        expires = now + timedelta(days=expires_days) if expires_days is not None else None
        with self._write() as conn:
            row = self._user_row(conn, username)
            user_role = Role[row.role]
            scope = user_role if role is None else Role(role)
            if scope > user_role:
                raise StoreError(
                    f"a token's role ({scope.name}) cannot exceed its user's ({user_role.name})"
                )
            if row.disabled:
                raise StoreError(f"user {username!r} is disabled")
            conn.execute(
                tokens.insert().values(
                    id=token_id,
                    user_id=row.id,
                    name=name,
                    role=scope.name,
                    secret_hash=secret_hash,
                    created_at=now,
                    expires_at=expires,
                )
            )
            detail = f"token={token_id} user={username} role={scope.name} name={name!r}"
            if expires is not None:
                detail += f" expires={expires.isoformat()}"
            self._audit(conn, "token.create", actor, address, "ok", detail)
        info = TokenInfo(token_id, username, name, scope, now, expires, None, None)
        return info, token

    def resolve_token(self, token: str) -> Principal | None:
        """The principal of a valid token; None if unknown, revoked, expired or the
        user is disabled. The role is the token's, capped by the user's current role."""
        return self._remember("token", token, lambda: self._lookup_token(token))

    def _lookup_token(self, token: str) -> _Found:
        parsed = tokens_mod.parse_token(token)
        if parsed is None:
            return None
        token_id, secret_hash = parsed
        now = self._now()
        with self._read() as conn:
            row = conn.execute(
                sa.select(tokens, users.c.username, users.c.disabled, users.c.role.label("urole"))
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.id == token_id)
            ).first()
        if row is None or not hmac.compare_digest(row.secret_hash, secret_hash):
            return None
        if row.revoked_at is not None or row.disabled:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            with self._write() as conn:
                conn.execute(
                    tokens.update().where(tokens.c.id == token_id).values(last_used_at=now)
                )
        role = min(Role[row.role], Role[row.urole])
        return Principal(row.username, role, "token", token_id=token_id), row.expires_at

    def list_tokens(self, username: str | None = None) -> list[TokenInfo]:
        """Tokens (revoked and expired ones too), newest first; one user's if given."""
        query = (
            sa.select(tokens, users.c.username)
            .join(users, users.c.id == tokens.c.user_id)
            .order_by(tokens.c.created_at.desc(), tokens.c.id)
        )
        if username is not None:
            query = query.where(users.c.username == username)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            TokenInfo(
                r.id,
                r.username,
                r.name,
                Role[r.role],
                r.created_at,
                r.expires_at,
                r.last_used_at,
                r.revoked_at,
            )
            for r in rows
        ]

    def revoke_token(
        self, token_id: str, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Revoke a token for good; TokenNotFound for an unknown id."""
        with self._write() as conn:
            row = conn.execute(
                sa.select(tokens.c.revoked_at, users.c.username)
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.id == token_id)
            ).first()
            if row is None:
                raise TokenNotFound(f"no token {token_id!r}")
            if row.revoked_at is None:
                conn.execute(
                    tokens.update().where(tokens.c.id == token_id).values(revoked_at=self._now())
                )
            self._audit(
                conn, "token.revoke", actor, address, "ok", f"token={token_id} user={row.username}"
            )
        self.identities.clear()

    # ----------------------------------------------------------------- audit

    def _audit(
        self,
        conn: Connection,
        event: str,
        username: str | None,
        address: str | None,
        outcome: str,
        detail: str,
        *,
        role: str | None = None,
        operation: str | None = None,
        fields: Sequence[str] = (),
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        summary = audit_mod.summarize_variables(variables)
        conn.execute(
            audit_log.insert().values(
                time=self._now(),
                event=audit_mod.clip(event, 64),
                username=audit_mod.clip(username, 64),
                role=role,
                address=audit_mod.clip(address, 255),
                outcome=audit_mod.clip(outcome, 16),
                operation=audit_mod.clip(operation, 255),
                fields=json.dumps([str(f)[:255] for f in list(fields)[:200]]),
                variables=json.dumps(summary) if summary is not None else None,
                detail=audit_mod.clip(detail, audit_mod.MAX_TEXT) or "",
            )
        )

    def audit(
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
        with self._write() as conn:
            self._audit(
                conn,
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
        now = self._now()
        if self._last_retention is None or now - self._last_retention >= _RETENTION_EVERY:
            self._last_retention = now
            try:
                self.apply_audit_retention()
            except (ValueError, sa.exc.SQLAlchemyError) as exc:  # never fail the caller
                _log.warning("audit retention not applied: %s", exc)

    def audit_events(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Audit records, newest first: ``since`` <= time < ``until``, one user's if given."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(max(0, limit))
        if since is not None:
            query = query.where(audit_log.c.time >= since)
        if until is not None:
            query = query.where(audit_log.c.time < until)
        if username is not None:
            query = query.where(audit_log.c.username == username)
        with self._read() as conn:
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

    def purge_audit(self, older_than_days: float) -> int:
        """Delete audit records older than ``older_than_days``; how many."""
        if older_than_days < 0:
            raise StoreError(f"older_than_days must be >= 0, got {older_than_days}")
        cutoff = self._now() - timedelta(days=older_than_days)
        with self._write() as conn:
            result = conn.execute(audit_log.delete().where(audit_log.c.time < cutoff))
            return int(result.rowcount or 0)

    def apply_audit_retention(self) -> int:
        """Apply ``AEROFS_AUDIT_RETENTION_DAYS``; how many records were deleted."""
        days = audit_mod.retention_days()
        return 0 if days is None else self.purge_audit(days)
