"""API tokens (table ``aerofs_tokens``): for ``Authorization: Bearer``.

A token is shown once when created; the row keeps the SHA-256 of its secret
(:mod:`aerofs_pipelines.gateway.identity.tokens`), its scope (a role, never above its
user's), its expiry and its revocation. Resolving a token goes through the identity cache.
"""

from __future__ import annotations

import builtins
import hmac
from datetime import timedelta

import sqlalchemy as sa

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity import tokens as token_format
from aerofs_pipelines.gateway.identity.cache import Found, IdentityCache
from aerofs_pipelines.gateway.identity.principal import Principal
from aerofs_pipelines.gateway.identity.tokens import TokenInfo
from aerofs_pipelines.gateway.store import audit
from aerofs_pipelines.gateway.store.database import Database
from aerofs_pipelines.gateway.store.db import tokens, users
from aerofs_pipelines.gateway.store.errors import StoreError, TokenNotFound
from aerofs_pipelines.gateway.store.users import user_row

__all__ = ["Tokens"]

TOUCH_EVERY = timedelta(seconds=60)
"""How often ``last_used_at`` is written for a token in use."""


class Tokens:
    """API tokens: ``aerofs tokens create|list|revoke``, resolved per request."""

    def __init__(self, db: Database, identities: IdentityCache) -> None:
        self.db = db
        self.identities = identities

    def create(
        self,
        username: str,
        role: Role | None = None,
        name: str = "",
        expires_days: int | None = None,
        *,
        actor: str | None = None,
        address: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token for ``username``: its record and the token (shown once).

        ``role`` defaults to the user's role and may not exceed it.
        """
        if expires_days is not None and expires_days <= 0:
            raise StoreError(f"expires_days must be > 0, got {expires_days}")
        if len(name) > 128 or not name.isprintable():
            raise StoreError("token name: at most 128 printable characters")
        token_id, token, secret_hash = token_format.new_token()
        now = self.db.now()
        expires = now + timedelta(days=expires_days) if expires_days is not None else None
        with self.db.write() as conn:
            row = user_row(conn, username)
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
            audit.record(conn, now, "token.create", actor, address, "ok", detail)
        info = TokenInfo(token_id, username, name, scope, now, expires, None, None)
        return info, token

    def resolve(self, token: str) -> Principal | None:
        """The principal of a valid token; None if unknown, revoked, expired or the user
        is disabled. The role is the token's, capped by the user's current role."""
        return self.identities.remember("token", token, lambda: self._lookup(token))

    def _lookup(self, token: str) -> Found:
        parsed = token_format.parse_token(token)
        if parsed is None:
            return None
        token_id, secret_hash = parsed
        now = self.db.now()
        with self.db.read() as conn:
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
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            with self.db.write() as conn:
                conn.execute(
                    tokens.update().where(tokens.c.id == token_id).values(last_used_at=now)
                )
        role = min(Role[row.role], Role[row.urole])
        return Principal(row.username, role, "token", token_id=token_id), row.expires_at

    def list(self, username: str | None = None) -> builtins.list[TokenInfo]:
        """Tokens (revoked and expired ones too), newest first; one user's if given."""
        query = (
            sa.select(tokens, users.c.username)
            .join(users, users.c.id == tokens.c.user_id)
            .order_by(tokens.c.created_at.desc(), tokens.c.id)
        )
        if username is not None:
            query = query.where(users.c.username == username)
        with self.db.read() as conn:
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

    def revoke(
        self, token_id: str, *, actor: str | None = None, address: str | None = None
    ) -> None:
        """Revoke a token for good; TokenNotFound for an unknown id."""
        now = self.db.now()
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(tokens.c.revoked_at, users.c.username)
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.id == token_id)
            ).first()
            if row is None:
                raise TokenNotFound(f"no token {token_id!r}")
            if row.revoked_at is None:
                conn.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=now))
            detail = f"token={token_id} user={row.username}"
            audit.record(conn, now, "token.revoke", actor, address, "ok", detail)
        self.identities.clear()
