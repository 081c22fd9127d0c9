"""The per-torrent scheduler against a recording fake handle."""

from __future__ import annotations

from ferrite.torrent.pieces import Deadline
from ferrite.torrent.scheduler import (
    BACKGROUND_PRIORITY,
    DEFAULT_PRIORITY,
    PRELOAD_PRIORITY,
    PieceScheduler,
)
from tests.fakes import FakeClock


class FakeHandle:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int | None]] = []
        self.deadlines: dict[int, int] = {}
        self.priorities: dict[int, int] = {}

    def set_piece_deadline(self, piece: int, ms: int) -> None:
        self.calls.append(("deadline", piece, ms))
        self.deadlines[piece] = ms
        self.priorities[piece] = 7  # what libtorrent does

    def reset_piece_deadline(self, piece: int) -> None:
        self.calls.append(("reset", piece, None))
        self.deadlines.pop(piece, None)
        self.priorities[piece] = 1  # what libtorrent does (src/torrent.cpp)

    def piece_priority(self, piece: int, priority: int) -> None:
        self.calls.append(("priority", piece, priority))
        self.priorities[piece] = priority


def make(horizon_s: float = 60.0) -> tuple[PieceScheduler, FakeHandle, FakeClock]:
    """A scheduler whose deadlines up to ``horizon_s`` ahead are sent as deadlines
    (most tests here are about those; the horizon has its own test)."""
    handle, clock = FakeHandle(), FakeClock(1000.0)
    return PieceScheduler(handle, clock=clock, horizon_s=horizon_s), handle, clock


def test_two_readers_of_one_piece_cause_one_request_with_the_earlier_deadline() -> None:
    sched, handle, _ = make()
    sched.want("a", [Deadline(5, 2000), Deadline(6, 3000)])
    sched.want("b", [Deadline(5, 0), Deadline(6, 4000)])
    assert handle.deadlines == {5: 0, 6: 3000}
    assert [c for c in handle.calls if c[1] == 6] == [("deadline", 6, 3000)]  # not re-sent
    assert sched.windows() == {"a": (5, 6), "b": (5, 6)}


def test_releasing_one_reader_keeps_the_other_readers_pieces() -> None:
    sched, handle, _ = make()
    sched.want("a", [Deadline(1, 0), Deadline(2, 500)])
    sched.want("b", [Deadline(2, 0), Deadline(3, 500)])
    sched.release("a")
    assert set(handle.deadlines) == {2, 3}
    assert handle.priorities[1] == DEFAULT_PRIORITY  # back in line, not left at 1
    sched.release("b")
    assert handle.deadlines == {}
    assert all(p == DEFAULT_PRIORITY for p in handle.priorities.values())


def test_a_reader_moving_on_withdraws_pieces_it_no_longer_wants() -> None:
    sched, handle, clock = make()
    sched.want("a", [Deadline(p, p * 100) for p in range(10)])
    clock.now += 5
    sched.want("a", [Deadline(p, (p - 50) * 100) for p in range(50, 60)])  # seeked
    assert set(handle.deadlines) == set(range(50, 60))
    assert all(handle.priorities[p] == DEFAULT_PRIORITY for p in range(10))


def test_deadlines_only_move_earlier() -> None:
    sched, handle, clock = make()
    sched.want("a", [Deadline(7, 5000)])
    clock.now += 1  # the piece is now due in 4 s
    sched.want("a", [Deadline(7, 4000)])  # same due time: nothing sent
    sched.want("a", [Deadline(7, 9000)])  # later: the earlier deadline stands
    assert [c for c in handle.calls if c[0] == "deadline"] == [("deadline", 7, 5000)]
    sched.want("a", [Deadline(7, 0)])  # urgent now
    assert handle.deadlines[7] == 0


def test_preload_priorities_survive_deadline_resets_and_completed_pieces_are_ignored() -> None:
    sched, handle, _ = make()
    sched.preload([0, 1, 99])
    assert handle.priorities == {0: PRELOAD_PRIORITY, 1: PRELOAD_PRIORITY, 99: PRELOAD_PRIORITY}
    sched.want("a", [Deadline(99, 0)])
    sched.release("a")
    assert handle.priorities[99] == PRELOAD_PRIORITY
    sched.completed(0)
    calls = len(handle.calls)
    sched.want("a", [Deadline(0, 0)])  # we have it: no call
    sched.preload([0])
    assert len(handle.calls) == calls


def test_a_completed_piece_leaves_every_wish_without_a_reset_call() -> None:
    sched, handle, _ = make()
    sched.want("a", [Deadline(3, 0)])
    sched.completed(3)  # libtorrent dropped the deadline itself
    sched.release("a")
    assert ("reset", 3, None) not in handle.calls
    assert sched.deadlines() == {}


def test_closed_scheduler_never_touches_the_handle_again() -> None:
    sched, handle, _ = make()
    sched.want("a", [Deadline(3, 0)])
    sched.close()
    calls = len(handle.calls)
    sched.want("b", [Deadline(4, 0)])
    sched.release("a")
    sched.preload([9])
    assert len(handle.calls) == calls


def test_reapply_restates_every_current_deadline_with_the_time_left() -> None:
    sched, handle, clock = make()
    sched.want("a", [Deadline(3, 0), Deadline(4, 2000)])
    sched.want("b", [Deadline(9, 5000)])
    sched.completed(3)  # done: not restated
    clock.now += 1.5
    handle.calls.clear()
    sched.reapply()  # after a pause/resume that may have dropped libtorrent's list
    assert sorted(handle.calls) == [("deadline", 4, 500), ("deadline", 9, 3500)]
    clock.now += 10  # overdue pieces are due now, never negative
    handle.calls.clear()
    sched.reapply()
    assert sorted(handle.calls) == [("deadline", 4, 0), ("deadline", 9, 0)]
    sched.close()
    handle.calls.clear()
    sched.reapply()
    assert handle.calls == []


class ListHandle(FakeHandle):
    def prioritize_pieces(self, priorities: list[int]) -> None:
        self.calls.append(("all", len(priorities), None))
        self.priorities.update(enumerate(priorities))


def test_the_start_up_hold_fetches_only_what_someone_asked_for_until_released() -> None:
    handle, clock = ListHandle(), FakeClock(1000.0)
    s = PieceScheduler(handle, clock=clock)
    s.preload([0, 9])  # head and tail of a video
    s.want("player", [Deadline(1, 0)])
    s.completed(5)
    s.hold(10)
    assert s.holding
    assert handle.priorities == {
        0: PRELOAD_PRIORITY, 1: 7, 2: 0, 3: 0, 4: 0, 5: DEFAULT_PRIORITY,
        6: 0, 7: 0, 8: 0, 9: PRELOAD_PRIORITY,
    }  # fmt: skip
    s.release("player")  # a withdrawn deadline goes back to 0 while holding
    assert handle.priorities[1] == 0
    s.release_hold()
    assert not s.holding
    assert [handle.priorities[p] for p in (1, 2, 3, 9)] == [DEFAULT_PRIORITY] * 3 + [
        PRELOAD_PRIORITY
    ]
    s.release_hold()  # twice is harmless
    assert handle.calls.count(("all", 10, None)) == 2


def test_background_reads_wait_for_the_end_of_the_hold() -> None:
    """The full probe's pieces would queue at the peer ahead of the player's next ones
    (a stall right after the first frame): while holding they stay at 0."""
    handle, clock = ListHandle(), FakeClock(1000.0)
    s = PieceScheduler(handle, clock=clock)
    s.hold(10)
    s.preload([0])  # the head: first
    s.preload([8, 9], BACKGROUND_PRIORITY)  # the full probe's last GOP
    assert [handle.priorities[p] for p in (0, 8, 9)] == [PRELOAD_PRIORITY, 0, 0]
    s.want("player", [Deadline(8, 0)])  # a player asking for it: now
    assert handle.priorities[8] == 7
    assert s.held(9)  # a wait for 9 is no stall
    assert not s.held(8)
    assert not s.held(0)
    s.release_hold()
    assert handle.priorities[9] == BACKGROUND_PRIORITY
    assert not s.held(9)
    s.preload([5], BACKGROUND_PRIORITY)  # after the hold: at once
    assert handle.priorities[5] == BACKGROUND_PRIORITY


def test_wishes_beyond_the_horizon_get_a_priority_until_they_come_close() -> None:
    """libtorrent fetches the pieces of one priority in random order: only what is due
    within the horizon gets a deadline (7); later wishes wait just below (6)."""
    sched, handle, clock = make(horizon_s=1.0)
    sched.want("player", [Deadline(4, 0), Deadline(5, 800), Deadline(6, 1500), Deadline(7, 3000)])
    assert set(handle.deadlines) == {4, 5}
    assert (handle.priorities[6], handle.priorities[7]) == (PRELOAD_PRIORITY, PRELOAD_PRIORITY)
    clock.now += 1.0  # the player read on: its replan brings 6 within the horizon
    sched.want("player", [Deadline(6, 500), Deadline(7, 2000)])
    assert set(handle.deadlines) == {6}  # 4 and 5 withdrawn (read)
    assert handle.priorities[6] == 7
    sched.release("player")  # gone before 7 became urgent: back in line
    assert handle.priorities[7] == DEFAULT_PRIORITY
    assert 6 not in handle.deadlines
