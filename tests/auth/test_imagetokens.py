"""Image tokens (``?token=`` on artwork URLs): issued per day, verified with one HMAC and
the in-memory token-version table, revoked with the user's tokens. Pure."""

from __future__ import annotations

import pytest

from ferrite.auth.imagetokens import ImageTokens
from ferrite.auth.tokens import AuthTable, Principal
from ferrite.errors import TokenExpired, TokenInvalid
from tests.fakes import FakeClock


def principal(version: int = 0, disabled: bool = False) -> Principal:
    return Principal(7, "ann", False, disabled, version, frozenset({1}))


def test_image_token_round_trip_and_expiry() -> None:
    clock = FakeClock(1_700_000_000.0)
    table = AuthTable([principal()])
    tokens = ImageTokens(b"s" * 32, table, clock=clock)
    token, expires_at = tokens.issue(principal())
    assert 86_400 <= expires_at - clock.now <= 2 * 86_400
    assert tokens.verify(token) == principal()
    clock.now += 3600
    assert tokens.issue(principal())[0] == token  # stable within the day
    clock.now = expires_at
    with pytest.raises(TokenExpired):
        tokens.verify(token)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # forged mac
        lambda t: "8" + t[1:],  # another user
        lambda t: t.replace(".0.", ".1.", 1),  # another token version
        lambda t: "x.y.z",
        lambda t: "",
    ],
)
def test_image_tokens_cannot_be_forged(change) -> None:  # type: ignore[no-untyped-def]
    tokens = ImageTokens(b"s" * 32, AuthTable([principal()]), clock=FakeClock(1_700_000_000.0))
    token, _ = tokens.issue(principal())
    with pytest.raises(TokenInvalid):
        tokens.verify(change(token))


def test_image_tokens_die_with_the_user_version() -> None:
    table = AuthTable([principal()])
    tokens = ImageTokens(b"s" * 32, table, clock=FakeClock(1_700_000_000.0))
    token, _ = tokens.issue(principal())
    table.update(7, disabled=True)
    with pytest.raises(TokenInvalid):
        tokens.verify(token)
    table.update(7, disabled=False, version=1)
    with pytest.raises(TokenInvalid):
        tokens.verify(token)
    table.remove(7)
    with pytest.raises(TokenInvalid):
        tokens.verify(token)
    other_key = ImageTokens(b"t" * 32, AuthTable([principal()]), clock=FakeClock(1_700_000_000.0))
    with pytest.raises(TokenInvalid):
        other_key.verify(tokens.issue(principal())[0])
