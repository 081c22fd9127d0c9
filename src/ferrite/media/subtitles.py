"""The subtitle a viewer picked, as the decision, the renditions and the transcoder see it.

Pure vocabulary: an embedded stream (by index) or a sidecar file (by path), and whether
the viewer wants it burned into the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferrite.media.codecnames import normalize_subtitle_format
from ferrite.media.info import IMAGE_SUBTITLE_CODECS, TEXT_SUBTITLE_CODECS, SubtitleTrack


@dataclass(frozen=True, slots=True)
class SubtitleChoice:
    """The subtitle the user picked: an embedded stream or a sidecar file."""

    codec: str  # ffmpeg codec name (aliases like "srt" and "pgs" are accepted)
    stream_index: int | None = None  # embedded: the stream's index in the file
    path: str | None = None  # sidecar: the file's path
    burn: bool = False  # the user wants it drawn into the picture

    @classmethod
    def from_track(cls, track: SubtitleTrack, *, burn: bool = False) -> SubtitleChoice:
        return cls(codec=track.codec, stream_index=track.stream_index, path=track.path, burn=burn)

    @property
    def format(self) -> str:
        return normalize_subtitle_format(self.codec)

    @property
    def is_text(self) -> bool:
        return self.format in TEXT_SUBTITLE_CODECS

    @property
    def is_image(self) -> bool:
        return self.format in IMAGE_SUBTITLE_CODECS

    @property
    def external(self) -> bool:
        return self.path is not None
