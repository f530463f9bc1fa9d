"""Errors of the gateway's store: bad management input, refused logins."""

from __future__ import annotations

LOGIN_FAILED_MESSAGE = "invalid username or password"

__all__ = [
    "AuthError",
    "LoginFailed",
    "LoginThrottled",
    "StoreError",
    "TokenNotFound",
    "UserExists",
    "UserNotFound",
]


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
