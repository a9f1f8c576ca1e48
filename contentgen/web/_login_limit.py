"""Throttling of failed logins.

After ``FAILED_LOGINS`` failures for one username from one client address, further tries
from there are rejected with 429, before the password is checked, until the oldest
failure leaves the window. A successful login clears that count. Each check of a password
costs an Argon2 hash (about 0.5 s of CPU and 64 MiB), so one address also gets at most
``FAILED_LOGINS_PER_ADDRESS`` failures whatever the usernames, which stops a client from
keeping the server busy by trying a new username each time. The counts live in this
server process's memory (a moving window of the ``limits`` package), so each process of
``contentgen serve`` counts on its own and a restart clears them.

A login reserves its place in both counts before its password is checked, and a check
still running counts as a failure. Parallel requests therefore start at most as many
password checks as the counts have room for. A reservation, unlike a hit of ``limits``,
can be taken back, so a successful login never counts against its address.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

FAILED_LOGINS = parse("10 per 15 minutes")
FAILED_LOGINS_PER_ADDRESS = parse("50 per 15 minutes")


class LoginThrottle:
    """Failed logins by (username, client address), and by client address.

    Call ``reserve`` before checking a password. When it returns 0, end the reservation
    with exactly one of ``record_failure``, ``record_success`` or ``release``.
    """

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # Password checks under way, by the limiter's key of each count. The lock makes
        # testing both counts and reserving a place in them one step, so parallel requests
        # cannot all pass the test.
        self._checking: Counter[str] = Counter()
        self._lock = threading.Lock()

    def reserve(self, username: str, address: str) -> int:
        """Reserve a password check for this username and address.

        Returns 0 when the check is reserved. Otherwise nothing is reserved, and the return
        value is how many seconds to wait before trying again.
        """
        counts = self._counts(username, address)
        with self._lock:
            full = [
                (limit, keys)
                for limit, keys in counts
                if not self._limiter.test(limit, *keys, cost=self._checking[limit.key_for(*keys)] + 1)
            ]
            if not full:
                for limit, keys in counts:
                    self._checking[limit.key_for(*keys)] += 1
                return 0
            # A place frees up when the oldest failure leaves the window. A window without
            # failures is full of checks under way, which may all fail, so the wait is then
            # the whole window: reset_time of an empty window is now plus its length.
            resets = [self._limiter.get_window_stats(limit, *keys).reset_time for limit, keys in full]
        return max(1, math.ceil(max(resets) - time.time()))

    def record_failure(self, username: str, address: str) -> None:
        """End a reservation with a failure, which counts until it leaves the window."""
        with self._lock:
            for limit, keys in self._end_check(username, address):
                self._limiter.hit(limit, *keys)

    def record_success(self, username: str, address: str) -> None:
        """End a reservation with a success. That clears this username's failures from
        this address, but not the address's count of failures."""
        with self._lock:
            self._end_check(username, address)
            self._limiter.clear(FAILED_LOGINS, _key(username), address)

    def release(self, username: str, address: str) -> None:
        """End a reservation whose check did not finish, such as when the database failed,
        so that it counts neither way."""
        with self._lock:
            self._end_check(username, address)

    def _end_check(self, username: str, address: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        counts = self._counts(username, address)
        for limit, keys in counts:
            key = limit.key_for(*keys)
            self._checking[key] -= 1
            if self._checking[key] <= 0:
                del self._checking[key]
        return counts

    @staticmethod
    def _counts(username: str, address: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        return [(FAILED_LOGINS, (_key(username), address)), (FAILED_LOGINS_PER_ADDRESS, ("*", address))]


def _key(username: str) -> str:
    # Usernames are unique regardless of case, so "Rita" and "rita" share one count.
    return username.casefold()[:100]
