from __future__ import annotations

import asyncio
import time

import pytest
from argon2 import extract_parameters

from ferrite.auth.passwords import MAX_PASSWORD_LENGTH, Passwords
from ferrite.errors import Unprocessable


def test_default_parameters_are_argon2id_owasp() -> None:
    passwords = Passwords()
    try:
        hashed = passwords.hash_sync("correct horse")
        params = extract_parameters(hashed)
        assert hashed.startswith("$argon2id$")
        assert params.memory_cost == 19 * 1024
        assert params.time_cost == 2
        assert passwords.verify_sync(hashed, "correct horse")
        assert not passwords.verify_sync(hashed, "correct horsE")
    finally:
        passwords.close()


def test_verify_never_raises(cheap_passwords: Passwords) -> None:
    assert not cheap_passwords.verify_sync("not a hash", "x")
    assert not cheap_passwords.verify_sync(None, "x")  # unknown user: dummy hash, False
    long = "a" * (MAX_PASSWORD_LENGTH + 100)
    hashed = cheap_passwords.hash_sync("a" * MAX_PASSWORD_LENGTH)
    assert not cheap_passwords.verify_sync(hashed, long)


def test_bad_passwords_are_refused(cheap_passwords: Passwords) -> None:
    with pytest.raises(Unprocessable):
        cheap_passwords.hash_sync("")
    with pytest.raises(Unprocessable):
        cheap_passwords.hash_sync("x" * (MAX_PASSWORD_LENGTH + 1))


def test_rehash_when_parameters_change(cheap_passwords: Passwords) -> None:
    old = cheap_passwords.hash_sync("pw")
    stronger = Passwords(time_cost=2, memory_cost_kib=2048)
    try:
        assert stronger.needs_rehash(old)
        assert stronger.verify_sync(old, "pw")  # old hashes keep verifying
    finally:
        stronger.close()


def test_async_forms_run_off_the_loop() -> None:
    # Costly enough (tens of ms each) that the loop visibly runs while they are checked;
    # the cheap test parameters finish before a loaded machine schedules the ticker.
    passwords = Passwords(time_cost=2, memory_cost_kib=16 * 1024)

    async def main() -> tuple[bool, float]:
        hashed = await passwords.hash("secret")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        ok = all(await asyncio.gather(*(passwords.verify(hashed, "secret") for _ in range(8))))
        task.cancel()
        return ok, ticks

    try:
        ok, ticks = asyncio.run(main())
    finally:
        passwords.close()
    assert ok
    assert ticks > 8  # the loop kept running while hashes were verified


def test_unknown_user_costs_about_the_same_as_a_wrong_password() -> None:
    passwords = Passwords()
    try:
        hashed = passwords.hash_sync("right")

        def timed(h: str | None) -> float:
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                passwords.verify_sync(h, "wrong")
                best = min(best, time.perf_counter() - start)
            return best

        wrong, unknown = timed(hashed), timed(None)
        # Both do one full argon2id verification of the same parameters.
        assert 0.5 < unknown / wrong < 2.0
    finally:
        passwords.close()
