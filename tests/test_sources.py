"""``PyAVFile``: what PyAV reads a streamed file through."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from ferrite.errors import NotFound
from ferrite.sources import PyAVFile
from tests import media


class _Vanishing(io.BytesIO):
    """A file whose source goes away after ``good`` bytes: every later read fails."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data)
        self.good = good
        self.failures = 0

    def read(self, size: int | None = -1, /) -> bytes:
        if self.tell() >= self.good:
            self.failures += 1
            raise NotFound("torrent 'x' was removed")
        return super().read(
            size if size is None or size < 0 else min(size, self.good - self.tell())
        )


def test_the_first_error_reaches_the_caller_later_reads_are_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = media.make_clip(tmp_path / "clip.mp4", media.Clip(duration=4))
    data = path.read_bytes()
    inner = _Vanishing(data, good=len(data) // 3)
    file = PyAVFile(inner)
    with pytest.raises(NotFound), av.open(file, "r") as container:
        for _ in container.demux():
            pass
    assert inner.failures == 1
    # Later reads and seeks (FFmpeg's, before it reports the failure) are quiet: PyAV
    # would print the first error instead of raising it. (tests/torrent/test_streaming's
    # delete-while-playing test shows that case end to end.)
    assert file.read(10) == b""
    assert file.seek(0) == file.tell()
    assert inner.failures == 1
    assert "Traceback" not in capfd.readouterr().err
