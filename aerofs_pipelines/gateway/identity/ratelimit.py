"""Login rate limiting: lockout per user name and throttling per client address.

The attempts live in the ``aerofs_login_attempts`` table (so every process sees them);
this module is the policy, as pure functions over attempt times:

- per user name (known or not, so a lockout reveals nothing): after
  ``user_free_failures`` consecutive failures, each further attempt waits
  ``base * 2**k`` seconds after the last failure, capped at ``max_lockout``;
  failures older than ``user_window`` are forgotten, a success resets the count.
- per address: at most ``address_max_failures`` failures within ``address_window``
  (0: no per-address limit). Every client behind one proxy that is not listed in
  ``AEROFS_TRUSTED_PROXIES`` shares the proxy's address, so their failures add up and
  can lock all of them out: list the proxy (then the real client address counts), or
  raise or turn off this limit (the per-user lockout stays).

``RateLimitPolicy.from_env()`` reads ``AEROFS_LOGIN_MAX_FAILURES`` (default 5),
``AEROFS_LOGIN_LOCKOUT_SECONDS`` (base, default 30),
``AEROFS_LOGIN_ADDRESS_MAX_FAILURES`` (default 30; 0 turns it off) and
``AEROFS_LOGIN_ADDRESS_WINDOW_SECONDS`` (default 900).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aerofs_pipelines import config


@dataclass(frozen=True)
class RateLimitPolicy:
    """Thresholds of the login limits."""

    user_free_failures: int = 5
    base_lockout: timedelta = timedelta(seconds=30)
    max_lockout: timedelta = timedelta(minutes=15)
    user_window: timedelta = timedelta(hours=1)
    address_max_failures: int = 30
    address_window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_env(cls) -> RateLimitPolicy:
        """The policy with the ``AEROFS_LOGIN_*`` overrides applied."""

        return cls(
            user_free_failures=config.login_max_failures(),
            base_lockout=timedelta(seconds=config.login_lockout_seconds()),
            address_max_failures=config.login_address_max_failures(),
            address_window=timedelta(seconds=config.login_address_window_seconds()),
        )

    @property
    def horizon(self) -> timedelta:
        """How long attempts matter (older ones may be deleted)."""
        return max(self.user_window, self.address_window)

    def user_retry_after(self, consecutive_failures: Sequence[datetime], now: datetime) -> float:
        """Seconds a user name must wait, given its failures since its last success
        (within ``user_window``, oldest first)."""
        extra = len(consecutive_failures) - self.user_free_failures
        if extra < 0:
            return 0.0
        lockout = min(self.base_lockout * (1 << min(extra, 30)), self.max_lockout)
        until = consecutive_failures[-1] + lockout
        return max(0.0, (until - now).total_seconds())

    def address_retry_after(self, failures: Sequence[datetime], now: datetime) -> float:
        """Seconds an address must wait, given its failures within ``address_window``
        (oldest first)."""
        if self.address_max_failures == 0 or len(failures) < self.address_max_failures:
            return 0.0
        until = failures[-self.address_max_failures] + self.address_window
        return max(0.0, (until - now).total_seconds())
