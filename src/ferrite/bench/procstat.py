"""CPU time and memory of the server under test, from ``/proc`` (Linux).

The server is a process id plus, when the server runs inside the benchmark's own process,
the thread ids that belong to the benchmark's clients (their CPU is subtracted). Its
ffmpeg children count too: the CPU of children already reaped is in the parent's
``cutime``/``cstime``, that of live ones in their own ``stat``; memory is the sum of the
server's and its live children's resident sets, sampled (``peak_rss``) next to the
kernel's own high-water mark of the server process (``VmHWM``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(path: Path) -> list[str] | None:
    try:
        raw = path.read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """utime + stime (+ cutime + cstime of reaped children) of ``pid``, in seconds."""
    f = _stat_fields(Path(f"/proc/{pid}/stat"))
    if f is None:
        return 0.0
    # fields after the name: state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
    ticks = int(f[11]) + int(f[12])
    if children:
        ticks += int(f[13]) + int(f[14])
    return ticks / TICKS


def thread_cpu_seconds(pid: int, tid: int) -> float:
    f = _stat_fields(Path(f"/proc/{pid}/task/{tid}/stat"))
    if f is None:
        return 0.0
    return (int(f[11]) + int(f[12])) / TICKS


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of the resident set (``VmHWM``)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (one level: ffmpeg spawns nothing)."""
    out: list[int] = []
    try:
        entries = os.listdir("/proc")  # noqa: PTH208 - names only, thousands of them
    except OSError:
        return out
    for name in entries:
        if not name.isdigit():
            continue
        f = _stat_fields(Path(f"/proc/{name}/stat"))
        if f is not None and int(f[1]) == pid:
            out.append(int(name))
    return out


def load_average() -> tuple[float, float, float]:
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
        return float(one), float(five), float(fifteen)
    except (OSError, ValueError):
        return (0.0, 0.0, 0.0)


@dataclass
class ServerUsage:
    """CPU seconds and memory of a server over a measured interval."""

    cpu_s: float = 0.0
    peak_rss: int = 0  # sampled: server + live children
    peak_children_rss: int = 0
    vm_hwm: int = 0  # the server process's own high-water mark (since it started)
    max_children: int = 0


class ServerProbe:
    """Samples one server process. ``exclude_threads``: thread ids of the same process
    whose CPU is not the server's (the benchmark's clients when the server runs
    in-process)."""

    def __init__(self, pid: int, exclude_threads: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.exclude = exclude_threads
        self.usage = ServerUsage()
        self._cpu0 = 0.0
        self._children_cpu: dict[int, float] = {}  # live child -> CPU seen so far

    def _own_cpu(self) -> float:
        cpu = cpu_seconds(self.pid)
        for tid in self.exclude:
            cpu -= thread_cpu_seconds(self.pid, tid)
        return cpu

    def start(self) -> None:
        self._children_cpu = {c: cpu_seconds(c, children=False) for c in children_of(self.pid)}
        self._cpu0 = self._own_cpu() + sum(self._children_cpu.values())
        self.sample()

    def sample(self) -> None:
        kids = children_of(self.pid)
        kids_rss = 0
        for c in kids:
            self._children_cpu[c] = cpu_seconds(c, children=False)
            kids_rss += rss_bytes(c)
        total = rss_bytes(self.pid) + kids_rss
        u = self.usage
        u.peak_rss = max(u.peak_rss, total)
        u.peak_children_rss = max(u.peak_children_rss, kids_rss)
        u.max_children = max(u.max_children, len(kids))

    def stop(self) -> ServerUsage:
        """Final sample; CPU since :meth:`start`. A child alive at start counts from its
        CPU then (the baseline); once reaped its whole CPU is in the parent's cutime, so
        ``end - start`` still counts only what it spent in between."""
        self.sample()
        live = set(children_of(self.pid))
        live_cpu = sum(v for c, v in self._children_cpu.items() if c in live)
        self.usage.cpu_s = max(0.0, self._own_cpu() + live_cpu - self._cpu0)
        self.usage.vm_hwm = peak_rss_bytes(self.pid)
        return self.usage
