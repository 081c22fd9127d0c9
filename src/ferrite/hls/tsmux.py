"""MPEG-TS segments through FFmpeg's mpegts muxer, in memory (PyAV).

``mpegts_copyts`` keeps the muxer from adding its mux delay (1.4 s by default) to every
timestamp, so PTS = source pts + timeline offset in 90 kHz; values past 2**33 wrap as the
format does. ``initial_discontinuity`` flags the first packet of every PID: each segment
starts its continuity counters afresh, and says so. ``hls/mpegts.py`` then puts the PAT
and PMT in front of FFmpeg's SDT (RFC 8216 §3.2).
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import av.error
import av.stream

from ferrite.errors import MediaError
from ferrite.hls import aacenc, mpegts
from ferrite.hls.aacenc import AacTranscode
from ferrite.hls.demux import SpanPackets, time_base
from ferrite.hls.timeline import reorder_delay

__all__ = ["TS_COPY_CODECS", "mux_ts"]

#: Codecs we copy into MPEG-TS.
TS_COPY_CODECS = frozenset({"h264", "hevc", "aac", "ac3", "eac3", "mp3"})
_TS_OPTIONS = {
    "mpegts_copyts": "1",
    "mpegts_flags": "+initial_discontinuity",
    "avoid_negative_ts": "disabled",
    "fflags": "+bitexact",
}


def mux_ts(
    video: av.stream.Stream | None,
    copy_audio: av.stream.Stream | None,
    audio: av.stream.Stream | None,
    transcode: AacTranscode | None,
    got: SpanPackets,
    encoded: list[aacenc.EncodedFrame],
    offset: int,
    delay: int,
) -> bytes:
    """One MPEG-TS segment from a span's packets (and/or transcoded AAC frames).

    ``video``/``copy_audio`` are the source streams whose packets ``got`` holds (their
    codec parameters become the PMT); ``audio`` + ``transcode`` add ``encoded`` AAC frames
    (ADTS-framed here). Timestamps: source time + ``offset`` s in 90 kHz; video decode
    times are the derived ones of ``hls/timeline.py`` with reorder delay ``delay``.
    """
    buf = io.BytesIO()
    ts90 = Fraction(90000)
    try:
        out = av.open(buf, "w", format="mpegts", options=dict(_TS_OPTIONS))
        try:
            packets: list[av.Packet[av.stream.Stream]] = []
            if video is not None:
                ov = out.add_stream_from_template(video, opaque=True)
                vtb = time_base(video)
                # Same decode times as the fMP4 rendition. A TS needs dts <= pts: a segment
                # reordering deeper than the file's start did gets its own, larger delay.
                pts = [p.pts for p in got.video]
                seg_delay = max(delay, reorder_delay(pts))
                dts = [o - seg_delay for o in sorted(pts)]
                for p, d in zip(got.video, dts, strict=True):
                    pkt = av.Packet(p.data)
                    pkt.stream = ov
                    pkt.time_base = Fraction(1, 90000)
                    pkt.pts = round((p.pts * vtb + offset) * ts90)
                    pkt.dts = round((d * vtb + offset) * ts90)
                    pkt.is_keyframe = p.keyframe
                    packets.append(pkt)
            if copy_audio is not None:
                oa = out.add_stream_from_template(copy_audio, opaque=True)
                atb = time_base(copy_audio)
                for p in got.audio:
                    pkt = av.Packet(p.data)
                    pkt.stream = oa
                    pkt.time_base = Fraction(1, 90000)
                    pkt.pts = pkt.dts = round((p.pts * atb + offset) * ts90)
                    pkt.is_keyframe = True
                    packets.append(pkt)
            elif audio is not None and transcode is not None:
                rate = aacenc.output_rate(audio, transcode)
                oa = out.add_mux_stream("aac", rate=rate)
                asc = aacenc.audio_specific_config(audio, transcode)
                for f in encoded:
                    pkt = av.Packet(aacenc.adts_frame(asc, f.data))
                    pkt.stream = oa
                    pkt.time_base = Fraction(1, 90000)
                    pkt.pts = pkt.dts = round((Fraction(f.pts, rate) + offset) * ts90)
                    pkt.is_keyframe = True
                    packets.append(pkt)
            # Interleave by decode time, as a TS muxer expects (stable: per-stream order kept).
            packets.sort(key=lambda q: q.dts if q.dts is not None else 0)
            for pkt in packets:
                out.mux(pkt)
        finally:
            out.close()
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot write an MPEG-TS segment: {exc}") from exc
    return mpegts.pat_pmt_first(buf.getvalue())
