"""Session cookies: opaque, signed (itsdangerous, HMAC-SHA256) and backed by a row.

The cookie carries a random 256-bit session secret, signed and timestamped with the
secret key; the database keeps only ``session_id(raw)`` (its SHA-256), so a leaked table
cannot be replayed as cookies. ``GatewayStore`` owns the rows; this module the format:

- ``SessionSigner(secret_key)``: ``.new() -> (cookie, session_id)``,
  ``.unsign(cookie, max_age_seconds) -> session_id | None``.
- ``session_lifetime()``: ``AEROFS_SESSION_HOURS`` (default 12);
  ``idle_timeout()``: ``AEROFS_SESSION_IDLE_MINUTES`` (default 0 = no idle expiry).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from itsdangerous import BadSignature, TimestampSigner

from aerofs_pipelines import config

COOKIE_NAME = "aerofs_session"
_SALT = "aerofs.gateway.session"
_MAX_COOKIE_LENGTH = 512


def session_lifetime() -> timedelta:
    """Absolute session lifetime (``AEROFS_SESSION_HOURS``, default 12)."""
    return timedelta(hours=config.session_hours())


def idle_timeout() -> timedelta | None:
    """Idle expiry (``AEROFS_SESSION_IDLE_MINUTES``); None when 0 or unset."""
    minutes = config.session_idle_minutes()
    return timedelta(minutes=minutes) if minutes > 0 else None


def session_id(raw: str) -> str:
    """The stored id of a raw session secret (SHA-256, hex)."""
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


class SessionSigner:
    """Makes and checks session cookie values."""

    def __init__(self, secret_key: str) -> None:
        self._signer = TimestampSigner(secret_key, salt=_SALT, digest_method=hashlib.sha256)

    def new(self) -> tuple[str, str]:
        """A fresh ``(cookie value, session id)``."""
        raw = secrets.token_urlsafe(32)
        return self._signer.sign(raw).decode("ascii"), session_id(raw)

    def unsign(self, cookie: str, max_age_seconds: float) -> str | None:
        """The session id of a well-signed, unexpired cookie; None otherwise."""
        if not cookie or len(cookie) > _MAX_COOKIE_LENGTH or not cookie.isascii():
            return None
        try:
            raw = self._signer.unsign(cookie, max_age=int(max_age_seconds) + 1)
        except BadSignature:  # includes SignatureExpired
            return None
        return session_id(raw.decode("ascii"))
