"""Password hashing with argon2id (argon2-cffi).

- ``Hasher()``: RFC 9106 "low memory" parameters (argon2-cffi's defaults: t=3, m=64 MiB,
  p=4), the production setting. ``Hasher.fast()`` is for tests only.
- ``hash(password)``, ``verify(hash, password) -> bool`` (never raises for a wrong
  password or a malformed hash), ``needs_rehash(hash)`` (parameters changed since),
  ``verify_dummy(password)`` (same work as a real check, for unknown users).
- ``check_password_policy(password)``: ValueError naming the rule a new password breaks.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


class Hasher:
    """argon2id hashing with one parameter set; old hashes still verify."""

    def __init__(
        self, *, time_cost: int = 3, memory_cost_kib: int = 65536, parallelism: int = 4
    ) -> None:
        self._ph = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy: str | None = None

    @classmethod
    def fast(cls) -> Hasher:
        """Weak, fast parameters: for tests only, never for stored production hashes."""
        return cls(time_cost=1, memory_cost_kib=8, parallelism=1)

    def hash(self, password: str) -> str:
        """The encoded argon2id hash of ``password`` (salted)."""
        return str(self._ph.hash(password))

    def verify(self, encoded: str, password: str) -> bool:
        """Whether ``password`` matches ``encoded``; False for a malformed hash."""
        try:
            return bool(self._ph.verify(encoded, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Whether ``encoded`` was made with other parameters than this hasher's."""
        try:
            return bool(self._ph.check_needs_rehash(encoded))
        except (InvalidHashError, ValueError):
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification (for unknown users: no timing oracle)."""
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy, password)


def check_password_policy(password: str) -> None:
    """ValueError when ``password`` is not acceptable as a new password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short (at least {MIN_PASSWORD_LENGTH} characters)")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password too long (at most {MAX_PASSWORD_LENGTH} characters)")
    if any(c in password for c in "\r\n\x00"):
        raise ValueError("password must not contain newlines or NUL characters")


def generate_password() -> str:
    """A random password (about 144 bits) for first-start admins and resets."""
    return secrets.token_urlsafe(18)
