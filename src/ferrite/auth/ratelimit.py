"""Login rate limiting per (username, address) and per address, with an injected clock.

An attempt is counted when it *starts* (:meth:`LoginRateLimiter.begin`), before the
handler awaits the database or argon2: attempts in flight count like failures, so a burst
of concurrent logins cannot all pass the check before any of them is recorded. A success
takes its own attempt back and clears the (username, address) key.

Keys and limits:

- ``pair:<name>|<ip>``: ``attempts`` failures in ``window_s`` lock that name out *from
  that address* only. Locking the name out everywhere would let anyone keep the admin
  out with a few wrong passwords; guessing one account from many addresses is slowed by
  the per-user gate in :class:`~ferrite.auth.service.AuthService` instead (one password
  check at a time per name), never blocked.
- ``addr:<ip>``: ``attempts * ADDRESS_FACTOR`` failures lock the address out for every
  name (password spraying), with some slack for a household behind one NAT.

A refused attempt raises :class:`TooManyRequests` with ``Retry-After`` = when the oldest
counted attempt leaves the window. The name is lower-cased whether or not such a user
exists, so unknown and real users are treated alike (no enumeration by 429 behaviour).

Memory is bounded without sweeping on every request: keys sit in an ordered dict by last
attempt; each new attempt first drops keys from the old end whose newest attempt is
outside the window (amortised O(1)), and ``max_keys`` caps the total.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ferrite.errors import TooManyRequests

Clock = Callable[[], float]

#: The per-address limit is this many times the per-(name, address) one.
ADDRESS_FACTOR = 3


@dataclass(slots=True)
class Attempt:
    """One counted login attempt; report its outcome with :meth:`LoginRateLimiter.succeeded`
    (a failure needs no call: the attempt already counts)."""

    keys: tuple[str, ...]
    at: float


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
        name = username.strip().lower()
        if address is None:
            return ("pair:" + name + "|",)
        return ("pair:" + name + "|" + address, "addr:" + address)

    def _limit(self, key: str) -> int:
        return self.attempts * ADDRESS_FACTOR if key.startswith("addr:") else self.attempts

    def check(self, username: str, address: str | None) -> None:
        """Raise :class:`TooManyRequests` if this name/address pair or this address is
        locked out now (counts nothing; see :meth:`begin`)."""
        now = self._clock()
        wait = 0.0
        for key in self.keys(username, address):
            times = self._failures.get(key)
            if times is not None and len(times) >= self._limit(key):
                oldest = times[0]
                if now - oldest < self.window_s:
                    wait = max(wait, oldest + self.window_s - now)
        if wait > 0:
            raise TooManyRequests(
                "Too many failed logins; try again later.", retry_after=math.ceil(wait)
            )

    def begin(self, username: str, address: str | None) -> Attempt:
        """Check, then count this attempt at once (as a failure until it succeeds)."""
        self.check(username, address)
        now = self._clock()
        keys = self.keys(username, address)
        self._count(keys, now)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the attempt no longer counts, and the pair starts over."""
        pair, *rest = attempt.keys
        self._failures.pop(pair, None)
        for key in rest:
            times = self._failures.get(key)
            if times is not None and attempt.at in times:
                times.remove(attempt.at)

    def record_failure(self, username: str, address: str | None) -> None:
        """Count a failure that did not go through :meth:`begin` (e.g. first-run setup)."""
        self._count(self.keys(username, address), self._clock())

    def _count(self, keys: tuple[str, ...], now: float) -> None:
        self._expire(now)
        for key in keys:
            times = self._failures.pop(key, None)
            if times is None:
                times = deque(maxlen=self._limit(key))
            times.append(now)
            self._failures[key] = times  # re-inserted at the new end
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if times and now - times[-1] < self.window_s:
                break
            del self._failures[key]

    def __len__(self) -> int:
        return len(self._failures)
