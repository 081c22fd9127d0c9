"""This node's side of the shared session registry, with an in-memory registry: entries
are refreshed at most every few seconds per session, concurrent requests for a session
another node made rebuild it once, and only a stop everywhere ends the entry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from ferrite.errors import NotFound
from ferrite.playback.copies import SharedCopies
from ferrite.playback.sessions import Session
from ferrite.playback.shared import SessionDescriptor


@dataclass
class Registry:
    entries: dict[str, SessionDescriptor] = field(default_factory=dict)
    refreshed: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return True

    async def put(self, descriptor: SessionDescriptor, ttl_s: float) -> None:
        self.entries[descriptor.id] = descriptor

    async def get(self, session_id: str) -> SessionDescriptor | None:
        await asyncio.sleep(0.01)  # a round trip: concurrent callers overlap
        return self.entries.get(session_id)

    async def refresh(self, session_id: str, ttl_s: float) -> None:
        self.refreshed.append(session_id)

    async def end(self, session_id: str) -> None:
        self.ended.append(session_id)
        self.entries.pop(session_id, None)

    def start(self, drop: Callable[[str], Awaitable[None]]) -> None:
        return None

    async def aclose(self) -> None:
        return None


def descriptor(sid: str, expires_at: float = 1000.0) -> SessionDescriptor:
    return SessionDescriptor(
        id=sid, user_id=1, item_id=2, file_id=3, library_id=1, user_version=1,
        created_at=0.0, expires_at=expires_at, device="chrome", start_s=0.0,
    )  # fmt: skip


def session(sid: str) -> Session:
    return Session(
        id=sid, user_id=1, item_id=2, file_id=3, method="remux", reasons=(),
        created_at=0.0, expires_at=1000.0, last_seen=0.0,
    )  # fmt: skip


def make(registry: Registry, now: list[float], rebuilt: list[str]) -> SharedCopies:
    async def rebuild(d: SessionDescriptor) -> Session:
        rebuilt.append(d.id)
        return session(d.id)

    return SharedCopies(registry, idle_s=60.0, clock=lambda: now[0], rebuild=rebuild)


def test_refreshes_are_throttled_per_session() -> None:
    async def run() -> None:
        registry, now = Registry(), [100.0]
        copies = make(registry, now, [])
        assert copies.refresh_every_s == 5.0
        s = session("a")
        for t in (100.0, 101.0, 104.9, 105.0, 106.0, 110.0):
            now[0] = t
            copies.refresh(s)
            await asyncio.sleep(0)
        assert registry.refreshed == ["a", "a", "a"]  # at 100, 105 and 110

    asyncio.run(run())


def test_a_session_made_elsewhere_is_rebuilt_once_for_concurrent_requests() -> None:
    async def run() -> None:
        registry, rebuilt = Registry(), []
        registry.entries["a"] = descriptor("a")
        copies = make(registry, [100.0], rebuilt)
        got = await asyncio.gather(*[copies.adopt("a") for _ in range(5)])
        assert rebuilt == ["a"]
        assert all(s is got[0] for s in got)

    asyncio.run(run())


@pytest.mark.parametrize("entries", [{}, {"a": descriptor("a", expires_at=50.0)}])
def test_a_missing_or_expired_session_is_not_found(entries: dict[str, SessionDescriptor]) -> None:
    async def run() -> None:
        registry, rebuilt = Registry(entries=dict(entries)), []
        copies = make(registry, [100.0], rebuilt)
        with pytest.raises(NotFound):
            await copies.adopt("a")
        assert rebuilt == []

    asyncio.run(run())


def test_only_a_stop_everywhere_ends_the_entry() -> None:
    async def run() -> None:
        registry = Registry()
        copies = make(registry, [100.0], [])
        await copies.put(descriptor("a"))
        await copies.ended(session("a"), everywhere=False)  # idle here, or shutdown
        assert registry.ended == []
        assert "a" in registry.entries
        await copies.ended(session("a"), everywhere=True)
        assert registry.ended == ["a"]

    asyncio.run(run())
