"""Per-user caps: the newest ``cap`` things of each user are kept, older ones give way.

One user -- or one leaked account -- must not be able to hold every transcode slot or
fill memory with sessions. A new progressive stream or playback session beyond the cap
ends that user's *oldest* (a viewer who moved to another device keeps watching there)
instead of being refused. Pure bookkeeping; the caller stops what :meth:`PerUser.add`
returns.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class PerUser(Generic[T]):
    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self._by_user: dict[int, OrderedDict[int, T]] = {}

    def add(self, user_id: int, item: T) -> list[T]:
        """Track ``item``; return the user's oldest items beyond the cap (now untracked)."""
        items = self._by_user.setdefault(user_id, OrderedDict())
        items[id(item)] = item
        evicted = []
        while len(items) > self.cap:
            evicted.append(items.popitem(last=False)[1])
        return evicted

    def discard(self, user_id: int, item: T) -> None:
        items = self._by_user.get(user_id)
        if items is not None:
            items.pop(id(item), None)
            if not items:
                del self._by_user[user_id]

    def count(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))
