"""Login rate limiting per username and per client address, with an injected clock.

Each key (``user:<name>``, ``addr:<ip>``) keeps the times of its recent failed logins, at
most ``attempts`` of them. A login is refused with 429 while either key has ``attempts``
failures inside the last ``window_s`` seconds; ``Retry-After`` says when the oldest of
them leaves the window. Success clears the username's failures but not the address's,
so one valid account cannot be used to launder guessing against others.

The per-user key is the lower-cased name whether or not such a user exists, so the
limiter treats unknown and real users alike (no enumeration by 429 behaviour).

Memory is bounded without sweeping on every request: keys sit in an ordered dict by last
failure; each recorded failure first drops keys from the old end whose newest failure is
outside the window (amortised O(1)), and ``max_keys`` caps the total.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable

from ferrite.errors import TooManyRequests

Clock = Callable[[], float]


class LoginRateLimiter:
    def __init__(
        self, *, attempts: int, window_s: float, clock: Clock, max_keys: int = 100_000
    ) -> None:
        self.attempts = max(1, attempts)
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def keys(username: str, address: str | None) -> tuple[str, ...]:
        user_key = "user:" + username.strip().lower()
        return (user_key,) if address is None else (user_key, "addr:" + address)

    def check(self, username: str, address: str | None) -> None:
        """Raise :class:`TooManyRequests` if this user or address is locked out now."""
        now = self._clock()
        wait = 0.0
        for key in self.keys(username, address):
            times = self._failures.get(key)
            if times is not None and len(times) >= self.attempts:
                oldest = times[0]
                if now - oldest < self.window_s:
                    wait = max(wait, oldest + self.window_s - now)
        if wait > 0:
            raise TooManyRequests(
                "Too many failed logins; try again later.", retry_after=math.ceil(wait)
            )

    def record_failure(self, username: str, address: str | None) -> None:
        now = self._clock()
        self._expire(now)
        for key in self.keys(username, address):
            times = self._failures.pop(key, None)
            if times is None:
                times = deque(maxlen=self.attempts)
            times.append(now)
            self._failures[key] = times  # re-inserted at the new end
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def record_success(self, username: str, address: str | None) -> None:
        self._failures.pop(self.keys(username, None)[0], None)

    def _expire(self, now: float) -> None:
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if now - times[-1] < self.window_s:
                break
            del self._failures[key]

    def __len__(self) -> int:
        return len(self._failures)
