"""The playback decision: direct play, remux or transcode, and why.

``decide(info, profile, request)`` looks at one probed file (:class:`MediaInfo`), one
client (:class:`DeviceProfile`) and what the user asked for (:class:`PlaybackRequest`),
and returns a :class:`Decision`: the method, *every* reason the file can't simply be sent
as it is (stable codes, see :data:`REASONS`), and what to do with each part.

- **direct**: the client gets the file (HTTP Range). Only when the container, the chosen
  video/audio streams, the chosen subtitle and the bitrate all fit and HLS isn't required.
- **remux**: HLS, the video stream copied; the container, the audio (copied or
  transcoded to AAC) or the subtitle delivery (WebVTT) change.
- **transcode**: HLS, the video re-encoded to H.264 8-bit SDR (tone-mapped from HDR,
  deinterlaced, subtitles burned in as needed).

The decision is pure: no I/O, deterministic, and cheap enough to run per request. Its
records (the request, the plans, the :class:`Decision`) live in
:mod:`ferrite.playback.decision_records`.

Slightly over 500 lines on purpose: what is left is one rule set read top to bottom
(:func:`decide` and its HLS / progressive branches share the private reason, bitrate and
plan helpers); cutting it further would scatter one decision over modules.
"""

from __future__ import annotations

from typing import Final

from ferrite.errors import NoPlayableMethod, Unprocessable
from ferrite.media.codecnames import (
    normalize_audio_codec,
    normalize_container,
    normalize_video_codec,
)
from ferrite.media.info import MediaInfo, Stream
from ferrite.playback.decision_records import (
    REASONS,
    Action,
    AudioPlan,
    Decision,
    PlaybackRequest,
    ProgressiveContainer,
    SegmentContainer,
    SubtitleDelivery,
    SubtitlePlan,
    VideoPlan,
)
from ferrite.playback.profiles import DeviceProfile, VideoCaps

#: Video codecs a progressive fragmented MP4 can carry by stream copy.
_MP4_VIDEO = frozenset({"h264", "hevc", "av1", "vp9"})

#: Codecs our transcodes produce; the device must decode them.
TRANSCODE_VIDEO_CODEC: Final = "h264"
TRANSCODE_AUDIO_CODEC: Final = "aac"

# What HLS segments can carry (RFC 8216 + Apple's authoring spec + hls.js): fMP4 takes
# the modern codecs, MPEG-TS only the classic ones.
FMP4_VIDEO: Final = frozenset({"h264", "hevc", "av1", "vp9"})
FMP4_AUDIO: Final = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})
TS_VIDEO: Final = frozenset({"h264", "hevc", "mpeg2video"})
TS_AUDIO: Final = frozenset({"aac", "mp3", "ac3", "eac3", "mp2"})

#: AAC bitrates we encode at, by channel count.
AAC_BITRATES: Final = {1: 96_000, 2: 160_000, 6: 384_000}
# Rough bitrates of copied audio when the probe didn't know (for bitrate budgets only).
_AUDIO_BITRATE_GUESS: Final = {
    "ac3": 640_000,
    "eac3": 768_000,
    "dts": 1_536_000,
    "truehd": 4_000_000,
    "flac": 1_000_000,
}


class _Reasons:
    def __init__(self) -> None:
        self._codes: set[str] = set()

    def add(self, code: str) -> None:
        assert code in REASONS, code
        self._codes.add(code)

    def __contains__(self, code: str) -> bool:
        return code in self._codes

    def __bool__(self) -> bool:
        return bool(self._codes)

    def ordered(self) -> tuple[str, ...]:
        return tuple(c for c in REASONS if c in self._codes)


def _min_opt(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def bit_depth(stream: Stream) -> int:
    """The stream's bit depth, from the probe or its pixel format (8 if unknown)."""
    if stream.bit_depth:
        return stream.bit_depth
    fmt = stream.pix_fmt or ""
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in fmt:
            return depth
    if fmt.startswith(("p010", "x2rgb10", "x2bgr10", "y210", "v210")):
        return 10
    return 8


def _validate(info: MediaInfo, request: PlaybackRequest) -> None:
    if request.max_bitrate is not None and request.max_bitrate < 64_000:
        raise Unprocessable("max_bitrate: at least 64000 bits/s")
    if request.max_height is not None and request.max_height < 144:
        raise Unprocessable("max_height: at least 144")
    if request.start_s < 0:
        raise Unprocessable("start_s: must not be negative")
    if request.protocol not in ("auto", "hls"):
        raise Unprocessable(f"protocol: unknown protocol {request.protocol!r} (auto, hls)")
    sub = request.subtitle
    if sub is not None:
        if (sub.stream_index is None) == (sub.path is None):
            raise Unprocessable("subtitle_stream: exactly one of stream_index and path")
        if sub.stream_index is not None and not any(
            s.index == sub.stream_index and s.type == "subtitle" for s in info.streams
        ):
            raise Unprocessable(
                f"subtitle_stream: no subtitle stream with index {sub.stream_index}"
            )
        if not (sub.is_text or sub.is_image):
            raise Unprocessable(f"subtitle_stream: subtitle format {sub.codec!r} can't be shown")


def _pick_audio(info: MediaInfo, index: int | None) -> Stream | None:
    tracks = info.audio
    if index is not None:
        for s in tracks:
            if s.index == index:
                return s
        raise Unprocessable(f"audio_stream: no audio stream with index {index}")
    return next((s for s in tracks if s.default), tracks[0] if tracks else None)


def hdr_kind(video: Stream) -> str:
    """The stream's HDR kind, from the probe or, failing that, its transfer function."""
    if video.hdr != "none":
        return video.hdr
    return {"smpte2084": "hdr10", "arib-std-b67": "hlg"}.get(video.color_transfer or "", "none")


def _hdr_ok(video: Stream, kinds: frozenset[str]) -> bool:
    kind = hdr_kind(video)
    if kind == "none" or kind in kinds:
        return True
    # Dolby Vision profiles 8.1/7 carry an HDR10 base layer and 8.4 an HLG one: a device
    # without DV shows the base layer. Profile 5 (IPT, no fallback) signals neither.
    if kind == "dolby_vision":
        return (video.color_transfer == "smpte2084" and "hdr10" in kinds) or (
            video.color_transfer == "arib-std-b67" and "hlg" in kinds
        )
    return False


def _video_reasons(
    video: Stream, profile: DeviceProfile, max_height: int | None, reasons: _Reasons
) -> bool:
    """Add the reasons the video can't be copied; return whether it can."""
    before = set(reasons.ordered())
    codec = normalize_video_codec(video.codec)
    caps: VideoCaps | None = profile.video_caps(codec)
    if caps is None:
        reasons.add("video_codec_not_supported")
        hdr_kinds = frozenset(k for c in profile.video for k in c.hdr)
    else:
        hdr_kinds = caps.hdr
        if not caps.supports_profile(video.profile):
            reasons.add("video_profile_not_supported")
        if caps.max_level is not None and video.level is not None and video.level > caps.max_level:
            reasons.add("video_level_exceeds")
        if bit_depth(video) > caps.max_bit_depth:
            reasons.add("bit_depth_exceeds")
        if (caps.max_width is not None and (video.width or 0) > caps.max_width) or (
            caps.max_height is not None and (video.height or 0) > caps.max_height
        ):
            reasons.add("resolution_exceeds")
        if (
            caps.max_frame_rate is not None
            and video.frame_rate is not None
            and float(video.frame_rate) > caps.max_frame_rate + 0.01
        ):
            reasons.add("frame_rate_exceeds")
    if max_height is not None and (video.height or 0) > max_height:
        reasons.add("resolution_exceeds")
    if not _hdr_ok(video, hdr_kinds):
        reasons.add("hdr_not_supported")
    if video.interlaced and not profile.interlaced:
        reasons.add("interlaced")
    return set(reasons.ordered()) == before


def _audio_guess(stream: Stream) -> int:
    if stream.bitrate:
        return stream.bitrate
    codec = normalize_audio_codec(stream.codec)
    guess = _AUDIO_BITRATE_GUESS.get(codec)
    if guess is not None:
        return guess
    return 64_000 * max(2, stream.channels or 2)


def _aac_target(profile: DeviceProfile, source_channels: int | None) -> tuple[int, int]:
    caps = profile.audio_caps(TRANSCODE_AUDIO_CODEC)
    cap = caps.max_channels if caps is not None else 2
    src = source_channels or 2
    channels = 6 if src >= 6 and cap >= 6 else max(1, min(src, 2, cap))
    return channels, AAC_BITRATES[channels]


def _file_bitrate(info: MediaInfo) -> int | None:
    if info.bitrate:
        return info.bitrate
    known = [s.bitrate for s in info.streams if s.bitrate]
    return sum(known) if known else None


def _video_bitrate(info: MediaInfo, video: Stream) -> int | None:
    if video.bitrate:
        return video.bitrate
    total = _file_bitrate(info)
    if total is None:
        return None
    audio = sum(_audio_guess(s) for s in info.audio)
    return max(total - audio, total // 2)


def decide(
    info: MediaInfo,
    profile: DeviceProfile,
    request: PlaybackRequest,
    *,
    segment_copy_refusal: str | None = None,
) -> Decision:
    """Decide how ``profile`` plays ``info`` as asked by ``request``.

    ``segment_copy_refusal`` says why the video can't be cut into stream-copy HLS segments
    (``ferrite.hls.plan.Plans.copy_refusal``: ``keyframes_too_far``, ``open_gop``,
    ``no_keyframes``); HLS then transcodes the video, with that reason.

    Raises ``Unprocessable`` for a request naming streams the file doesn't have and
    ``NoPlayableMethod`` when nothing Ferrite can produce plays on the device.
    """
    _validate(info, request)
    reasons = _Reasons()
    limit = _min_opt(profile.max_bitrate, request.max_bitrate)
    video = info.video
    audio = _pick_audio(info, request.audio_stream)
    sub = request.subtitle

    if request.protocol == "hls" or not profile.direct_play:
        reasons.add("hls_required")
    elif normalize_container(info.container) not in profile.containers:
        reasons.add("container_not_supported")

    # Video: can the device decode the stream as it is?
    video_copy_ok = video is None or _video_reasons(video, profile, request.max_height, reasons)

    # Audio: can the device decode it as it is?
    audio_copy_ok = True
    if audio is not None:
        acaps = profile.audio_caps(audio.codec)
        if acaps is None:
            reasons.add("audio_codec_not_supported")
            audio_copy_ok = False
        elif (audio.channels or 2) > acaps.max_channels:
            reasons.add("audio_channels_exceed")
            audio_copy_ok = False
    audio_out_bitrate = 0
    if audio is not None:
        audio_out_bitrate = (
            _audio_guess(audio) if audio_copy_ok else _aac_target(profile, audio.channels)[1]
        )

    # Bitrate: the whole file for direct play; the video (+ delivered audio) for a copy.
    file_bitrate = _file_bitrate(info)
    video_bitrate = _video_bitrate(info, video) if video is not None else None
    if limit is not None:
        if file_bitrate is not None and file_bitrate > limit:
            reasons.add("bitrate_exceeds_limit")
        if video_bitrate is not None and video_bitrate + audio_out_bitrate > limit:
            reasons.add("bitrate_exceeds_limit")
            video_copy_ok = False

    # Subtitles: embedded/external only survive direct play; HLS carries WebVTT only.
    delivery: SubtitleDelivery | None = None
    if sub is not None:
        fmt = sub.format
        native = fmt in profile.subtitles
        could_direct = not reasons  # everything else fits so far
        if sub.burn:
            delivery = "burn"
        elif could_direct and native and sub.stream_index is not None:
            delivery = "embedded"
        elif sub.is_text and "webvtt" in profile.subtitles:
            delivery = "webvtt"
        elif could_direct and native and sub.external:
            delivery = "external"
        else:
            delivery = "burn"
            if not native and not (sub.is_text and "webvtt" in profile.subtitles):
                reasons.add("subtitle_format_not_supported")
        if delivery == "burn":
            reasons.add("subtitle_burn_in")
            if video is None:
                raise Unprocessable(
                    "subtitle_stream: can't burn subtitles into a file without video"
                )
            video_copy_ok = False

    if not reasons:
        return Decision(
            method="direct",
            reasons=(),
            video=_video_plan(info, video, "copy") if video is not None else None,
            audio=_audio_plan(profile, audio, copy=True),
            subtitle=SubtitlePlan(sub, delivery) if sub is not None and delivery else None,
            segment_container=None,
            max_bitrate=limit,
            max_height=request.max_height,
            start_s=request.start_s,
        )

    if not profile.hls:
        return _progressive(
            info,
            profile,
            request,
            reasons,
            video=video,
            audio=audio,
            video_copy_ok=video_copy_ok,
            audio_copy_ok=audio_copy_ok,
            limit=limit,
        )

    # HLS from here on.
    if video is None:
        reasons.add("no_video")
    elif segment_copy_refusal is not None and video_copy_ok:
        # An unindexed video (no_keyframes) has nothing to cut at either.
        reasons.add("open_gop" if segment_copy_refusal == "open_gop" else "keyframes_too_far")
        video_copy_ok = False

    # Pick the segment container (fMP4 first). A copied stream that no segment format
    # the device takes can carry gets transcoded: the audio first, it's cheaper.
    vcodec = normalize_video_codec(video.codec) if video is not None else None
    acodec = normalize_audio_codec(audio.codec) if audio is not None else None
    container: SegmentContainer | None = None
    for force_video, force_audio in ((False, False), (False, True), (True, False), (True, True)):
        v_out = TRANSCODE_VIDEO_CODEC if force_video or not video_copy_ok else vcodec
        a_out = TRANSCODE_AUDIO_CODEC if force_audio or not audio_copy_ok else acodec
        container = _segment_container(
            profile, v_out if video is not None else None, a_out if audio is not None else None
        )
        if container is not None:
            if force_video and video_copy_ok and video is not None:
                reasons.add("video_codec_not_supported")
                video_copy_ok = False
            if force_audio and audio_copy_ok and audio is not None:
                reasons.add("audio_codec_not_supported")
                audio_copy_ok = False
            break
    if container is None:  # pragma: no cover - H.264/AAC fit both formats
        raise NoPlayableMethod(f"device {profile.name!r}: no HLS segment format fits")

    if video is not None and not video_copy_ok:
        caps = profile.video_caps(TRANSCODE_VIDEO_CODEC)
        encodable = {"high", "main", "constrainedbaseline"}
        if caps is None or (caps.profiles is not None and not caps.profiles & encodable):
            raise NoPlayableMethod(
                f"device {profile.name!r} can't play this video ({', '.join(reasons.ordered())}) "
                f"and doesn't decode H.264, the codec Ferrite transcodes to"
            )
    aac = profile.audio_caps(TRANSCODE_AUDIO_CODEC)
    if audio is not None and not audio_copy_ok and aac is None:
        raise NoPlayableMethod(
            f"device {profile.name!r} can't play this audio ({', '.join(reasons.ordered())}) "
            f"and doesn't decode AAC, the codec Ferrite transcodes to"
        )

    video_plan = None
    if video is not None:
        video_plan = _video_plan(info, video, "copy" if video_copy_ok else "transcode")
    audio_plan = _audio_plan(profile, audio, copy=audio_copy_ok)
    transcoding = (video_plan is not None and video_plan.action == "transcode") or (
        video_plan is None and audio_plan is not None and audio_plan.action == "transcode"
    )
    return Decision(
        method="transcode" if transcoding else "remux",
        reasons=reasons.ordered(),
        video=video_plan,
        audio=audio_plan,
        subtitle=SubtitlePlan(sub, delivery) if sub is not None and delivery else None,
        segment_container=container,
        max_bitrate=limit,
        max_height=request.max_height,
        start_s=request.start_s,
    )


def _progressive(
    info: MediaInfo,
    profile: DeviceProfile,
    request: PlaybackRequest,
    reasons: _Reasons,
    *,
    video: Stream | None,
    audio: Stream | None,
    video_copy_ok: bool,
    audio_copy_ok: bool,
    limit: int | None,
) -> Decision:
    """A device that plays files but not HLS gets one progressive stream (fragmented MP4
    or Matroska from ffmpeg, starting where asked): video copied when it can decode it,
    else H.264; audio copied or AAC; a chosen subtitle can only be burned in."""
    containers = {normalize_container(c) for c in profile.containers}
    kind: ProgressiveContainer | None = (
        "mp4" if "mp4" in containers else "matroska" if "matroska" in containers else None
    )
    if kind is None:
        raise NoPlayableMethod(
            f"device {profile.name!r} can't play this file directly "
            f"({', '.join(reasons.ordered())}), doesn't support HLS, and takes neither MP4 "
            "nor Matroska"
        )
    sub = request.subtitle
    if sub is not None:
        reasons.add("subtitle_burn_in")
        video_copy_ok = False
    if video is not None and kind == "mp4" and normalize_video_codec(video.codec) not in _MP4_VIDEO:
        video_copy_ok = False
    if (
        video is not None
        and not video_copy_ok
        and profile.video_caps(TRANSCODE_VIDEO_CODEC) is None
    ):
        raise NoPlayableMethod(
            f"device {profile.name!r} can't play this video ({', '.join(reasons.ordered())}) "
            "and doesn't decode H.264, the codec Ferrite transcodes to"
        )
    if (
        audio is not None
        and not audio_copy_ok
        and profile.audio_caps(TRANSCODE_AUDIO_CODEC) is None
    ):
        raise NoPlayableMethod(
            f"device {profile.name!r} can't play this audio ({', '.join(reasons.ordered())}) "
            "and doesn't decode AAC, the codec Ferrite transcodes to"
        )
    video_plan = None
    if video is not None:
        video_plan = _video_plan(info, video, "copy" if video_copy_ok else "transcode")
    audio_plan = _audio_plan(profile, audio, copy=audio_copy_ok)
    transcoding = video_plan is not None and video_plan.action == "transcode"
    return Decision(
        method="transcode" if transcoding else "remux",
        reasons=reasons.ordered(),
        video=video_plan,
        audio=audio_plan,
        subtitle=SubtitlePlan(sub, "burn") if sub is not None else None,
        segment_container=None,
        max_bitrate=limit,
        max_height=request.max_height,
        start_s=request.start_s,
        progressive=kind,
    )


def _segment_container(
    profile: DeviceProfile, vcodec: str | None, acodec: str | None
) -> SegmentContainer | None:
    if profile.hls_fmp4 and vcodec in (None, *FMP4_VIDEO) and acodec in (None, *FMP4_AUDIO):
        return "fmp4"
    if profile.hls_ts and vcodec in (None, *TS_VIDEO) and acodec in (None, *TS_AUDIO):
        return "ts"
    return None


def _video_plan(info: MediaInfo, video: Stream, action: Action) -> VideoPlan:
    transcode = action == "transcode"
    hdr = hdr_kind(video) != "none"
    codec = normalize_video_codec(video.codec)
    return VideoPlan(
        stream_index=video.index,
        action=action,
        codec=TRANSCODE_VIDEO_CODEC if transcode else codec,
        source_codec=codec,
        width=video.width,
        height=video.height,
        frame_rate=video.frame_rate,
        bitrate=_video_bitrate(info, video),
        tone_map=transcode and hdr,
        deinterlace=transcode and video.interlaced,
    )


def _audio_plan(profile: DeviceProfile, audio: Stream | None, *, copy: bool) -> AudioPlan | None:
    if audio is None:
        return None
    codec = normalize_audio_codec(audio.codec)
    if copy:
        return AudioPlan(
            stream_index=audio.index,
            action="copy",
            codec=codec,
            channels=audio.channels or 2,
            bitrate=_audio_guess(audio),
            source_codec=codec,
            source_channels=audio.channels,
        )
    channels, bitrate = _aac_target(profile, audio.channels)
    return AudioPlan(
        stream_index=audio.index,
        action="transcode",
        codec=TRANSCODE_AUDIO_CODEC,
        channels=channels,
        bitrate=bitrate,
        source_codec=codec,
        source_channels=audio.channels,
    )
