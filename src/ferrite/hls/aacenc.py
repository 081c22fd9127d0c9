"""AAC transcode of one segment, seamless with its neighbours (PyAV, worker thread).

For sources a client can't decode (AC-3 5.1, DTS, TrueHD, FLAC, ...). Each segment is
encoded on its own, yet the concatenation of all segments is one continuous AAC stream:

* **A global frame grid.** Output AAC frame ``k`` covers samples ``[A + 1024k,
  A + 1024(k+1))`` where ``A`` is the audio stream's first sample on the source timeline
  (the pts of its first packet, read once per file, so every segment agrees). A
  frame belongs to the segment whose span contains its start
  (:func:`ferrite.hls.timeline.aac_frame_range`). Frame ``-1`` is the encoder's priming
  frame (FFmpeg's encoder delay is exactly one frame) and is kept in segment 0 only, so
  the decoder's overlap-add has a predecessor for frame 0 as in any AAC file.
* **Sample positions independent of the seek.** Decoded source frames are placed by their
  pts snapped to the stream's own frame grid (Matroska rounds pts to milliseconds; we must
  not place the same sample 0.5 ms differently in two segments), then contiguously.
* **Pre-roll and look-ahead.** The source is decoded from ``DECODE_PREROLL_S`` before
  the first sample needed (decoder overlap and state settle), the encoder is fed
  ``PREROLL_FRAMES`` frames before the first frame kept (psychoacoustic and window-shape
  state match the previous segment's encoder) and two frames past the last one kept (an
  AAC frame's MDCT window reaches one frame ahead), and everything outside the segment's
  frames - priming, pre-roll, look-ahead - is dropped. Adjacent segments therefore
  overlap-add like one encode: no gap, no click.

Sample-rate conversion (sources above 96 kHz) goes through swresample; its filter state
is only approximately reproduced at boundaries (a few samples), which is the one case not
sample-exact. Channel down-mix (5.1 -> stereo) is a memoryless matrix and is exact.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av
import av.audio.codeccontext
import av.audio.resampler
import av.codec
import av.container
import av.error
import av.stream

from ferrite.errors import MediaError, Unprocessable
from ferrite.hls import fmp4
from ferrite.hls.demux import Packet, read_span, time_base
from ferrite.hls.timeline import AAC_FRAME, Span, aac_frame_range
from ferrite.media.bitstream import adts_frame

__all__ = [
    "AacTranscode",
    "EncodedFrame",
    "adts_frame",
    "audio_specific_config",
    "encode_span",
    "init_segment",
    "output_rate",
]

#: Encoder frames fed before the first frame a segment keeps.
PREROLL_FRAMES = 2
#: Encoder frames fed after the last frame a segment keeps (MDCT look-ahead + margin).
LOOKAHEAD_FRAMES = 2
#: How much source audio is decoded (and thrown away) before the first sample needed.
DECODE_PREROLL_S = Fraction(1, 2)

AAC_RATES = frozenset(
    {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000}
)
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


@dataclass(frozen=True, slots=True)
class AacTranscode:
    """An AAC-LC rendition of an audio stream."""

    channels: int = 2  # 1, 2, 6 (5.1) or 8 (7.1)
    bitrate: int | None = None  # bits/s; default 64 kb/s per channel
    sample_rate: int | None = None  # default: the source's, if AAC has it, else 48 kHz

    @property
    def layout(self) -> str:
        try:
            return _LAYOUTS[self.channels]
        except KeyError:
            raise Unprocessable(f"AAC rendition with {self.channels} channels") from None

    @property
    def bit_rate(self) -> int:
        return self.bitrate or 64000 * self.channels


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes  # raw AAC access unit
    pts: int  # first sample, in 1/output_rate on the source timeline
    duration: int


AudioContext = av.audio.codeccontext.AudioCodecContext


def audio_context(stream: av.stream.Stream) -> AudioContext:
    ctx = stream.codec_context
    if not isinstance(ctx, AudioContext):
        raise Unprocessable(f"stream {stream.index} is not audio")
    return ctx


def _create(name: str, mode: str) -> AudioContext:
    ctx = av.CodecContext.create(name, mode)  # type: ignore[call-overload]
    if not isinstance(ctx, AudioContext):
        raise MediaError(f"{name} is not an audio codec")
    return ctx


def output_rate(stream: av.stream.Stream, spec: AacTranscode) -> int:
    if spec.sample_rate:
        return spec.sample_rate
    rate = audio_context(stream).sample_rate
    return rate if rate in AAC_RATES else 48000


def _encoder(rate: int, spec: AacTranscode) -> AudioContext:
    enc = _create("aac", "w")
    enc.sample_rate = rate
    enc.layout = spec.layout
    enc.format = "fltp"
    enc.bit_rate = spec.bit_rate
    enc.time_base = Fraction(1, rate)
    enc.flags = enc.flags | _BITEXACT  # no encoder version string in the first frame
    enc.open()
    return enc


def audio_specific_config(stream: av.stream.Stream, spec: AacTranscode) -> bytes:
    extradata = _encoder(output_rate(stream, spec), spec).extradata
    if not extradata:
        raise MediaError("the AAC encoder gave no AudioSpecificConfig")
    return extradata


def init_segment(stream: av.stream.Stream, spec: AacTranscode) -> bytes:
    """fMP4 init of the AAC rendition: depends only on the output parameters."""
    rate = output_rate(stream, spec)
    buf = io.BytesIO()
    try:
        out = av.open(
            buf,
            "w",
            format="mp4",
            options={"movflags": "frag_custom+empty_moov+default_base_moof", "fflags": "+bitexact"},
        )
        try:
            ost = out.add_stream("aac", rate=rate)
            ost.layout = spec.layout
            ost.bit_rate = spec.bit_rate
            language = stream.metadata.get("language")
            if language:
                ost.metadata["language"] = language
            out.start_encoding()
        finally:
            out.close()
        return fmp4.normalize_init(buf.getvalue(), timescale=rate)
    except (av.error.FFmpegError, fmp4.BoxError) as exc:
        raise MediaError(f"cannot write the AAC init segment: {exc}") from exc


class _Pcm:
    """Planar float samples from ``start`` on, filled in order, gaps as silence."""

    def __init__(self, start: int, channels: int) -> None:
        self.start = start  # position of planes[c][0]
        self.end = start  # next position to fill
        self.planes = [bytearray() for _ in range(channels)]

    def add(self, pos: int, planes: list[bytes], n: int) -> None:
        if pos + n <= self.end:
            return
        if pos > self.end:
            gap = (pos - self.end) * 4
            for p in self.planes:
                p += bytes(gap)
            self.end = pos
        skip = (self.end - pos) * 4
        for p, src in zip(self.planes, planes, strict=True):
            p += src[skip : n * 4]
        self.end = pos + n

    def take(self, n: int) -> list[bytes]:
        out = [bytes(p[: n * 4]) for p in self.planes]
        for p in self.planes:
            del p[: n * 4]
        self.start += n
        return out


def encode_span(
    container: av.container.InputContainer,
    stream: av.stream.Stream,
    span: Span,
    spec: AacTranscode,
    first_pts: int,
) -> tuple[list[EncodedFrame], int]:
    """The AAC frames of segment ``span`` and the number of packets demuxed.

    ``first_pts`` is the pts of the stream's first packet (the grid's anchor; the caller
    reads it once per file).
    """
    in_rate = audio_context(stream).sample_rate
    if not in_rate:
        raise MediaError("audio stream without a sample rate")
    rate = output_rate(stream, spec)
    tb = time_base(stream)
    anchor = round(first_pts * tb * rate)
    anchor_in = round(first_pts * tb * in_rate)
    k0, k1 = aac_frame_range(anchor, rate, span.start, span.end)
    keep_from = anchor + AAC_FRAME * k0
    keep_to = anchor + AAC_FRAME * k1 if k1 is not None else None
    feed_from = anchor + AAC_FRAME * max(k0 - PREROLL_FRAMES, 0)
    feed_to = keep_to + AAC_FRAME * LOOKAHEAD_FRAMES if keep_to is not None else None

    src_start = None if feed_from == anchor else Fraction(feed_from, rate) - DECODE_PREROLL_S
    src_end = None if feed_to is None else Fraction(feed_to, rate) + DECODE_PREROLL_S
    got = read_span(container, Span(span.index, src_start, src_end), audio=stream)

    try:
        frames = _encode(stream, spec, got.audio, tb, in_rate, anchor_in, rate, feed_from, feed_to)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot transcode the audio: {exc}") from exc
    kept = [f for f in frames if f.pts >= keep_from and (keep_to is None or f.pts < keep_to)]
    return kept, got.demuxed


def _encode(
    stream: av.stream.Stream,
    spec: AacTranscode,
    packets: list[Packet],
    tb: Fraction,
    in_rate: int,
    anchor_in: int,
    rate: int,
    feed_from: int,
    feed_to: int | None,
) -> list[EncodedFrame]:
    decoder = _decoder(stream)
    resampler = av.audio.resampler.AudioResampler(format="fltp", layout=spec.layout, rate=rate)
    encoder = _encoder(rate, spec)
    pcm = _Pcm(feed_from, spec.channels)
    out: list[EncodedFrame] = []
    expected_in: int | None = None  # next input sample position if contiguous
    expected_out: int | None = None
    fed = feed_from
    done = False

    def emit(packets_out: list[av.Packet[av.stream.Stream]]) -> None:
        for p in packets_out:
            if p.pts is None:
                continue
            out.append(EncodedFrame(bytes(p), p.pts, p.duration or AAC_FRAME))

    def feed(n: int) -> None:
        nonlocal fed
        frame = av.AudioFrame(format="fltp", layout=spec.layout, samples=n)
        for plane, data in zip(frame.planes, pcm.take(n), strict=True):
            plane.update(data)
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = fed
        fed += n
        emit(encoder.encode(frame))

    def push(decoded: list[av.AudioFrame]) -> None:
        nonlocal expected_in, expected_out, done
        for frame in decoded:
            n_in = frame.samples
            if frame.pts is not None:
                raw = frame.pts * (frame.time_base or tb) * in_rate
            else:
                raw = Fraction(expected_in or anchor_in)
            if expected_in is None or abs(raw - expected_in) > max(n_in // 2, in_rate // 500):
                pos_in = _snap(raw, anchor_in, n_in, in_rate)
                expected_out = None
            else:
                pos_in = expected_in
            expected_in = pos_in + n_in
            for res in resampler.resample(frame):
                if expected_out is None:
                    expected_out = (
                        pos_in if rate == in_rate else round(Fraction(pos_in * rate, in_rate))
                    )
                planes = [bytes(p) for p in res.planes]
                pcm.add(expected_out, planes, res.samples)
                expected_out += res.samples
            while pcm.end - fed >= AAC_FRAME and (feed_to is None or fed < feed_to):
                feed(AAC_FRAME)
            if feed_to is not None and fed >= feed_to:
                done = True
                return

    for p in packets:
        pkt = av.Packet(p.data)
        pkt.pts = pkt.dts = p.pts
        pkt.time_base = tb
        push(decoder.decode(pkt))
        if done:
            return out
    push(decoder.decode(None))
    if done:
        return out
    # End of the file: the last, short frame, then drain the encoder.
    remaining = pcm.end - fed
    if remaining > 0:
        feed(remaining)
    emit(encoder.encode(None))
    return out


#: AV_CODEC_FLAG_BITEXACT.
_BITEXACT = 1 << 23
#: AV_CODEC_FLAG2_SKIP_MANUAL: decoders keep priming/padding samples instead of trimming.
_SKIP_MANUAL = 1 << 29


def _decoder(stream: av.stream.Stream) -> AudioContext:
    """A fresh decoder for ``stream``: no state from earlier segments, no sample trimming.

    (The container's own codec context would carry state between borrowers, and a decoder
    that trims its priming samples returns a short first frame at the file start only,
    which would place segment 0's samples differently from every other segment's.)
    """
    src = audio_context(stream)
    ctx = _create(src.name, "r")
    if src.extradata:
        ctx.extradata = src.extradata
    ctx.sample_rate = src.sample_rate
    ctx.layout = src.layout
    ctx.flags2 = ctx.flags2 | _SKIP_MANUAL
    return ctx


def _snap(raw: Fraction, anchor: int, frame: int, rate: int) -> int:
    """Position of a decoded frame: its pts on the stream's own frame grid when close."""
    if frame > 0:
        snapped = anchor + frame * round((raw - anchor) / frame)
        if abs(snapped - raw) <= Fraction(rate, 500):  # within 2 ms
            return snapped
    return round(raw)
