"""Throttling of failed logins.

After ``FAILED_LOGINS`` failures for one username from one client address, further tries
from there are rejected with 429, before the password is checked, until the oldest
failure leaves the window. A successful login clears that count. Each check of a password
costs an Argon2 hash (about 0.5 s of CPU and 64 MiB), so one address also gets at most
``FAILED_LOGINS_PER_ADDRESS`` failures whatever the usernames, which stops a client from
keeping the server busy by trying a new username each time. The counts live in this
server process's memory (a moving window of the ``limits`` package), so each process of
``contentgen serve`` counts on its own and a restart clears them.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

FAILED_LOGINS = parse("10 per 15 minutes")
FAILED_LOGINS_PER_ADDRESS = parse("50 per 15 minutes")


class LoginThrottle:
    """Failed logins by (username, client address), and by client address."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def seconds_to_wait(self, username: str, address: str) -> int:
        """Return how long this username and address must wait before trying again; 0 if
        they may try now."""
        resets = [
            self._limiter.get_window_stats(limit, *keys).reset_time
            for limit, keys in self._counts(username, address)
            if not self._limiter.test(limit, *keys)
        ]
        return max(1, math.ceil(max(resets) - time.time())) if resets else 0

    def record_failure(self, username: str, address: str) -> None:
        for limit, keys in self._counts(username, address):
            self._limiter.hit(limit, *keys)

    def record_success(self, username: str, address: str) -> None:
        self._limiter.clear(FAILED_LOGINS, _key(username), address)


    @staticmethod
    def _counts(username: str, address: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        return [(FAILED_LOGINS, (_key(username), address)), (FAILED_LOGINS_PER_ADDRESS, ("*", address))]


def _key(username: str) -> str:
    # Usernames are unique regardless of case, so "Rita" and "rita" share one count.
    return username.casefold()[:100]
