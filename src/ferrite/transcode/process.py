"""One owned ffmpeg child process (DESIGN.md principle 6).

:class:`FfmpegProcess` spawns ffmpeg with :func:`ferrite.transcode.child.spawn` (stdin from
``/dev/null``, so ffmpeg never waits for keyboard input; no descriptor of the server but
stdio; killed by the kernel if the server dies) and owns everything about it:

- **stdout** is either read line by line by an owned task that hands each line to a
  callback (the segment muxer's csv list: one line per finished segment), or left to the
  caller as a byte stream (:meth:`read`, the progressive fallback);
- **stderr** is drained continuously by an owned task into a bounded tail buffer
  (:attr:`stderr_tail`, for error messages), so ffmpeg can never block on a full pipe;
- :meth:`pause`/:meth:`resume` send ``SIGSTOP``/``SIGCONT``, which works with every
  encoder (software or hardware) and costs nothing while stopped;
- :meth:`kill` sends ``SIGKILL`` (which also ends a stopped process) and reaps it;
  :meth:`wait` reaps it and joins both reader tasks;
- it is counted: ``ffmpeg_processes_total{outcome}`` once per process
  (``completed`` exit 0, ``failed`` non-zero exit or signal we didn't send, ``stopped``
  killed by us, ``spawn_failed``).

Foreign errors become :class:`~ferrite.errors.TranscodeError` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Callable, Sequence

from ferrite import metrics
from ferrite.errors import TranscodeError
from ferrite.transcode.child import Child, spawn

__all__ = ["FfmpegProcess", "live_pids"]

log = logging.getLogger(__name__)

#: Bytes of stderr kept (``-loglevel error`` output; enough for the last few errors).
STDERR_TAIL_BYTES = 8192
_STDOUT_LIMIT = 1 << 16

_LIVE: set[int] = set()
#: ``http.feed.LoopbackFeed`` URLs: their path is a secret that reads files.
_FEED_URL = re.compile(r"http://127\.0\.0\.1:\d+/[^/\s]+/\d+")


def live_pids() -> frozenset[int]:
    """Pids of ffmpeg processes spawned here and not yet reaped (for leak checks)."""
    return frozenset(_LIVE)


class FfmpegProcess:
    def __init__(
        self,
        proc: Child,
        argv: Sequence[str],
        on_line: Callable[[str], None] | None,
        tail_bytes: int,
    ) -> None:
        self._proc = proc
        self.argv = tuple(argv)
        self.pid = proc.pid
        self._on_line = on_line
        self._tail = bytearray()
        self._tail_bytes = tail_bytes
        self._paused = False
        self._killed = False
        self._reaped = False
        self._returncode: int | None = None
        self._wait_task: asyncio.Task[int] | None = None
        self._stderr_task = asyncio.create_task(self._drain_stderr(), name=f"ffmpeg-{proc.pid}-err")
        self._stdout_task: asyncio.Task[None] | None = None
        if on_line is not None:
            self._stdout_task = asyncio.create_task(
                self._read_lines(on_line), name=f"ffmpeg-{proc.pid}-out"
            )
        _LIVE.add(proc.pid)

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        on_line: Callable[[str], None] | None = None,
        tail_bytes: int = STDERR_TAIL_BYTES,
    ) -> FfmpegProcess:
        """Start ``argv``. With ``on_line``, stdout lines go to it (from an owned task);
        without, read stdout with :meth:`read`."""
        try:
            proc = await spawn(argv, limit=_STDOUT_LIMIT)
        except OSError as exc:
            metrics.FFMPEG_PROCESSES.labels(outcome="spawn_failed").inc()
            raise TranscodeError(
                f"could not start ffmpeg ({exc.strerror or exc.__class__.__name__})",
                detail=f"{argv[0]}: {exc}",
            ) from exc
        return cls(proc, argv, on_line, tail_bytes)

    # -- state ------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """None while running; negative -N when killed by signal N."""
        return self._returncode

    @property
    def running(self) -> bool:
        return self._proc.returncode is None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def killed(self) -> bool:
        """Whether :meth:`kill` ended it (as opposed to exiting or crashing by itself)."""
        return self._killed

    @property
    def stderr_tail(self) -> str:
        return self._tail.decode(errors="replace").strip()

    def error_summary(self, limit: int = 600) -> str:
        """The last lines of stderr, short enough for a log line, with the loopback feed's
        secret URLs masked. For the server's log (``FerriteError.detail``) only: it names
        paths, and is never sent to a client."""
        text = _FEED_URL.sub("<loopback feed>", self.stderr_tail)
        if len(text) > limit:
            text = "…" + text[-limit:]
        return text or "(no error output)"

    # -- control ----------------------------------------------------------------------

    def pause(self) -> None:
        """``SIGSTOP``: the process stops using CPU until :meth:`resume`."""
        if not self._paused and self.running:
            self._signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self.running:
                self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    async def read(self, n: int = 1 << 16) -> bytes:
        """Up to ``n`` bytes of stdout (``b""`` at the end); only without ``on_line``."""
        stdout = self._proc.stdout
        if self._on_line is not None or stdout is None:
            raise RuntimeError("stdout is read by the line callback")
        return await stdout.read(n)

    async def wait(self) -> int:
        """Reap the process and join its reader tasks; the return code. Safe to call from
        several places (one reaping task is shared)."""
        if self._wait_task is None:
            self._wait_task = asyncio.ensure_future(self._reap())
        return await asyncio.shield(self._wait_task)

    async def kill(self) -> int:
        """``SIGKILL`` (unless it already exited) and reap."""
        if self.running:
            self._killed = True
            self._paused = False
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        return await self.wait()

    # -- owned tasks --------------------------------------------------------------------

    async def _reap(self) -> int:
        try:
            rc = await self._proc.wait()
            # A stopped child can't exit; a dead one has closed its pipes, so the readers
            # finish promptly.
            tasks = [t for t in (self._stdout_task, self._stderr_task) if t is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            self._proc.close_pipes()
        except BaseException:
            # Cancelled while reaping (shutdown): make sure nothing outlives us.
            if self._proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
            for t in (self._stdout_task, self._stderr_task):
                if t is not None:
                    t.cancel()
            self._proc.close_pipes()
            raise
        self._returncode = rc
        self._paused = False
        if not self._reaped:
            self._reaped = True
            _LIVE.discard(self.pid)
            outcome = "stopped" if self._killed else ("completed" if rc == 0 else "failed")
            metrics.FFMPEG_PROCESSES.labels(outcome=outcome).inc()
        return rc

    async def _drain_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        while chunk := await stream.read(4096):
            self._tail += chunk
            if len(self._tail) > self._tail_bytes:
                del self._tail[: len(self._tail) - self._tail_bytes]

    async def _read_lines(self, on_line: Callable[[str], None]) -> None:
        stream = self._proc.stdout
        assert stream is not None
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: not ours to parse
                log.warning("ffmpeg %s: overlong stdout line skipped", self.pid)
                continue
            if not raw:
                return
            try:
                on_line(raw.decode(errors="replace"))
            except Exception:  # a bad line must not stop the drain (ffmpeg would block)
                log.exception("ffmpeg %s: stdout line handler failed on %r", self.pid, raw)
