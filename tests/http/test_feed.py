"""FeedInputs: what ffmpeg opens for a file, and the loopback server it starts for it."""

from __future__ import annotations

import io
import urllib.request
from pathlib import Path

from ferrite.http.feed import FeedInputs
from ferrite.sources import FileSources, StreamedFile


def _register(sources: FileSources, path: Path, data: bytes, *, complete: bool) -> None:
    sources.register(
        StreamedFile(
            path=str(path),
            size=len(data),
            version_ns=1,
            open=lambda: None if complete else io.BytesIO(data),
            complete=lambda: complete,
        )
    )


def test_paths_of_unknown_and_complete_files_are_given_as_they_are(tmp_path: Path) -> None:
    sources = FileSources(read_threads=1)
    inputs = FeedInputs(sources)
    try:
        done = tmp_path / "done.mkv"
        _register(sources, done, b"x", complete=True)
        assert inputs.input_for(str(tmp_path / "plain.mkv")) == str(tmp_path / "plain.mkv")
        assert inputs.input_for(str(done)) == str(done)
        assert inputs._feed is None  # no server started for nothing
    finally:
        inputs.close()
        sources.close()


def test_an_incomplete_file_is_served_by_the_loopback_feed(tmp_path: Path) -> None:
    sources = FileSources(read_threads=1)
    inputs = FeedInputs(sources)
    data = bytes(range(256)) * 8
    path = tmp_path / "partial.mkv"
    _register(sources, path, data, complete=False)
    try:
        url = inputs.input_for(str(path))
        assert url.startswith("http://127.0.0.1:")
        assert inputs.input_for(str(path)) == url  # one URL per path
        request = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 206
            assert response.read() == data[10:20]
    finally:
        inputs.close()
        sources.close()
    assert inputs.input_for(str(path)) == str(path)  # closed: never starts a server again
