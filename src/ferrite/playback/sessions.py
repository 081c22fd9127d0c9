"""Playback sessions: who is watching what, with which choices, and where they are.

A session is created per play action. It holds identity (user, item, file), the device's
decision and the renditions it may fetch, the playhead and the player's telemetry. It
*uses* segments and never owns them (segments are keyed by file fingerprint and
rendition), so one viewer's seek or stop changes nothing for another.

Sessions live in memory: the hot path (playlists, segments) finds one by id in a dict
after an HMAC check on its stream token — no database. Idle sessions are reaped by one
periodic task (never as a side effect of a request). The clock is injected.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ferrite.auth.tokens import Principal, StreamClaims

Clock = Callable[[], float]

#: Entries kept per session of each telemetry list (seek times, player errors).
TELEMETRY_KEEP = 100


@dataclass
class Telemetry:
    """What the player reported (and the server measured) for one session."""

    ttff_ms: float | None = None
    stalls: int = 0
    stall_ms: float = 0.0
    seeks: int = 0
    # The latest few only: a player (or anyone with the URL) may post events for hours.
    seek_ms: deque[float] = field(default_factory=lambda: deque(maxlen=TELEMETRY_KEEP))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=TELEMETRY_KEEP))
    bytes_sent: int = 0
    segments_sent: int = 0


@dataclass
class Session:
    id: str
    user_id: int
    item_id: int
    file_id: int
    method: str  # direct | remux | transcode
    reasons: tuple[str, ...]
    created_at: float
    expires_at: float
    last_seen: float
    position_s: float = 0.0
    duration_s: float = 0.0
    last_progress_write: float = float("-inf")
    progress_dirty: bool = False
    #: Rendition ids this session may fetch, mapped to what they are (set by the creator).
    renditions: dict[str, Any] = field(default_factory=dict)
    #: Anything the streaming layer wants to keep per session (the media context, ...).
    context: Any = None
    telemetry: Telemetry = field(default_factory=Telemetry)
    #: kind ("v", "a") -> playlist positions (start, end) of the segment fetched last.
    #: Positions, not indexes: a kind's renditions may be cut on different plans.
    last_span: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: kind ("v", "a") -> the rendition id the session fetched last (ABR switch detection)
    last_rendition: dict[str, str] = field(default_factory=dict)
    #: The library the item is in, and the user's token version when the session began
    #: (None: not recorded by its creator): every request under the session checks them
    #: against the auth table (see allowed).
    library_id: int | None = None
    user_version: int | None = None

    # Every edit of a session's state is one of these methods (called by the playback
    # service, never by a router): what each field means stays in one file.
    def touch(self, now: float) -> None:
        self.last_seen = now

    def switch_rendition(self, kind: str, rid: str) -> str | None:
        """The session fetches from rendition ``kind/rid``: the rendition of that kind it
        fetched from before, if this is a switch (ABR), else None."""
        old = self.last_rendition.get(kind)
        if old == rid:
            return None
        self.last_rendition[kind] = rid
        return old

    def fetched(self, kind: str, start: float, end: float) -> None:
        """The session fetches the segment of ``kind`` at playlist positions start-end."""
        self.last_span[kind] = (start, end)

    def next_position(self, kind: str) -> float:
        """Where the session's next segment of ``kind`` starts: after its last fetch of
        that kind, or its position before its first."""
        last = self.last_span.get(kind)
        return self.position_s if last is None else last[1]

    def sent(self, nbytes: int, now: float) -> bool:
        """A segment of ``nbytes`` went out; True when it was the session's first."""
        self.last_seen = now
        t = self.telemetry
        t.segments_sent += 1
        t.bytes_sent += nbytes
        return t.segments_sent == 1

    def moved_to(self, position_s: float) -> None:
        """The player reported its position (written to progress later, throttled)."""
        self.position_s = position_s
        self.progress_dirty = True

    def progress_saved(self, now: float) -> None:
        self.last_progress_write = now
        self.progress_dirty = False


def allowed(session: Session, principal: Principal | None) -> bool:
    """Whether the session's user may still use it: exists, enabled, not logged out since
    (same token version), and still granted the item's library. Pure; no database."""
    if principal is None or principal.disabled:
        return False
    if session.user_version is not None and principal.version != session.user_version:
        return False  # logged out (or password changed) since the session began
    libraries = principal.libraries
    return libraries is None or session.library_id in libraries


def claims_allowed(claims: StreamClaims, principal: Principal | None) -> bool:
    """:func:`allowed` judged from a stream token's own claims (no session: the front's
    token check). A token without a version and library only checks the user is enabled."""
    if principal is None or principal.disabled:
        return False
    if claims.user_version is not None and principal.version != claims.user_version:
        return False
    libraries = principal.libraries
    return libraries is None or claims.library_id is None or claims.library_id in libraries


class SessionRegistry:
    def __init__(self, *, idle_s: float, clock: Clock) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def create(
        self,
        *,
        user_id: int,
        item_id: int,
        file_id: int,
        method: str,
        reasons: tuple[str, ...],
        ttl_s: float,
        duration_s: float,
        start_s: float = 0.0,
        library_id: int | None = None,
        user_version: int | None = None,
        same_as: tuple[str, float, float] | None = None,
    ) -> Session:
        """A new session; ``same_as`` = (id, created_at, expires_at) of a session another
        node created, rebuilt here (a cluster)."""
        now = self._clock()
        sid, created, expires = same_as or (secrets.token_urlsafe(12), now, now + ttl_s)
        session = Session(
            id=sid,
            user_id=user_id,
            item_id=item_id,
            file_id=file_id,
            method=method,
            reasons=reasons,
            created_at=created,
            expires_at=expires,
            last_seen=now,
            position_s=start_s,
            duration_s=duration_s,
            library_id=library_id,
            user_version=user_version,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def remove(self, session_id: str) -> Session | None:
        return self._sessions.pop(session_id, None)

    def idle(self) -> list[Session]:
        """Sessions without a heartbeat or request for ``idle_s`` (or past expiry)."""
        now = self._clock()
        return [
            s
            for s in self._sessions.values()
            if now - s.last_seen > self.idle_s or now > s.expires_at
        ]

    def of_user(self, user_id: int) -> list[Session]:
        return [s for s in self._sessions.values() if s.user_id == user_id]

    def active_files(self) -> set[int]:
        return {s.file_id for s in self._sessions.values()}

    def due_progress(self, session: Session, interval_s: float) -> bool:
        """Whether the session's position should be written now (throttled)."""
        return self._clock() - session.last_progress_write >= interval_s
