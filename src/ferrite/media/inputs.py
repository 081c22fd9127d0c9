"""What FFmpeg may do with a media file it did not make: which demuxers, which protocols.

A file in a library (or in a torrent) is untrusted input. Left to itself FFmpeg probes it
with *every* demuxer and lets the chosen demuxer open further URLs: a "movie" that is
really an HLS playlist or an ffconcat script names ``file:///…/secret.key`` or
``http://169.254.169.254/…`` and FFmpeg fetches it. So every input Ferrite opens -- in
PyAV (probe, packager, posters) and in ffmpeg's argv (transcodes, progressive streams) --
carries a demuxer allow-list (the containers Ferrite scans, plus the subtitle formats
a burn-in may read) and a protocol allow-list: ``file`` for paths, ``http,tcp`` only for
the loopback feed of a torrent still downloading.
"""

from __future__ import annotations

from typing import Final

#: Demuxers (FFmpeg short names) for the containers in ``naming.VIDEO_EXTENSIONS`` and the
#: image subtitle files a burn-in reads. FFmpeg matches any of a demuxer's names
#: ("mov,mp4,m4a,…"), so one name per demuxer is enough.
DEMUXERS: Final = (
    "matroska",  # .mkv .mk3d .webm
    "mov",  # .mp4 .m4v .mov .3gp
    "avi",  # .avi .divx
    "mpegts",  # .ts .m2ts .mts
    "mpeg",  # .mpg .mpeg .vob (program stream)
    "mpegvideo",  # .m2v
    "asf",  # .wmv .asf
    "flv",
    "ogg",  # .ogv
    "sup",  # PGS subtitles (burn-in)
    "vobsub",  # .idx/.sub (burn-in)
)
FORMAT_WHITELIST: Final = ",".join(DEMUXERS)
FILE_PROTOCOLS: Final = "file"
#: The loopback feed (``http.feed``) is plain HTTP on 127.0.0.1.
FEED_PROTOCOLS: Final = "http,tcp"


def protocols_for(url: str) -> str:
    """The protocols an input may use: the loopback feed's for its URL, else files only."""
    return FEED_PROTOCOLS if url.startswith("http://127.0.0.1:") else FILE_PROTOCOLS


def pyav_options(url: str = "") -> dict[str, str]:
    """``av.open(..., options=...)`` for an untrusted input (a path, or a file object)."""
    return {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": protocols_for(url)}


def ffmpeg_input_args(url: str) -> list[str]:
    """ffmpeg input options to put before ``-i url``."""
    return ["-format_whitelist", FORMAT_WHITELIST, "-protocol_whitelist", protocols_for(url)]
