"""API tokens for ``Authorization: Bearer``: format, hashing and the public record.

A token reads ``aerofs_<id>_<secret>``: ``id`` is 16 hex characters (public, shown in
listings and audit), ``secret`` 256 random bits (urlsafe base64). Only the SHA-256 of
the secret is stored and compared in constant time. ``GatewayStore`` owns the rows.

- ``new_token() -> (token_id, token, secret_hash)``; ``parse_token(token) -> (id, hash) | None``.
- ``TokenInfo``: the record listings return (never the secret).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aerofs_pipelines.gateway.auth.roles import Role

PREFIX = "aerofs_"
_TOKEN = re.compile(r"^aerofs_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: its scope and life, without the secret."""

    id: str
    username: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now`` (the user may still be disabled)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 times)."""

        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "role": self.role.name,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
        }


def hash_secret(secret: str) -> str:
    """SHA-256 (hex) of a token secret: enough for 256 random bits."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token_id, token, secret_hash)``; show ``token`` once, store the hash."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{PREFIX}{token_id}_{secret}", hash_secret(secret)


def parse_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret_hash)`` of a well-formed token; None otherwise."""
    m = _TOKEN.match(token.strip()) if len(token) < 256 else None
    if m is None:
        return None
    return m.group(1), hash_secret(m.group(2))
