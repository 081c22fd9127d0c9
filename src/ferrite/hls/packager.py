"""Stream-copy segment packager: fMP4/CMAF and MPEG-TS segments, straight from the file.

A segment is a pure function of (file, rendition, segment index): the same arguments give
the same bytes in any order, in any process, and any segment fits with any other of any
rendition of the file. Everything here is blocking and CPU/IO-bound: call it from a worker
thread, never on the event loop.

What the HTTP layer calls (one :class:`Packager` per server; thread-safe)::

    pk = Packager()
    off = timeline_offset(info.start_time_s)                  # per file, see hls/timeline.py
    sp = span(plan_start_times, n)                            # Span(n, start, end), seconds
    pk.init_segment(src, stream_index)                        # fMP4 init, copy rendition
    pk.media_segment(src, stream_index, sp, offset=off)       # fMP4 segment n (video or audio)
    pk.init_segment(src, a, transcode=AacTranscode(2))        # AAC transcode rendition
    pk.media_segment(src, a, sp, offset=off, transcode=AacTranscode(2))
    pk.ts_segment(src, sp, offset=off, video_index=v, audio_index=a)   # muxed MPEG-TS
    pk.init_from_ts(ts_bytes)                                 # transcoded video: init ...
    pk.repackage_ts(ts_bytes, sp, offset=off, ts=False)       # ... and its segments

``src`` is a :class:`SourceFile` (path, size and mtime as scanned); a file that changed is
:class:`~ferrite.errors.MediaChanged`. Unreadable or corrupt data is
:class:`~ferrite.errors.MediaError` for that segment only. Open containers are pooled
per file (``hls/pool.py``), one borrower at a time.

How the bytes are made:

* fMP4 init: FFmpeg's mov muxer (through PyAV) writes the sample entry from the stream's
  codec parameters and its first packets (AC-3/E-AC-3 need a parsed frame); the rest of
  the ``moov`` is normalised by ``hls/fmp4.py``. It reads only the start of the file.
* fMP4 media: the span's packets (``hls/demux.py``), re-framed where needed (Annex B ->
  length-prefixed, ADTS stripped, in-band HEVC parameter sets dropped for ``hvc1``;
  ``media/bitstream.py``) and written as one ``moof``+``mdat`` by ``hls/fmp4.py``, with
  decode times derived from presentation times (``hls/timeline.py``).
* MPEG-TS: FFmpeg's mpegts muxer in memory with ``mpegts_copyts`` (no added mux delay:
  PTS = source pts + offset, 90 kHz, wrapping at 2**33), a PAT and PMT first
  (``hls/mpegts.py`` moves FFmpeg's SDT behind them) and
  ``initial_discontinuity`` (each segment restarts its continuity counters and says so)
  (``hls/tsmux.py``)
* AAC transcode: ``hls/aacenc.py``.
* Transcoded video (a transcode run's MPEG-TS segment, on the source timeline) goes
  through the same fragment writer, so every rendition shares timeline and boxes.

Per-file facts the rules need (the video reorder delay, the audio's first pts) are read
once from the start of the file and kept, keyed by the file's identity. A file's owner
may promise the delay (a torrent measures it on the first GOP while it arrives): segments
then wait for it rather than read the first GOPs themselves.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import av
import av.container
import av.error
import av.stream

from ferrite.errors import MediaError, Unprocessable
from ferrite.hls import aacenc, fmp4
from ferrite.hls.aacenc import AacTranscode
from ferrite.hls.demux import (
    Packet,
    SpanPackets,
    codec_name,
    read_span,
    seek_to_start,
    time_base,
)
from ferrite.hls.fragments import (
    FMP4_COPY_CODECS,
    check_continuity,
    copy_fragment,
    copy_init,
    track_of,
)
from ferrite.hls.pool import ContainerPool, SourceFile
from ferrite.hls.timeline import Span, reorder_delay, span, spans, timeline_offset, unwrap_ts
from ferrite.hls.tsmux import TS_COPY_CODECS, mux_ts

__all__ = [
    "AacTranscode",
    "Packager",
    "SourceFile",
    "Span",
    "span",
    "spans",
    "timeline_offset",
]

#: Keyframes (GOPs) at the start of a file over which the video reorder delay is measured.
_DELAY_PROBE_GOPS = 3
_DELAY_PROBE_PACKETS = 400
_FACT_CACHE_SIZE = 4096
#: How long a segment waits for a reorder delay its file's owner promised (its first GOP
#: arriving); then it measures the delay itself.
_PROMISE_WAIT_S = 60.0

_FactKey = tuple[str, int, int, int, str]


def _stream(container: av.container.InputContainer, index: int) -> av.stream.Stream:
    if not 0 <= index < len(container.streams):
        raise Unprocessable(f"the file has no stream {index}")
    return container.streams[index]


def _audio_only(stream: av.stream.Stream) -> None:
    if stream.type != "audio":
        raise Unprocessable("only audio streams can be transcoded to AAC here")


class Packager:
    """Makes init, fMP4 media and MPEG-TS segments. Thread-safe; see module docstring."""

    def __init__(self, pool: ContainerPool | None = None) -> None:
        self.pool = pool if pool is not None else ContainerPool()
        self._lock = threading.Lock()
        self.packets_demuxed = 0  # metric; tests use it to prove a segment reads little
        self._facts: OrderedDict[_FactKey, int] = OrderedDict()
        self._promised: dict[_FactKey, threading.Event] = {}

    def close(self) -> None:
        """Close the pooled containers (lent ones close when given back)."""
        self.pool.close()

    def _count(self, n: int) -> None:
        with self._lock:
            self.packets_demuxed += n

    # --- fMP4 -------------------------------------------------------------------------

    def init_segment(
        self, source: SourceFile, stream_index: int, *, transcode: AacTranscode | None = None
    ) -> bytes:
        """``ftyp``+``moov`` of the rendition of stream ``stream_index`` (copy or AAC)."""
        with self.pool.borrow(source) as container:
            stream = _stream(container, stream_index)
            if transcode is not None:
                _audio_only(stream)
                data = aacenc.init_segment(stream, transcode)
            else:
                data = copy_init(container, stream)
        self.pool.check(source)
        return data

    def media_segment(
        self,
        source: SourceFile,
        stream_index: int,
        span: Span,
        *,
        offset: int,
        transcode: AacTranscode | None = None,
    ) -> bytes:
        """Segment ``span.index`` of the fMP4 rendition of one stream (``moof``+``mdat``).

        ``offset`` is the file's :func:`timeline_offset` (seconds, the same for every
        rendition and segment of the file).
        """
        with self.pool.borrow(source) as container:
            stream = _stream(container, stream_index)
            if transcode is not None:
                _audio_only(stream)
                first = self._first_pts(source, container, stream)
                frames, demuxed = aacenc.encode_span(container, stream, span, transcode, first)
                self._count(demuxed)
                if not frames:
                    raise MediaError(f"no audio in segment {span.index}")
                rate = aacenc.output_rate(stream, transcode)
                samples = [fmp4.Sample(f.data, f.duration) for f in frames]
                data = fmp4.fragment(span.index + 1, 1, frames[0].pts + offset * rate, samples)
            else:
                track = track_of(stream)
                if track.codec not in FMP4_COPY_CODECS:
                    raise Unprocessable(f"{track.codec} cannot be stream-copied into fMP4")
                delay = 0
                if track.kind == "video":
                    delay = self._video_delay(source, container, stream)
                    got = read_span(container, span, video=stream)
                else:
                    got = read_span(container, span, audio=stream)
                self._count(got.demuxed)
                check_continuity(container, got, stream)
                data = copy_fragment(track, got, span, offset, delay)
        self.pool.check(source)
        return data

    # --- MPEG-TS ----------------------------------------------------------------------

    def ts_segment(
        self,
        source: SourceFile,
        span: Span,
        *,
        offset: int,
        video_index: int | None,
        audio_index: int | None,
        audio_transcode: AacTranscode | None = None,
    ) -> bytes:
        """Segment ``span.index`` as MPEG-TS carrying the video and/or one audio stream.

        The audio is copied (AAC, AC-3, E-AC-3, MP3) or, with ``audio_transcode``, encoded
        to AAC on the same global frame grid as the fMP4 transcode rendition.
        """
        with self.pool.borrow(source) as container:
            video = _stream(container, video_index) if video_index is not None else None
            audio = _stream(container, audio_index) if audio_index is not None else None
            copy_audio = audio if audio_transcode is None else None
            for st in (video, copy_audio):
                if st is not None and codec_name(st) not in TS_COPY_CODECS:
                    name = codec_name(st)
                    raise Unprocessable(f"{name} cannot be stream-copied into MPEG-TS")
            if video is None and audio is None:
                raise Unprocessable("an MPEG-TS segment needs a stream")
            got = SpanPackets()
            if video is not None or copy_audio is not None:
                got = read_span(container, span, video=video, audio=copy_audio)
            self._count(got.demuxed)
            for st in (video, copy_audio):
                if st is not None:
                    check_continuity(container, got, st)
            encoded: list[aacenc.EncodedFrame] = []
            if audio is not None and audio_transcode is not None:
                _audio_only(audio)
                first = self._first_pts(source, container, audio)
                encoded, demuxed = aacenc.encode_span(
                    container, audio, span, audio_transcode, first
                )
                self._count(demuxed)
            delay = self._video_delay(source, container, video) if video is not None else 0
            data = mux_ts(video, copy_audio, audio, audio_transcode, got, encoded, offset, delay)
        self.pool.check(source)
        return data

    # --- transcoded video ---------------------------------------------------------------

    def init_from_ts(self, data: bytes) -> bytes:
        """fMP4 init for the video of an MPEG-TS segment (a transcode run's output)."""
        with _open_bytes(data) as container:
            return copy_init(container, _first_video(container))

    def repackage_ts(self, data: bytes, span: Span, *, offset: int, ts: bool) -> bytes:
        """Re-package a transcode run's MPEG-TS segment like a stream-copy segment.

        ``data`` holds the GOPs of ``span`` with PTS on the source timeline (33-bit, as TS
        has them: they are unwrapped next to ``span``). Out comes an fMP4 fragment (same
        boxes and timeline as :meth:`media_segment`) or, with ``ts``, an MPEG-TS segment
        shifted by ``offset`` like :meth:`ts_segment`. Only the video is kept.
        """
        with _open_bytes(data) as container:
            video = _first_video(container)
            pkts = _all_video(container, video)
            tb = time_base(video)
            hint = span.start if span.start is not None else span.end
            if hint is not None:
                shift = unwrap_ts(pkts[0].pts, round(hint / tb)) - pkts[0].pts
                for p in pkts:
                    p.pts += shift
                    p.dts = None if p.dts is None else p.dts + shift
            got = SpanPackets(video=pkts, demuxed=len(pkts))
            if span.end is not None:
                # The run forced a keyframe at the next boundary (closed GOPs).
                got.video_next = round(span.end / tb)
            delay = reorder_delay([p.pts for p in pkts])
            if ts:
                return mux_ts(video, None, None, None, got, [], offset, delay)
            return copy_fragment(track_of(video), got, span, offset, delay)

    # --- per-file facts -----------------------------------------------------------------

    def promise_video_delay(
        self, sources: Sequence[SourceFile], stream_index: int
    ) -> Callable[[int | None], None]:
        """The owner of ``sources`` (versions of one file) is measuring the reorder delay
        of its video stream ``stream_index`` (a torrent's first GOP, which the player's
        first segment reads anyway): until it settles, a segment that needs the delay
        waits for it instead of reading the file's first GOPs itself. Returns
        ``settle(delay)``; ``settle(None)`` (the owner gave up) lets waiting segments
        measure it themselves. Settling twice is harmless."""
        keys = [_fact_key(source, stream_index, "delay") for source in sources]
        event = threading.Event()
        with self._lock:
            for key in keys:
                self._promised[key] = event

        def settle(delay: int | None) -> None:
            if delay is not None:
                for key in keys:
                    self._remember(key, delay)
            with self._lock:
                for key in keys:
                    if self._promised.get(key) is event:
                        del self._promised[key]
            event.set()

        return settle

    def _promise(self, key: _FactKey) -> int | None:
        """The delay an owner promised for ``key``, once settled (None: none promised,
        the owner gave up, or it took too long)."""
        with self._lock:
            event = self._promised.get(key)
        if event is None or not event.wait(_PROMISE_WAIT_S):
            return None
        return self._fact(key)

    def _fact(self, key: _FactKey) -> int | None:
        with self._lock:
            if key in self._facts:
                self._facts.move_to_end(key)
                return self._facts[key]
        return None

    def _remember(self, key: _FactKey, value: int) -> int:
        with self._lock:
            self._facts[key] = value
            while len(self._facts) > _FACT_CACHE_SIZE:
                self._facts.popitem(last=False)
        return value

    @staticmethod
    def _key(source: SourceFile, stream: av.stream.Stream, what: str) -> _FactKey:
        return _fact_key(source, stream.index, what)

    def _first_pts(
        self, source: SourceFile, container: av.container.InputContainer, stream: av.stream.Stream
    ) -> int:
        """Pts of the stream's first packet: the anchor of the AAC transcode grid."""
        key = self._key(source, stream, "first_pts")
        known = self._fact(key)
        if known is not None:
            return known
        try:
            seek_to_start(container, stream)
            first = next(
                (p.pts for p in container.demux(stream) if p.pts is not None and p.size), None
            )
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot read the media file: {exc}") from exc
        self._count(1)
        return self._remember(key, first if first is not None else stream.start_time or 0)

    def _video_delay(
        self, source: SourceFile, container: av.container.InputContainer, stream: av.stream.Stream
    ) -> int:
        """The stream's reorder delay ``D`` (see hls/timeline.py), measured once per file."""
        key = self._key(source, stream, "delay")
        known = self._fact(key)
        if known is None:
            known = self._promise(key)
        if known is not None:
            return known
        pts: list[int] = []
        keys = 0
        try:
            seek_to_start(container, stream)
            for pkt in container.demux(stream):
                if pkt.pts is None:
                    continue
                if pkt.is_keyframe:
                    keys += 1
                    if keys > _DELAY_PROBE_GOPS:
                        break
                if keys:
                    pts.append(pkt.pts)
                if len(pts) >= _DELAY_PROBE_PACKETS:
                    break
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot read the media file: {exc}") from exc
        self._count(len(pts))
        return self._remember(key, reorder_delay(pts))


def _fact_key(source: SourceFile, stream_index: int, what: str) -> _FactKey:
    return (os.fspath(source.path), source.size, source.mtime_ns, stream_index, what)


def _open_bytes(data: bytes) -> av.container.InputContainer:
    try:
        return av.open(io.BytesIO(data), "r", format="mpegts")
    except av.error.FFmpegError as exc:
        raise MediaError(f"the transcoder's output is not MPEG-TS: {exc}") from exc


def _first_video(container: av.container.InputContainer) -> av.stream.Stream:
    video = next((s for s in container.streams if s.type == "video"), None)
    if video is None:
        raise MediaError("the transcoder's output has no video")
    return video


def _all_video(container: av.container.InputContainer, video: av.stream.Stream) -> list[Packet]:
    try:
        pkts = [
            Packet(bytes(p), p.pts, p.dts, p.duration or 0, p.is_keyframe)
            for p in container.demux(video)
            if p.size and p.pts is not None
        ]
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read the transcoder's output: {exc}") from exc
    if not pkts:
        raise MediaError("the transcoder's output holds no video")
    return pkts
