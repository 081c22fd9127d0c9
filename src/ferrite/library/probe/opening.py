"""Opening a media file for the probe, and the sentences its failures leave with.

:func:`open_path` and :func:`open_file` open the container (from the disk, or through a
file object such as a torrent reader) and turn FFmpeg's and the OS's refusals into
:class:`~ferrite.errors.ProbeError` naming the likely cause (text, not media; an MP4
without its index; a damaged Matroska header); :func:`read_errors` does the same for
reads once the container is open. A reader's own errors pass unchanged.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
import av.error
from av.container import InputContainer

from ferrite.errors import ProbeError
from ferrite.media.inputs import pyav_options
from ferrite.sources import Readable


@contextlib.contextmanager
def read_errors(path: Path) -> Iterator[None]:
    """FFmpeg's and the OS's read errors as :class:`ProbeError` (ours pass unchanged)."""
    try:
        yield
    except ProbeError:
        raise
    except (av.error.FFmpegError, OSError) as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {reason(exc)}") from exc


def open_path(path: Path) -> tuple[InputContainer, int]:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ProbeError(f"{path.name}: the file does not exist (moved or deleted?)") from exc
    except OSError as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {reason(exc)}") from exc
    if not path.is_file():
        raise ProbeError(f"{path.name}: not a regular file")
    if st.st_size == 0:
        raise ProbeError(f"{path.name}: the file is empty (0 bytes)")
    try:
        return av.open(str(path), "r", options=pyav_options()), st.st_size
    except av.error.FFmpegError as exc:
        raise ProbeError(f"{path.name}: {_open_reason(_head(path), exc)}") from exc
    except OSError as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {reason(exc)}") from exc


def open_file(path: Path, file: Readable) -> tuple[InputContainer, int]:
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    if size == 0:
        raise ProbeError(f"{path.name}: the file is empty (0 bytes)")
    try:
        return av.open(file, "r", options=pyav_options()), size
    except av.error.FFmpegError as exc:
        file.seek(0)
        raise ProbeError(f"{path.name}: {_open_reason(file.read(4096), exc)}") from exc
    except OSError as exc:
        raise ProbeError(f"{path.name}: cannot read the file: {reason(exc)}") from exc


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(4096)
    except OSError:
        return b""


def reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return re.sub(r":\s*'[^']*'$", "", str(text)).strip() or exc.__class__.__name__


def _open_reason(head: bytes, exc: BaseException) -> str:
    if _looks_like_text(head):
        return "the file contains text, not audio or video (wrong extension?)"
    if head[4:8] == b"ftyp":
        return (
            "an MP4/MOV file whose index (moov atom) is missing or damaged: the file is "
            "incomplete (still downloading or cut short) or corrupt"
        )
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a damaged Matroska/WebM file: its header cannot be read"
    if isinstance(exc, av.error.InvalidDataError):
        return (
            "not a media file FFmpeg can read: the container is damaged, truncated or of "
            "an unknown format"
        )
    return f"cannot open as media: {reason(exc)}"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return printable >= 0.95 * len(text)
