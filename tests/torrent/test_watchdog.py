"""The stall watchdog's decisions, tick by tick (pure logic, no libtorrent)."""

from __future__ import annotations

import itertools

from ferrite.torrent.watchdog import Action, StallWatch


def ticks(
    watch: StallWatch,
    start: float,
    end: float,
    *,
    waiting: bool,
    peers: int,
    payload: int,
    can_redial: bool,
) -> list[tuple[float, Action]]:
    """Observe once a second over ``[start, end)``; the non-NONE actions with their times."""
    out: list[tuple[float, Action]] = []
    t = start
    while t < end:
        action = watch.observe(
            t, waiting=waiting, peers=peers, payload=payload, can_redial=can_redial
        )
        if action is not Action.NONE:
            out.append((t, action))
        t += 1.0
    return out


def test_nobody_waiting_means_nothing_to_do_however_quiet() -> None:
    watch = StallWatch()
    assert ticks(watch, 0, 300, waiting=False, peers=0, payload=0, can_redial=True) == []
    assert ticks(watch, 300, 600, waiting=False, peers=3, payload=0, can_redial=True) == []


def test_redials_explicit_peers_every_few_seconds_while_nobody_is_connected() -> None:
    watch = StallWatch(redial_s=3.0)
    acts = ticks(watch, 100, 110, waiting=True, peers=0, payload=0, can_redial=True)
    assert acts == [(100, Action.REDIAL), (103, Action.REDIAL), (106, Action.REDIAL),
                    (109, Action.REDIAL)]  # fmt: skip
    # Without explicit peers there is nobody to dial (libtorrent's own peer list rules).
    assert ticks(StallWatch(), 0, 20, waiting=True, peers=0, payload=0, can_redial=False) == []


def test_redials_while_a_reader_plays_from_its_buffer_but_not_for_an_idle_torrent() -> None:
    watch = StallWatch(redial_s=1.0)
    acts = [watch.observe(t, waiting=False, peers=0, payload=0, can_redial=True, reading=True)
            for t in (10.0, 10.5, 11.0, 12.0)]  # fmt: skip
    assert acts == [Action.REDIAL, Action.NONE, Action.REDIAL, Action.REDIAL]
    # Connected and reading without waiting: nothing to do, however quiet.
    assert watch.observe(100, waiting=False, peers=1, payload=0, can_redial=True, reading=True) is (
        Action.NONE
    )
    idle = StallWatch(redial_s=1.0)
    assert idle.observe(10, waiting=False, peers=0, payload=0, can_redial=True) is Action.NONE


def test_a_silent_connection_is_reconnected_after_stall_s_of_waiting() -> None:
    watch = StallWatch(stall_s=8.0)
    # Long idle before anyone waits: the silence before the wait doesn't count.
    assert ticks(watch, 0, 500, waiting=False, peers=1, payload=5, can_redial=True) == []
    acts = ticks(watch, 500, 509, waiting=True, peers=1, payload=5, can_redial=True)
    assert acts == [(508, Action.RECONNECT)]
    assert watch.quiet_s == 8.0


def test_payload_arriving_is_not_a_stall_and_resets_the_backoff() -> None:
    watch = StallWatch(stall_s=8.0)
    payload = 0
    for t in range(0, 60):
        payload += 16_384  # a slow swarm still delivers
        assert watch.observe(t, waiting=True, peers=2, payload=payload, can_redial=True) is (
            Action.NONE
        )
    # Two fruitless reconnects double the patience ...
    acts = ticks(watch, 60, 60 + 8 + 16 + 1, waiting=True, peers=2, payload=payload,
                 can_redial=True)  # fmt: skip
    assert [t for t, _ in acts] == [67, 83]
    assert watch.patience == 32.0
    # ... and data flowing again brings it back to stall_s.
    watch.observe(100, waiting=True, peers=2, payload=payload + 1, can_redial=True)
    assert watch.patience == 8.0


def test_backoff_is_capped() -> None:
    watch = StallWatch(stall_s=8.0, max_stall_s=20.0)
    acts = ticks(watch, 0, 100, waiting=True, peers=1, payload=0, can_redial=False)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(acts)]
    assert acts[0][0] == 8
    assert gaps[:3] == [16, 20, 20]


def test_a_redial_that_connects_a_silent_peer_leads_to_a_reconnect() -> None:
    watch = StallWatch(redial_s=3.0, stall_s=8.0)
    assert watch.observe(0, waiting=True, peers=0, payload=0, can_redial=True) is Action.REDIAL
    # Connected at t=1 but the connection never delivers: reconnect 8 s after the redial.
    acts = ticks(watch, 1, 12, waiting=True, peers=1, payload=0, can_redial=True)
    assert acts == [(8, Action.RECONNECT)]


def test_the_counter_restarting_after_a_reconnect_is_not_progress() -> None:
    watch = StallWatch(stall_s=8.0)
    assert ticks(watch, 0, 9, waiting=True, peers=1, payload=5_000, can_redial=True) == [
        (8, Action.RECONNECT)
    ]
    # The reconnect paused and resumed the torrent: libtorrent's counter starts at 0 again.
    acts = ticks(watch, 9, 26, waiting=True, peers=1, payload=0, can_redial=True)
    assert acts == [(24, Action.RECONNECT)]  # backed off to 16 s, not reset to 8
    # Real data after the reset is progress again.
    watch.observe(30, waiting=True, peers=1, payload=16_384, can_redial=True)
    assert watch.patience == 8.0
