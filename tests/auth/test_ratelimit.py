from __future__ import annotations

import pytest

from ferrite.auth.ratelimit import ADDRESS_FACTOR, LoginRateLimiter
from ferrite.errors import TooManyRequests
from tests.fakes import FakeClock


def limiter(clock: FakeClock, attempts: int = 3, window: float = 60) -> LoginRateLimiter:
    return LoginRateLimiter(attempts=attempts, window_s=window, clock=clock)


def test_lockout_is_per_name_and_address_with_retry_after(clock: FakeClock) -> None:
    rl = limiter(clock)
    for _ in range(3):
        rl.begin("alice", "10.0.0.1")
        clock.advance(1)
    with pytest.raises(TooManyRequests) as info:
        rl.begin("Alice", "10.0.0.1")  # case-insensitive
    assert info.value.retry_after == 57  # the first attempt (t=0) leaves the window at t=60
    # The same name from elsewhere is not locked out: nobody can lock the owner out.
    rl.begin("alice", "10.0.0.2")
    rl.begin("bob", "10.0.0.1")  # others from the same address are unaffected
    clock.advance(58)
    rl.begin("alice", "10.0.0.1")


def test_attempts_in_flight_count_before_they_fail(clock: FakeClock) -> None:
    rl = limiter(clock)
    started = [rl.begin("alice", "10.0.0.1") for _ in range(3)]  # none finished yet
    with pytest.raises(TooManyRequests):
        rl.begin("alice", "10.0.0.1")
    rl.succeeded(started[0])  # the right password: the pair starts over
    rl.begin("alice", "10.0.0.1")


def test_per_address_lockout_has_slack(clock: FakeClock) -> None:
    rl = limiter(clock)
    for i in range(3 * ADDRESS_FACTOR):
        rl.begin(f"user{i}", "10.0.0.1")
    with pytest.raises(TooManyRequests):
        rl.begin("d", "10.0.0.1")
    rl.begin("d", "10.0.0.2")


def test_success_takes_its_attempt_back_from_the_address(clock: FakeClock) -> None:
    rl = limiter(clock, attempts=1)
    for _ in range(5 * ADDRESS_FACTOR):
        rl.succeeded(rl.begin("alice", "1.1.1.1"))  # many good logins never lock anyone out
    rl.begin("bob", "1.1.1.1")


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
