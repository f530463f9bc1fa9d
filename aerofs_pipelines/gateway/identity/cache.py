"""A short-lived in-process cache of resolved credentials (tokens, sessions, SSO users).

Resolving a credential costs a database read in a worker thread; the same few tokens and
cookies come back many times a second. The store's ``resolve`` methods keep their answers
here (:meth:`IdentityCache.remember`) for at most ``ttl`` seconds
(``AEROFS_IDENTITY_CACHE_SECONDS``, default 5; 0 turns the cache off), never past the
credential's own expiry, keyed by the SHA-256 of the credential (no secret is kept).
The gateway asks the cache first, on the event loop, and goes to the database (in a
worker thread) only on a miss.

Revocation: every change that can take access away (logout, token revocation, a user's
role, password or disabled flag) clears the cache of the process that made it, at once.
A change made by *another* process (e.g. ``aerofs tokens revoke`` from a shell) reaches a
running server within ``ttl`` seconds. A lookup started before a clear cannot put its
stale answer back afterwards (the cache's generation moved on).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from aerofs_pipelines import config
from aerofs_pipelines.gateway.identity.principal import CredentialKind, Principal

Found = tuple[Principal, datetime | None] | None
"""A database lookup's answer: the principal and when the credential expires (or None)."""

MAX_ENTRIES = 4096


def ttl_from_env() -> float:
    """``AEROFS_IDENTITY_CACHE_SECONDS`` (default 5, at most 60; 0 disables the cache)."""
    return config.identity_cache_seconds()


def cache_key(kind: CredentialKind, credential: str) -> bytes:
    """The key of a credential of one ``kind`` (``token``, ``session``, ``user``)."""
    return hashlib.sha256(f"{kind}\0{credential}".encode()).digest()


class IdentityCache:
    """Principals by credential key, each until a deadline on the store's clock."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], datetime]) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self._now = clock
        self._entries: dict[bytes, tuple[Principal, datetime]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0)

    @property
    def recheck_seconds(self) -> float:
        """How often a long-lived connection checks its credential again: the TTL (a
        revocation elsewhere reaches this process within it anyway), at least a second."""
        return max(self.ttl.total_seconds(), 1.0)

    @property
    def generation(self) -> int:
        """Read before a lookup; pass to :meth:`put` (it moves on at each clear)."""
        return self._generation

    def get(self, key: bytes) -> Principal | None:
        """The cached principal, or None (absent or expired)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, until = entry
        if self._now() < until:
            return principal
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]
        return None

    def put(
        self, key: bytes, principal: Principal, generation: int, expires: datetime | None = None
    ) -> None:
        """Keep ``principal`` for ``ttl``, never past ``expires``; dropped when the cache
        was cleared since ``generation`` was read."""
        if not self.enabled:
            return
        now = self._now()
        until = now + self.ttl if expires is None else min(now + self.ttl, expires)
        with self._lock:
            if generation != self._generation or until <= now:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (principal, until)

    def remember(
        self, kind: CredentialKind, credential: str, lookup: Callable[[], Found]
    ) -> Principal | None:
        """Run a database ``lookup`` of ``credential`` and keep (or drop) its answer."""
        key = cache_key(kind, credential)
        generation = self.generation  # before the read: see put()
        found = lookup()
        if found is None:
            self.discard(key)
            return None
        self.put(key, found[0], generation, found[1])
        return found[0]

    def cached(self, kind: CredentialKind, credential: str) -> Principal | None:
        """Without blocking: what a lookup found for ``credential`` in the last few
        seconds; None: ask the database."""
        return self.get(cache_key(kind, credential))

    def discard(self, key: bytes) -> None:
        """Forget one credential (found invalid)."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything (a revocation in this process); in-flight lookups too."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
