"""The piece board: waiting for pieces, failing waiters, deduplicated piece reads."""

from __future__ import annotations

import threading
import time

import pytest

from ferrite.errors import Conflict, FerriteError, NotFound, Timeout, TorrentError
from ferrite.torrent.board import PieceBoard


def never() -> FerriteError | None:
    return None


class Fetches:
    def __init__(self) -> None:
        self.pieces: list[int] = []
        self.event = threading.Event()

    def __call__(self, piece: int) -> None:
        self.pieces.append(piece)
        self.event.set()


def run(fn: object) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def target() -> None:
        try:
            out.append(fn())  # type: ignore[operator]
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def test_a_waiter_wakes_when_its_piece_is_marked() -> None:
    board = PieceBoard(10, fetch=Fetches(), cache_bytes=100)
    thread, out = run(lambda: board.wait(3, 10, never))
    deadline = time.monotonic() + 5
    while not board.waiting() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert board.waiting() == {3: 1}
    board.mark(2)
    assert thread.is_alive()  # another piece does not release it
    board.mark(3)
    thread.join(5)
    assert out == [True]
    assert board.waiting() == {}
    assert 3 in board
    assert board.count == 2


def test_a_wait_times_out() -> None:
    board = PieceBoard(10, fetch=Fetches(), cache_bytes=100)
    start = time.monotonic()
    assert board.wait(1, 0.05, never) is False
    assert time.monotonic() - start >= 0.05


def test_failing_the_board_wakes_every_waiter_with_its_error() -> None:
    board = PieceBoard(10, fetch=Fetches(), cache_bytes=100)
    waiters = [run(lambda: board.wait(5, 30, never)) for _ in range(3)]
    while sum(board.waiting().values()) < 3:
        time.sleep(0.001)
    board.fail(lambda: NotFound("torrent 'x' was removed"))
    for thread, out in waiters:
        thread.join(5)
        assert isinstance(out[0], NotFound)
    with pytest.raises(NotFound):
        board.wait(6, 30, never)


def test_a_cancelled_waiter_gives_up_when_woken() -> None:
    board = PieceBoard(10, fetch=Fetches(), cache_bytes=100)
    closed = threading.Event()

    def cancelled() -> FerriteError | None:
        return Conflict("closed") if closed.is_set() else None

    thread, out = run(lambda: board.wait(5, 30, cancelled))
    while not board.waiting():
        time.sleep(0.001)
    closed.set()
    board.wake()
    thread.join(5)
    assert isinstance(out[0], Conflict)


def test_piece_data_is_read_once_for_all_readers_and_cached() -> None:
    fetch = Fetches()
    board = PieceBoard(10, fetch=fetch, cache_bytes=100)
    board.mark(4)
    readers = [run(lambda: board.piece_data(4, 10, never)) for _ in range(4)]
    assert fetch.event.wait(5)
    time.sleep(0.05)  # let every reader reach the wait
    board.deliver(4, b"piece-four", None)
    for thread, out in readers:
        thread.join(5)
        assert out == [b"piece-four"]
    assert fetch.pieces == [4]
    assert board.piece_data(4, 1, never) == b"piece-four"  # from the cache
    assert board.fetches == 1


def test_piece_data_refuses_unverified_pieces() -> None:
    fetch = Fetches()
    board = PieceBoard(10, fetch=fetch, cache_bytes=100)
    with pytest.raises(TorrentError, match="not verified"):
        board.piece_data(1, 1, never)
    assert fetch.pieces == []


def test_a_read_error_fails_current_readers_and_a_later_read_retries() -> None:
    fetch = Fetches()
    board = PieceBoard(10, fetch=fetch, cache_bytes=100)
    board.mark(1)
    thread, out = run(lambda: board.piece_data(1, 10, never))
    assert fetch.event.wait(5)
    board.deliver(1, None, "disk on fire")
    thread.join(5)
    assert isinstance(out[0], TorrentError)
    assert "disk on fire" in str(out[0])
    thread, out = run(lambda: board.piece_data(1, 10, never))
    while len(fetch.pieces) < 2:
        time.sleep(0.001)
    board.deliver(1, b"ok", None)
    thread.join(5)
    assert out == [b"ok"]


def test_piece_data_times_out_without_an_answer() -> None:
    board = PieceBoard(10, fetch=Fetches(), cache_bytes=100)
    board.mark(0)
    with pytest.raises(Timeout, match="piece 0"):
        board.piece_data(0, 0.05, never)


def test_cache_stays_within_its_byte_budget() -> None:
    board = PieceBoard(10, fetch=Fetches(), cache_bytes=25)
    for piece in range(5):
        board.mark(piece)
        board.deliver(piece, bytes(10), None)
    fetch = Fetches()
    board._fetch = fetch  # what is still cached is served without a fetch
    for piece in (3, 4):
        assert board.piece_data(piece, 1, never) == bytes(10)
    assert fetch.pieces == []


def test_update_reports_only_new_pieces() -> None:
    board = PieceBoard(4, fetch=Fetches(), cache_bytes=100)
    board.mark(1)
    assert board.update([True, True, False, True]) == [0, 3]
    assert board.count == 3
    assert board.missing(range(4)) == [2]
