from __future__ import annotations

import pytest

from ferrite.auth.ratelimit import LoginRateLimiter
from ferrite.errors import TooManyRequests
from tests.auth.conftest import FakeClock


def limiter(clock: FakeClock, attempts: int = 3, window: float = 60) -> LoginRateLimiter:
    return LoginRateLimiter(attempts=attempts, window_s=window, clock=clock)


def test_per_user_lockout_and_retry_after(clock: FakeClock) -> None:
    rl = limiter(clock)
    for i in range(3):
        rl.check("alice", f"10.0.0.{i}")
        rl.record_failure("alice", f"10.0.0.{i}")
        clock.advance(1)
    with pytest.raises(TooManyRequests) as info:
        rl.check("Alice", "10.0.0.99")  # case-insensitive, any address
    assert info.value.retry_after == 57  # the first failure (t=0) leaves the window at t=60
    rl.check("bob", "10.0.0.99")  # others are unaffected
    clock.advance(58)
    rl.check("alice", "10.0.0.99")


def test_per_address_lockout(clock: FakeClock) -> None:
    rl = limiter(clock)
    for name in ("a", "b", "c"):
        rl.record_failure(name, "10.0.0.1")
    with pytest.raises(TooManyRequests):
        rl.check("d", "10.0.0.1")
    rl.check("d", "10.0.0.2")


def test_success_clears_user_but_not_address(clock: FakeClock) -> None:
    rl = limiter(clock)
    rl.record_failure("alice", "1.1.1.1")
    rl.record_failure("alice", "1.1.1.1")
    rl.record_success("alice", "1.1.1.1")
    rl.record_failure("alice", "2.2.2.2")
    rl.check("alice", "3.3.3.3")  # user key restarted at one failure
    rl.record_failure("bob", "1.1.1.1")
    with pytest.raises(TooManyRequests):
        rl.check("carol", "1.1.1.1")


def test_sliding_window(clock: FakeClock) -> None:
    rl = limiter(clock, attempts=2, window=10)
    rl.record_failure("u", None)
    clock.advance(6)
    rl.record_failure("u", None)
    with pytest.raises(TooManyRequests):
        rl.check("u", None)
    clock.advance(4)  # the first failure left the window
    rl.check("u", None)


def test_memory_is_bounded(clock: FakeClock) -> None:
    rl = LoginRateLimiter(attempts=3, window_s=10, clock=clock, max_keys=100)
    for i in range(1000):
        rl.record_failure(f"user{i}", f"10.0.{i // 256}.{i % 256}")
    assert len(rl) <= 100
    clock.advance(11)
    rl.record_failure("late", None)
    assert len(rl) == 1  # everything outside the window was dropped
