"""Spawning a child process that holds nothing of the server's and dies with it.

Why not ``asyncio.create_subprocess_exec``: under uvloop (what ``ferrite serve`` runs)
it ignores ``close_fds``, so every ffmpeg inherited whatever descriptors the server had
without ``O_CLOEXEC`` -- libtorrent's listening and peer sockets among them -- and kept
them open as long as it ran. And nothing ended a child when the server was SIGKILLed: a
run paused with ``SIGSTOP`` would then stay stopped forever.

So children are started with :class:`subprocess.Popen` (``close_fds=True``: CPython
closes every descriptor but stdio in C, between fork and exec), in their own session,
with ``PR_SET_PDEATHSIG = SIGKILL`` set before exec (Linux): the kernel kills the child
when the thread that spawned it -- the event loop's -- goes away, however the server
dies. A stopped process is killed too (``SIGKILL`` needs no scheduling).

:class:`Child` gives the asyncio side what ``asyncio.subprocess.Process`` did: stdout and
stderr as :class:`asyncio.StreamReader`, and :meth:`Child.wait` completed by a pidfd the
loop watches (no thread per child, no polling); without pidfds (old kernels) a thread
waits instead.

The pipes are read by :class:`_PipeReader`, which owns its descriptor and closes it
exactly once. Not through the loop's pipe transports: uvloop's closes its descriptor on
a later loop turn, so a file object closed beside it closed the number twice -- and the
second close could hit whatever another thread had opened under that number meanwhile
(seen: a test's own ``subprocess.run`` failing with EBADF).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from typing import IO

__all__ = ["Child", "spawn"]

_PR_SET_PDEATHSIG = 1

try:
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with(parent: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: async-signal-safe calls only."""

    def setup() -> None:
        if _prctl is None:
            return
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the server died before prctl took effect
            os._exit(127)

    return setup


class _PipeReader:
    """Feeds one non-blocking pipe into a StreamReader, with its flow control (the reader
    calls :meth:`pause_reading`/:meth:`resume_reading` as its buffer fills and drains)."""

    _CHUNK = 1 << 16

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fd: int, reader: asyncio.StreamReader
    ) -> None:
        self._loop = loop
        self._fd: int | None = fd
        os.set_blocking(fd, False)
        self._reader = reader
        self._reading = False
        reader.set_transport(self)  # type: ignore[arg-type]  # duck-typed: the two calls
        self.resume_reading()

    def pause_reading(self) -> None:
        if self._reading and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and self._fd is not None:
            self._loop.add_reader(self._fd, self._readable)
            self._reading = True

    def _readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, self._CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._reader.set_exception(exc)
            self.close()
            return
        if data:
            self._reader.feed_data(data)
        else:
            self._reader.feed_eof()
            self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._reading:
            self._loop.remove_reader(fd)
            self._reading = False
        os.close(fd)


class Child:
    """A running child process with asyncio pipes. Create with :func:`spawn`."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._pipes: list[_PipeReader] = []
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def kill(self) -> None:
        if self._popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        """The exit status (negative: killed by that signal), once the child is reaped."""
        return await asyncio.shield(self._exited)

    async def _attach(self, limit: int) -> None:
        loop = asyncio.get_running_loop()
        for name in ("stdout", "stderr"):
            pipe: IO[bytes] | None = getattr(self._popen, name)
            if pipe is None:
                continue
            reader = asyncio.StreamReader(limit=limit, loop=loop)
            # The reader gets a descriptor of its own; Popen's file object closes its one
            # now. Each number is closed once, by its one owner.
            fd = os.dup(pipe.fileno())
            pipe.close()
            setattr(self._popen, name, None)
            try:
                self._pipes.append(_PipeReader(loop, fd, reader))
            except BaseException:
                os.close(fd)
                raise
            setattr(self, name, reader)
        self._watch_exit(loop)

    def _watch_exit(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            loop.run_in_executor(None, self._popen.wait).add_done_callback(
                lambda _f: self._reaped()
            )
            return

        def readable() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._popen.wait()  # exited: returns at once
            self._reaped()

        loop.add_reader(pidfd, readable)

    def _reaped(self) -> None:
        if not self._exited.done():
            self._exited.set_result(self._popen.returncode or 0)

    def close_pipes(self) -> None:
        for reader in self._pipes:
            reader.close()
        self._pipes.clear()
        # Pipes not handed to a reader yet (a failed start): Popen's objects own them.
        for pipe in (self._popen.stdout, self._popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


async def spawn(
    argv: Sequence[str], *, stdout: bool = True, stderr: bool = True, limit: int = 1 << 16
) -> Child:
    """Start ``argv`` (stdin ``/dev/null``; stdout/stderr piped when asked) as described in
    the module docstring. Raises :class:`OSError` when it cannot be started."""
    # On the loop's thread, on purpose (fork+exec takes a few ms): PDEATHSIG follows the
    # thread that spawned the child, and the loop's lives as long as the server.
    popen = subprocess.Popen(  # noqa: ASYNC220
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stderr else subprocess.DEVNULL,
        close_fds=True,
        # Its own session: a Ctrl-C in the server's terminal reaches only the server,
        # which then stops its children in order.
        start_new_session=True,
        preexec_fn=_die_with(os.getpid()),  # only async-signal-safe calls (see above)
    )
    child = Child(popen)
    try:
        await child._attach(limit)
    except BaseException:
        child.kill()
        popen.wait()
        child.close_pipes()
        raise
    return child
