from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import jwt
import pytest

from ferrite.auth.tokens import (
    AccessTokens,
    AuthTable,
    Principal,
    StreamTokens,
    derive_key,
    load_or_create_secret,
)
from ferrite.errors import StorageError, TokenExpired, TokenInvalid
from tests.fakes import FakeClock

SECRET = b"s" * 32


def alice(version: int = 0, **kw: object) -> Principal:
    fields: dict[str, object] = {
        "id": 7,
        "username": "alice",
        "is_admin": False,
        "disabled": False,
        "version": version,
        "library_ids": frozenset({1, 2}),
    }
    fields.update(kw)
    return Principal(**fields)  # type: ignore[arg-type]


def tokens(clock: FakeClock, *principals: Principal, ttl: int = 3600) -> AccessTokens:
    return AccessTokens(SECRET, AuthTable(principals or [alice()]), ttl_s=ttl, clock=clock)


# -- secret --------------------------------------------------------------------------------
def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_or_create_secret(tmp_path) == first


def test_secret_permissions_are_repaired(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    path = tmp_path / "secret.key"
    path.chmod(0o644)
    assert load_or_create_secret(tmp_path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_corrupt_secret_is_an_error_not_a_silent_new_key(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("short")
    (tmp_path / "secret.key").chmod(0o600)
    with pytest.raises(StorageError):
        load_or_create_secret(tmp_path)


# -- access tokens --------------------------------------------------------------------------
def test_issue_and_verify(clock: FakeClock) -> None:
    t = tokens(clock)
    issued = t.issue(alice())
    assert issued.expires_in == 3600
    claims = jwt.decode(
        issued.token, derive_key(SECRET, "jwt"), algorithms=["HS256"], options={"verify_exp": False}
    )
    assert set(claims) == {"sub", "ver", "adm", "exp", "iat", "jti"}
    assert claims["sub"] == "7"
    assert t.verify(issued.token) == alice()
    assert t.verify_header(f"Bearer {issued.token}") == alice()
    assert t.verify_header(f"bearer  {issued.token}") == alice()


def test_jti_differs_per_token(clock: FakeClock) -> None:
    t = tokens(clock)
    a, b = t.issue(alice()).token, t.issue(alice()).token
    assert a != b


def test_expired(clock: FakeClock) -> None:
    t = tokens(clock)
    token = t.issue(alice()).token
    assert t.verify(token)  # cached now
    clock.advance(3600)
    with pytest.raises(TokenExpired):
        t.verify(token)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer a.b.c",
        "Bearer .....",
    ],
)
def test_malformed_header(clock: FakeClock, header: str | None) -> None:
    with pytest.raises(TokenInvalid):
        tokens(clock).verify_header(header)


def test_forged_signature(clock: FakeClock) -> None:
    t = tokens(clock)
    forged = jwt.encode(
        {"sub": "7", "ver": 0, "adm": True, "iat": 0, "exp": 2**40, "jti": "x"},
        b"another secret" * 3,
        algorithm="HS256",
    )
    with pytest.raises(TokenInvalid):
        t.verify(forged)


def test_tampered_payload(clock: FakeClock) -> None:
    t = tokens(clock)
    head, payload, sig = t.issue(alice()).token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "1"
    evil = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        t.verify(f"{head}.{evil}.{sig}")


def test_alg_none_is_refused(clock: FakeClock) -> None:
    t = tokens(clock)
    unsigned = jwt.encode(
        {"sub": "7", "ver": 0, "iat": 0, "exp": 2**40, "jti": "x"}, None, algorithm="none"
    )
    with pytest.raises(TokenInvalid):
        t.verify(unsigned)


def test_missing_claims_are_refused(clock: FakeClock) -> None:
    t = tokens(clock)
    key = derive_key(SECRET, "jwt")
    no_ver = jwt.encode({"sub": "7", "iat": 0, "exp": 2**40, "jti": "x"}, key, algorithm="HS256")
    bad_sub = jwt.encode(
        {"sub": "seven", "ver": 0, "iat": 0, "exp": 2**40, "jti": "x"}, key, algorithm="HS256"
    )
    for token in (no_ver, bad_sub):
        with pytest.raises(TokenInvalid):
            t.verify(token)


def test_revoked_by_version_bump(clock: FakeClock) -> None:
    t = tokens(clock)
    token = t.issue(alice()).token
    t.verify(token)
    t.table.update(7, version=1)
    with pytest.raises(TokenInvalid):
        t.verify(token)
    assert t.verify(t.issue(t.table.get(7)).token).version == 1  # type: ignore[arg-type]


def test_disabled_and_deleted_users(clock: FakeClock) -> None:
    t = tokens(clock)
    token = t.issue(alice()).token
    t.table.update(7, disabled=True)
    with pytest.raises(TokenInvalid):
        t.verify(token)
    t.table.update(7, disabled=False)
    assert t.verify(token)
    t.table.remove(7)
    with pytest.raises(TokenInvalid):
        t.verify(token)


def test_grants_come_from_the_table_not_the_token(clock: FakeClock) -> None:
    t = tokens(clock)
    token = t.issue(alice()).token
    t.table.update(7, library_ids=frozenset({3}))
    assert t.verify(token).library_ids == frozenset({3})
    t.table.drop_library(3)
    assert t.verify(token).library_ids == frozenset()


def test_admin_sees_all_libraries() -> None:
    assert alice(is_admin=True).libraries is None
    assert alice().libraries == frozenset({1, 2})


def test_cache_is_bounded(clock: FakeClock) -> None:
    t = AccessTokens(SECRET, AuthTable([alice()]), ttl_s=60, clock=clock, cache_size=4)
    issued = [t.issue(alice()).token for _ in range(10)]
    for token in issued:
        t.verify(token)
    assert len(t._cache) == 4
    assert t.verify(issued[0])  # evicted tokens still verify (decoded again)


# -- stream tokens --------------------------------------------------------------------------
def test_stream_token_roundtrip(clock: FakeClock) -> None:
    s = StreamTokens(SECRET, clock=clock)
    token = s.sign_stream_token("sess-1", 42, 7, clock.now + 60)
    assert all(c.isalnum() or c in "-_." for c in token)
    claims = s.verify_stream_token(token, "sess-1")
    assert (claims.session_id, claims.item_id, claims.user_id) == ("sess-1", 42, 7)
    assert claims.expires_at == int(clock.now + 60)


def test_stream_token_carries_the_grant_it_was_made_under(clock: FakeClock) -> None:
    s = StreamTokens(SECRET, clock=clock)
    token = s.sign_stream_token("sess-1", 42, 7, clock.now + 60, user_version=3, library_id=5)
    claims = s.verify_stream_token(token, "sess-1")
    assert (claims.user_version, claims.library_id) == (3, 5)
    assert (
        s.verify_stream_token(s.sign_stream_token("s", 1, 1, clock.now + 9), "s").user_version
        is None
    )
    # a version edited into the token (logged out since) fails the MAC
    parts = token.split(".")
    parts[3] = "4"
    with pytest.raises(TokenInvalid):
        s.verify_stream_token(".".join(parts), "sess-1")
    with pytest.raises(TokenInvalid):
        s.verify_stream_token(".".join(parts[:4] + parts[5:]), "sess-1")


def test_stream_token_is_bound_to_the_session(clock: FakeClock) -> None:
    s = StreamTokens(SECRET, clock=clock)
    token = s.sign_stream_token("sess-1", 42, 7, clock.now + 60)
    for other in ("sess-2", "sess-1 ", "", "1:sess-1"):
        with pytest.raises(TokenInvalid):
            s.verify_stream_token(token, other)


def test_stream_token_expires(clock: FakeClock) -> None:
    s = StreamTokens(SECRET, clock=clock)
    token = s.sign_stream_token("sess", 1, 1, clock.now + 10)
    clock.advance(10)
    with pytest.raises(TokenExpired):
        s.verify_stream_token(token, "sess")


def test_stream_token_tampering(clock: FakeClock) -> None:
    s = StreamTokens(SECRET, clock=clock)
    token = s.sign_stream_token("sess", 1, 1, clock.now + 10)
    item, user, exp, mac = token.split(".")
    candidates = [
        f"2.{user}.{exp}.{mac}",  # other item
        f"{item}.{user}.{int(exp) + 1000}.{mac}",  # longer life
        f"{item}.{user}.{exp}.{mac[:-1]}A"
        if mac[-1] != "A"
        else f"{item}.{user}.{exp}.{mac[:-1]}B",
        f"{item}.{user}.{exp}",
        f"{item}.{user}.{exp}.{mac}.x",
        "",
        "a.b.c.d",
        f"-1.{user}.{exp}.{mac}",
        f"{item}.{user}.{exp}.{mac}é",
        f"{'9' * 40}.{user}.{exp}.{mac}",
    ]
    for bad in candidates:
        with pytest.raises(TokenInvalid):
            s.verify_stream_token(bad, "sess")


def test_stream_tokens_need_the_install_secret(clock: FakeClock) -> None:
    token = StreamTokens(SECRET, clock=clock).sign_stream_token("s", 1, 1, clock.now + 10)
    with pytest.raises(TokenInvalid):
        StreamTokens(b"o" * 32, clock=clock).verify_stream_token(token, "s")
