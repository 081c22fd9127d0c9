"""The run manager's claims (a cluster's production leases), with an in-memory stand-in
for the cluster: never a second production for a held claim, a bounded wait then 503, a
take-over once the holder lets go, one claim per name on this node, released when the
last run under it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ferrite import config
from ferrite.errors import Overloaded
from ferrite.transcode.claims import ClaimBook, claim_name
from ferrite.transcode.job import TranscodeJob
from ferrite.transcode.run_key import RenditionKey
from ferrite.transcode.runs import RunManager
from tests import media
from tests.transcode.runs_support import Source, check_segment, settings


@dataclass
class Board:
    """Who holds which name (the cluster's view); ``claims`` counts the claims made."""

    holders: dict[str, str] = field(default_factory=dict)
    claims: int = 0


@dataclass
class FakeClaim:
    board: Board
    name: str
    node: str

    async def release(self) -> None:
        if self.board.holders.get(self.name) == self.node:
            del self.board.holders[self.name]


@dataclass
class NodeClaims:
    board: Board
    node: str

    async def claim(self, name: str) -> FakeClaim | None:
        self.board.claims += 1
        if name in self.board.holders:
            return None
        self.board.holders[name] = self.node
        return FakeClaim(self.board, name, self.node)


def test_claim_name_is_the_full_key_and_start() -> None:
    key = RenditionKey("f" * 40, "p" * 16, "720p", "s" * 16)
    assert claim_name(key, 7) == f"{'f' * 40}/{'p' * 16}/720p/{'s' * 16}/7"
    assert claim_name(key, 7) != claim_name(key, 8)


def test_held_elsewhere_waits_then_takes_over_when_the_holder_lets_go() -> None:
    async def run() -> None:
        board = Board(holders={"k": "n1"})
        book: ClaimBook[str] = ClaimBook(NodeClaims(board, "n2"), wait_s=5.0)
        started: list[str] = []

        def start() -> str:
            started.append("run")
            return "run"

        async def holder_stops() -> None:
            await asyncio.sleep(0.25)
            del board.holders["k"]  # released, or expired: the holder died

        stopper = asyncio.create_task(holder_stops())
        run = await book.start(
            "k", locate=lambda: None, start=start, closed=lambda: False, what="720p"
        )
        await stopper
        assert run == "run"
        assert started == ["run"]
        assert board.holders == {"k": "n2"}
        await book.release(run)
        assert board.holders == {}

    asyncio.run(run())


def test_held_elsewhere_past_the_wait_is_a_503_without_production() -> None:
    async def run() -> None:
        board = Board(holders={"k": "n1"})
        book: ClaimBook[str] = ClaimBook(NodeClaims(board, "n2"), wait_s=0.3)

        def start() -> str:
            raise AssertionError("a second production of a held claim")

        with pytest.raises(Overloaded):
            await book.start("k", locate=lambda: None, start=start, closed=lambda: False, what="v")
        assert board.claims >= 2  # it looked again before giving up

    asyncio.run(run())


def test_a_restart_reuses_the_claim_and_the_last_run_releases_it() -> None:
    async def run() -> None:
        board = Board()
        book: ClaimBook[str] = ClaimBook(NodeClaims(board, "n1"), wait_s=1.0)
        first = await book.start(
            "k", locate=lambda: None, start=lambda: "first", closed=lambda: False, what="v"
        )
        # The first run died; its replacement starts at the same segment under our claim.
        second = await book.start(
            "k", locate=lambda: None, start=lambda: "second", closed=lambda: False, what="v"
        )
        assert (first, second) == ("first", "second")
        assert board.claims == 1
        await book.release(first)
        assert board.holders == {"k": "n1"}  # the restart still runs under it
        await book.release(second)
        assert board.holders == {}

    asyncio.run(run())


def test_a_run_started_meanwhile_on_this_node_is_joined_and_the_claim_given_back() -> None:
    async def run() -> None:
        board = Board()
        book: ClaimBook[str] = ClaimBook(NodeClaims(board, "n1"), wait_s=1.0)
        joined = await book.start(
            "k", locate=lambda: "theirs", start=lambda: "mine", closed=lambda: False, what="v"
        )
        assert joined == "theirs"
        assert board.holders == {}

    asyncio.run(run())


def test_the_run_manager_never_starts_a_run_another_node_claimed(tmp_path: Path) -> None:
    settings = config.load({"data_dir": tmp_path, "transcode_queue_timeout_s": 0.3}, environ={})
    key = RenditionKey("f" * 40, "p" * 16, "720p", "s" * 16)
    board = Board(holders={claim_name(key, 0): "n1"})

    def job_factory(k: int) -> TranscodeJob:
        raise AssertionError("a job built for a run another node holds")

    async def run() -> None:
        async with RunManager(settings, claims=NodeClaims(board, "n2")) as mgr:
            with pytest.raises(Overloaded):
                await mgr.segment(job_factory, key, 0, session="s")
            assert mgr.runs() == []

    asyncio.run(run())


def test_a_run_holds_its_claim_while_it_lives_and_gives_it_back_when_it_stops(
    clip: Callable[..., Path], tmp_path: Path
) -> None:
    src = Source.of(clip("claims", media.Clip(duration=4.0)))
    key, factory = src.key(), src.factory()
    board = Board()

    async def run() -> None:
        async with RunManager(settings(tmp_path), claims=NodeClaims(board, "n1")) as mgr:
            check_segment(src, 0, await mgr.segment(factory, key, 0, session="a"))
            check_segment(src, 1, await mgr.segment(factory, key, 1, session="a"))
            assert board.holders == {claim_name(key, 0): "n1"}  # one run, one claim
        assert board.holders == {}

    asyncio.run(run())
