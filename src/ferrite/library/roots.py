"""Whether a file's real path (after every symlink) stays inside its library's folders.

A library folder is a promise: Ferrite reads what is in it. Anyone who can write there (a
download client, a NAS share) can also put a symlink there, and a link to ``/`` or to
``<data_dir>/secret.key`` must not turn the server into a reader of the whole machine.
Scans skip links that leave the library and direct play refuses files whose opened
descriptor resolves outside it, unless ``follow_links_outside_library`` is set.

:func:`inside` is pure; :func:`real_roots` and :func:`real_path_of_fd` touch the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def inside(real_path: str, real_roots: Iterable[str]) -> bool:
    """Whether ``real_path`` is one of ``real_roots`` or below one (both already real)."""
    for root in real_roots:
        root = root.rstrip(os.sep) or os.sep
        if real_path == root or real_path.startswith(root + os.sep) or root == os.sep:
            return True
    return False


def real_roots(roots: Iterable[str]) -> tuple[str, ...]:
    """The library folders with symlinks resolved (a root may itself be a link)."""
    return tuple(os.path.realpath(r) for r in roots)


def real_path_of_fd(fd: int, fallback: str) -> str:
    """The real path of an open descriptor: what was actually opened, not what the name
    points to now (Linux ``/proc``); elsewhere the resolved name, checked just after."""
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink())
    except OSError:
        return os.path.realpath(fallback)
