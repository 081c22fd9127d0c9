"""Where the ffmpeg binary comes from: a setting, else the imageio-ffmpeg wheel's build."""

from __future__ import annotations

import functools


@functools.cache
def _bundled() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_path(configured: str = "") -> str:
    return configured or _bundled()
