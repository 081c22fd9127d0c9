"""Production claims: what the run manager asks before starting an expensive run, so a
segment is made once in a cluster.

A :class:`Claims` (the cluster's leases, ``ferrite.cluster.leases``; none on a single
node) hands out a :class:`Claim` on a name -- the run's :class:`RenditionKey` and its
first segment -- or None while another live node holds it. The holder keeps it while its
run lives and releases it when the run stops; a holder that dies stops renewing, and its
claim expires and is taken over. This layer only knows the protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ferrite.errors import Overloaded, TranscodeError
from ferrite.transcode.run_key import RenditionKey

#: How often a request for a run another node claimed looks again.
POLL_S = 0.1

R = TypeVar("R")


class Claim(Protocol):
    async def release(self) -> None:
        """The run stopped: another node may start one (idempotent)."""
        ...


class Claims(Protocol):
    async def claim(self, name: str) -> Claim | None:
        """The claim on ``name`` (kept alive until released), or None while another
        holder has it. Never raises: without the cluster's store, production goes on
        unclaimed (availability over the rare duplicate)."""
        ...


def claim_name(key: RenditionKey, start: int) -> str:
    """The name a run starting at segment ``start`` of ``key`` is claimed under: what it
    produces (full hashes, not the shortened ``str(key)``). Pure."""
    return f"{key.fingerprint}/{key.plan_key}/{key.rendition}/{key.spec}/{start}"


class ClaimBook(Generic[R]):
    """The run manager's claims: which of its runs (``R``) runs under which claim. A
    restart of a run reuses the claim of the run it replaces (same name); a claim is
    released when the last run under it stops."""

    def __init__(self, claims: Claims, wait_s: float) -> None:
        self._claims = claims
        self.wait_s = wait_s
        self._held: dict[str, Claim] = {}
        self._name_of: dict[R, str] = {}

    async def start(
        self,
        name: str,
        *,
        locate: Callable[[], R | None],
        start: Callable[[], R],
        closed: Callable[[], bool],
        what: str,
    ) -> R:
        """``start()`` under the claim on ``name``; a run ``locate()`` finds meanwhile (a
        request of ours started it) instead. Held elsewhere: look again every
        :data:`POLL_S` for up to ``wait_s`` (the holder stops, or dies and its lease
        expires), then :class:`~ferrite.errors.Overloaded`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while True:
            claim = self._held.get(name)
            fresh = claim is None
            if claim is None:
                claim = await self._claims.claim(name)
            found = locate()
            if found is not None:
                if fresh and claim is not None:
                    await claim.release()
                return found
            if claim is not None:
                try:
                    run = start()
                except BaseException:
                    if fresh:
                        await claim.release()
                    raise
                self._held[name] = claim
                self._name_of[run] = name
                return run
            if closed():
                raise TranscodeError("the transcoder is shutting down")
            if loop.time() >= deadline:
                raise Overloaded(f"another node is transcoding {what}; retry shortly")
            await asyncio.sleep(POLL_S)

    async def release(self, run: R) -> None:
        """``run`` stopped: release its claim unless another run of ours works under it."""
        name = self._name_of.pop(run, None)
        if name is None or name in self._name_of.values():
            return
        claim = self._held.pop(name, None)
        if claim is not None:
            await claim.release()
