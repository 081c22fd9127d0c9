"""Stream copy into fMP4: how a source stream becomes a track, its init and its fragments.

Called by the packager (``hls/packager.py``) with an open container and the packets
``hls/demux.py`` read for a span. The init segment's sample entry is written by FFmpeg's
mov muxer (see ``hls/fmp4.py`` for why), fed the stream's codec parameters and first
packets; fragments are written by ``hls/fmp4.py`` from the packets, re-framed by
``media/bitstream.py`` where MP4 needs another framing than the source's.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.error
import av.stream

from ferrite.errors import MediaError, Unprocessable
from ferrite.hls import fmp4
from ferrite.hls.aacenc import audio_context
from ferrite.hls.demux import SpanPackets, codec_name, seek_to_start, time_base
from ferrite.hls.timeline import Span, derived_decode_times
from ferrite.media import bitstream

__all__ = [
    "FMP4_COPY_CODECS",
    "Track",
    "check_continuity",
    "copy_fragment",
    "copy_init",
    "track_of",
]

#: Codecs we copy into fMP4.
FMP4_COPY_CODECS = frozenset(
    {"h264", "hevc", "vp9", "av1", "aac", "ac3", "eac3", "opus", "flac", "mp3"}
)
#: Packets fed to FFmpeg's mov muxer to write an init segment (E-AC-3 needs several to
#: know its substreams).
_INIT_PACKETS = {"video": 1, "audio": 8}
_MP4_OPTIONS = {"movflags": "frag_custom+delay_moov+default_base_moof", "fflags": "+bitexact"}


@dataclass(frozen=True, slots=True)
class Track:
    """How one source stream becomes an fMP4 track (derived from the open stream)."""

    kind: str  # "video" | "audio"
    codec: str
    time_base: Fraction
    timescale: int
    scale: int  # ticks per source pts unit (time_base * timescale, an integer)
    nal_length: int | None  # source NAL length-prefix size; None: Annex B (H.264/HEVC only)
    adts: bool = False  # AAC framed in ADTS headers (no AudioSpecificConfig in extradata)


def track_of(stream: av.stream.Stream) -> Track:
    codec = codec_name(stream)
    kind = stream.type
    if kind not in ("video", "audio"):
        raise Unprocessable(f"stream {stream.index} is {kind}, not audio or video")
    tb = time_base(stream)
    timescale = tb.denominator
    if kind == "audio":
        rate = audio_context(stream).sample_rate
        # Prefer the sample rate as timescale when source timestamps convert exactly.
        if rate and (tb * rate).denominator == 1:
            timescale = rate
    scale = tb * timescale
    if scale.denominator != 1 or timescale >= 1 << 32:
        raise MediaError(f"unsupported time base {tb}")
    nal_length = None
    if codec in ("h264", "hevc"):
        nal_length = bitstream.nal_length_size(stream.codec_context.extradata, codec)
    adts = codec == "aac" and not stream.codec_context.extradata
    return Track(kind, codec, tb, timescale, int(scale), nal_length, adts)


def copy_init(container: av.container.InputContainer, stream: av.stream.Stream) -> bytes:
    """``ftyp``+``moov`` for stream-copying ``stream`` (reads its first packets)."""
    track = track_of(stream)
    if track.codec not in FMP4_COPY_CODECS:
        raise Unprocessable(f"{track.codec} cannot be stream-copied into fMP4")
    first = _first_packets(container, stream, _INIT_PACKETS[track.kind])
    buf = io.BytesIO()
    try:
        out = av.open(buf, "w", format="mp4", options=dict(_MP4_OPTIONS))
        try:
            ost = out.add_stream_from_template(stream, opaque=True)
            if track.codec == "hevc":
                ost.codec_tag = "hvc1"  # Apple plays hvc1, not hev1
            language = stream.metadata.get("language")
            if language:
                ost.metadata["language"] = language
            adts = track.adts and bool(first) and bitstream.adts_header(first[0]) is not None
            if adts:
                header = bitstream.adts_header(first[0])
                assert header is not None
                ost.codec_context.extradata = bitstream.audio_specific_config(header)
            for i, data in enumerate(first):
                # Only the sample entry of this output is kept: clean timestamps suffice.
                pkt = av.Packet(bitstream.strip_adts(data) if adts else data)
                pkt.stream = ost
                pkt.time_base = time_base(ost)
                pkt.pts = pkt.dts = i
                pkt.duration = 1
                pkt.is_keyframe = True
                out.mux(pkt)
        finally:
            out.close()
        return fmp4.normalize_init(buf.getvalue(), timescale=track.timescale)
    except (av.error.FFmpegError, bitstream.BitstreamError, fmp4.BoxError, ValueError) as exc:
        raise MediaError(f"cannot write an init segment for {track.codec}: {exc}") from exc


# --- helpers -----------------------------------------------------------------------------


def _first_packets(
    container: av.container.InputContainer, stream: av.stream.Stream, n: int
) -> list[bytes]:
    try:
        seek_to_start(container, stream)
        out: list[bytes] = []
        for pkt in container.demux(stream):
            if pkt.size == 0:
                continue
            if stream.type == "video" and not out and not pkt.is_keyframe:
                continue
            out.append(bytes(pkt))
            if len(out) >= n:
                break
        return out
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read the media file: {exc}") from exc


def _video_payload(track: Track, data: bytes) -> bytes:
    try:
        if track.codec == "hevc":
            return bitstream.to_length_prefixed(
                data,
                source_length_size=track.nal_length,
                codec="hevc",
                drop_types=bitstream.HEVC_PARAMETER_SETS,
            )
        if track.codec == "h264":
            if track.nal_length is None:
                return bitstream.to_length_prefixed(data, source_length_size=None, codec="h264")
            bitstream.check_length_prefixed(data, track.nal_length)
        return data
    except bitstream.BitstreamError as exc:
        raise MediaError(f"the media file is corrupt here ({exc})") from exc


def copy_fragment(track: Track, got: SpanPackets, span: Span, offset: int, delay: int) -> bytes:
    off = offset * track.timescale
    sc = track.scale
    if track.kind == "video":
        pkts = got.video
        pts = [p.pts for p in pkts]
        last = max(pkts, key=lambda p: p.pts)
        dts, durations = derived_decode_times(pts, got.video_next, last.duration, delay)
        if got.video_next is None and durations[-1] <= 0:
            durations[-1] = _typical(durations[:-1])
        samples = [
            fmp4.Sample(_video_payload(track, p.data), d * sc, p.keyframe, (p.pts - t) * sc)
            for p, t, d in zip(pkts, dts, durations, strict=True)
        ]
        base = dts[0] * sc + off
    else:
        pkts = got.audio
        if not pkts:
            raise MediaError(f"no audio in segment {span.index}")
        samples = []
        for i, p in enumerate(pkts):
            nxt = pkts[i + 1].pts if i + 1 < len(pkts) else got.audio_next
            dur = (nxt - p.pts) if nxt is not None else p.duration
            if dur <= 0:
                dur = pkts[i - 1].pts - pkts[i - 2].pts if i >= 2 else p.duration
            data = p.data
            if track.adts:
                try:
                    data = bitstream.strip_adts(data)
                except bitstream.BitstreamError as exc:
                    raise MediaError(f"the media file is corrupt here ({exc})") from exc
            samples.append(fmp4.Sample(data, max(dur, 0) * sc))
        base = pkts[0].pts * sc + off
    return fmp4.fragment(span.index + 1, 1, base, samples)


#: Containers whose demuxer skips damaged data silently (no corrupt flag on packets).
_SILENT_LOSS_FORMATS = frozenset({"matroska", "webm"})


def check_continuity(
    container: av.container.InputContainer, got: SpanPackets, stream: av.stream.Stream
) -> None:
    """Refuse a span with a hole in its timestamps where the demuxer hides damage.

    Matroska's demuxer resyncs on the next cluster after garbage and says nothing, so
    damage shows only as missing packets. A constant-frame-rate video may not skip more
    than half a frame; audio packets must follow each other.
    """
    if not _SILENT_LOSS_FORMATS.intersection(container.format.name.split(",")):
        return
    tb = time_base(stream)
    slack = Fraction(1, 500)  # millisecond timestamps round
    if stream.type == "video":
        base, avg = stream.base_rate, stream.average_rate
        if not base or not avg or abs(Fraction(avg) / Fraction(base) - 1) > Fraction(1, 100):
            return  # variable frame rate: holes can be legitimate
        limit = Fraction(3, 2) / Fraction(base) + slack
        pts = sorted(p.pts for p in got.video)
        for a, b in itertools.pairwise(pts):
            if (b - a) * tb > limit:
                raise MediaError(
                    f"the media file is damaged here: {float((b - a) * tb):.2f} s of video missing"
                    f" at {float(a * tb):.2f} s"
                )
    else:
        for prev, cur in itertools.pairwise(got.audio):
            gap = (cur.pts - prev.pts - prev.duration) * tb
            if prev.duration and gap > max(3 * prev.duration * tb, Fraction(1, 20)):
                raise MediaError(
                    f"the media file is damaged here: {float(gap):.2f} s of audio missing"
                    f" at {float(prev.pts * tb):.2f} s"
                )


def _typical(durations: list[int]) -> int:
    positive = sorted(d for d in durations if d > 0)
    return positive[len(positive) // 2] if positive else 1
