"""Throttling of failed logins.

After ``FAILED_LOGINS`` failures for one username from one client address, further tries
from there are rejected with 429, before the password is checked, until the oldest
failure leaves the window. A successful login clears the count. The counts live in this
server process's memory (a moving window of the ``limits`` package), so each process of
``contentgen serve`` counts on its own and a restart clears them.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

FAILED_LOGINS = parse("10 per 15 minutes")


class LoginThrottle:
    """Failed logins by (username, client address)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def seconds_to_wait(self, username: str, address: str) -> int:
        """Return how long this username and address must wait before trying again; 0 if
        they may try now."""
        key = _key(username)
        if self._limiter.test(FAILED_LOGINS, key, address):
            return 0
        reset_at = self._limiter.get_window_stats(FAILED_LOGINS, key, address).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def record_failure(self, username: str, address: str) -> None:
        self._limiter.hit(FAILED_LOGINS, _key(username), address)

    def record_success(self, username: str, address: str) -> None:
        self._limiter.clear(FAILED_LOGINS, _key(username), address)


def _key(username: str) -> str:
    # Usernames are unique regardless of case, so "Rita" and "rita" share one count.
    return username.casefold()[:100]
