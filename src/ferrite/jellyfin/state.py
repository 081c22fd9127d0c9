"""What the Jellyfin layer keeps for itself: the server's identity and, per play session,
the client that asked for it. Nothing here is a second source of truth: users, grants,
progress and sessions stay Ferrite's; this only remembers which device opened which
``PlaySessionId`` (for token-less stream URLs, docs/jellyfin.md). The state is the
layer's own: :class:`~ferrite.jellyfin.dispatch.JellyfinApi` makes it with the server's
services and hands it to every handler as ``ctx.state``."""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass, field

from ferrite.auth.tokens import Principal, load_or_create_secret
from ferrite.config import Settings
from ferrite.errors import BadRequest, NotFound, Unauthorized
from ferrite.jellyfin.wire import USER, parse_id
from ferrite.playback.service import PlaybackService
from ferrite.services import Services

_MAX_PLAYS = 10_000


@dataclass(frozen=True, slots=True)
class Play:
    """A ``PlaySessionId`` handed out by PlaybackInfo: who asked, from which device."""

    user_id: int
    item_id: int
    device_id: str


@dataclass
class JellyfinState:
    server_id: str  # 32 hex, stable for the install (derived from its secret)
    server_name: str
    image_key: bytes
    plays: OrderedDict[str, Play] = field(default_factory=OrderedDict)

    def remember(self, session_id: str, play: Play) -> None:
        self.plays[session_id] = play
        while len(self.plays) > _MAX_PLAYS:
            self.plays.popitem(last=False)

    def forget(self, session_id: str) -> None:
        self.plays.pop(session_id, None)

    @classmethod
    def for_install(cls, settings: Settings) -> JellyfinState:
        """The layer's state for the install in ``settings.data_dir`` (reads its secret)."""
        secret = load_or_create_secret(settings.data_dir)
        server_id = hmac.new(secret, b"ferrite/jellyfin/server-id", hashlib.sha256).hexdigest()
        return cls(
            server_id=server_id[:32],
            server_name=settings.jellyfin_server_name,
            image_key=hmac.new(secret, b"ferrite/jellyfin/images", hashlib.sha256).digest(),
        )


def playback(svc: Services) -> PlaybackService:
    if svc.playback is None:
        raise NotFound("Playback is not available on this server.")
    return svc.playback


def acting_user(svc: Services, caller: Principal, user_guid: str | None) -> Principal:
    """The user a request acts for: the caller, or (admins only) the user it names."""
    if not user_guid:
        return caller
    user_id = parse_id(user_guid, USER)
    if user_id is None:
        raise NotFound("User not found.")
    if user_id == caller.id:
        return caller
    if not caller.is_admin:
        # The rule (and what makes a confused client log in again): 401.
        raise Unauthorized("This token is another user's; a user can only act for themselves.")
    other = svc.auth.table.get(user_id)
    if other is None:
        raise NotFound("User not found.")
    return other


def require(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} is required.")
    return value.strip()
