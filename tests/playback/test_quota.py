from __future__ import annotations

from ferrite.playback.quota import PerUser


class Stream:
    def __init__(self, name: str) -> None:
        self.name = name


def test_the_oldest_beyond_the_cap_give_way_per_user() -> None:
    q: PerUser[Stream] = PerUser(2)
    a, b, c, other = Stream("a"), Stream("b"), Stream("c"), Stream("other")
    assert q.add(1, a) == []
    assert q.add(1, b) == []
    assert q.add(2, other) == []  # another user's count is its own
    assert q.add(1, c) == [a]
    assert q.count(1) == 2
    q.discard(1, b)
    q.discard(1, a)  # already gone: no error
    assert q.count(1) == 1
    q.discard(1, c)
    assert q.count(1) == 0
    assert q.count(2) == 1
