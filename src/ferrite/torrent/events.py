"""The engine's side on the event loop: who hears about torrent events, the tasks the
engine owns, and the one way the alert thread hands work to the loop.

The alert thread batches what it learnt into a list of calls and posts the batch with
one ``loop.call_soon_threadsafe`` (:meth:`LoopSide.to_loop`); listeners and tasks live
on the loop only. A failing listener or call is logged and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ferrite.torrent.records import TorrentEvent

log = logging.getLogger(__name__)

Listener = Callable[[TorrentEvent], None]


class LoopSide:
    """Listeners, owned tasks and the alert thread's door to the event loop."""

    def __init__(self, close_timeout_s: float) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listeners: list[Listener] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self._close_timeout = close_timeout_s

    # -- events ----------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    def emit(self, event: TorrentEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("torrent event listener failed")

    def event_call(self, event: TorrentEvent) -> Callable[[], None]:
        return functools.partial(self.emit, event)

    # -- from the alert thread -------------------------------------------------------
    def to_loop(self, calls: list[Callable[[], None]]) -> None:
        loop = self.loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody left to tell
            loop.call_soon_threadsafe(self._run_calls, calls)

    @staticmethod
    def _run_calls(calls: list[Callable[[], None]]) -> None:
        for call in calls:
            try:
                call()
            except Exception:
                log.exception("torrent event handler failed")

    # -- owned tasks -----------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("torrent task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self) -> None:
        """Let the owned tasks finish (``close_timeout_s``), then cancel what is left."""
        while self.tasks:
            await asyncio.wait(list(self.tasks), timeout=self._close_timeout)
            if any(not task.done() for task in self.tasks):
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
                break
