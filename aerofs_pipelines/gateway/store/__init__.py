"""The gateway's store: users, sessions, API tokens, login attempts and the audit log.

It lives in the instance database: ``<DAGSTER_HOME>/gateway/aerofs_gateway.db`` (SQLite,
in the gateway's private folder: :mod:`aerofs_pipelines.gateway.private`) by default, the
PostgreSQL database when ``AEROFS_PG_URL`` is set. One module per table, each owning
its queries; :class:`GatewayStore` opens the database and hands each its part:

- ``store.users`` (:mod:`.users`): add, set_role, set_disabled, set_password, get, list,
  count, resolve (SSO user names);
- ``store.logins`` (:mod:`.logins`): login within the limits, unlock;
- ``store.sessions`` (:mod:`.sessions`): create, resolve, revoke, revoke_user;
- ``store.tokens`` (:mod:`.tokens`): create, resolve, list, revoke;
- ``store.audit`` (:mod:`.audit`): record, events, purge, apply_retention;
- ``store.identities``: the identity cache the ``resolve`` methods keep their answers in
  (revocations in this process clear it at once; those of another process show within
  its TTL).

The methods block (argon2, database): call them from a worker thread in async code. All
times are aware UTC datetimes. Tables and migrations: :mod:`.db`. Errors: :mod:`.errors`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aerofs_pipelines.gateway import private
from aerofs_pipelines.gateway.identity.cache import IdentityCache, ttl_from_env
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.identity.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.store import db
from aerofs_pipelines.gateway.store.audit import AuditLog
from aerofs_pipelines.gateway.store.database import Database
from aerofs_pipelines.gateway.store.errors import (
    AuthError,
    LoginFailed,
    LoginThrottled,
    StoreError,
    TokenNotFound,
    UserExists,
    UserNotFound,
)
from aerofs_pipelines.gateway.store.logins import Logins
from aerofs_pipelines.gateway.store.sessions import Sessions
from aerofs_pipelines.gateway.store.tokens import Tokens
from aerofs_pipelines.gateway.store.users import UserInfo, Users

__all__ = [
    "AuthError",
    "GatewayStore",
    "LoginFailed",
    "LoginThrottled",
    "StoreError",
    "TokenNotFound",
    "UserExists",
    "UserInfo",
    "UserNotFound",
]


class GatewayStore:
    """The gateway's database, and one object per table."""

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
        self.db = Database(url, clock)
        self.url = url
        self.engine = self.db.engine
        hasher = hasher or Hasher()
        ttl = ttl_from_env() if identity_ttl is None else identity_ttl
        self.identities = IdentityCache(ttl, self.db.now)
        self.audit = AuditLog(self.db)
        self.users = Users(self.db, self.identities, hasher)
        self.logins = Logins(self.db, hasher, policy or RateLimitPolicy.from_env())
        self.sessions = Sessions(self.db, self.identities, secret_key)
        self.tokens = Tokens(self.db, self.identities)

    @classmethod
    def for_instance(cls, **kwargs: Any) -> GatewayStore:
        """The store of the configured instance (PostgreSQL or the SQLite default)."""
        from aerofs_pipelines import config

        url = config.postgres_url()
        if url is None:
            path = private.database_path()
            if not path.exists():  # password hashes and audit: owner-only from the start
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            url = f"sqlite:///{path}"
        return cls(url, **kwargs)

    def now(self) -> datetime:
        """The store's clock (aware UTC)."""
        return self.db.now()

    def schema_version(self) -> int:
        """The applied schema version (0 for an empty database)."""
        return db.schema_version(self.engine)

    def migrate(self) -> int:
        """Apply the pending migrations (serialized across processes); the new version."""
        return db.migrate(self.engine, self.db.now())

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
