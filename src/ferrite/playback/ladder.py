"""The ABR ladder: which video renditions a playback offers.

``build_ladder`` returns the source rendition (stream copy, when the decision lets the
device decode the source as it is) followed by H.264 rungs strictly below it in
resolution and bitrate, each capped by the device's limits (H.264 level, size, frame
rate, bitrate) and by the request's ``max_bitrate``/``max_height``. Rung ids (``copy``,
``1080p``, ``720p`` ...) are stable for a given source and limits, so they can sit in
segment URLs and cache keys.

Bitrates are the nominal H.264 targets below (average, used as ``AVERAGE-BANDWIDTH``),
scaled by the rung's pixel count for non-16:9 pictures, by 1.5 above 30 fps, and never
above what the source itself carries (an efficiency factor converts HEVC/VP9/AV1 bits to
H.264 bits). The encoder runs capped CRF with ``maxrate``/``bufsize`` from the rung, so
``maxrate`` is also the peak to announce as ``BANDWIDTH`` (plus audio).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Final

from ferrite.media.codecnames import normalize_video_codec
from ferrite.media.info import Stream
from ferrite.media.renditions import AudioRendition, Rung
from ferrite.playback.decision_records import AudioPlan, Decision
from ferrite.playback.profiles import DeviceProfile, VideoCaps

#: (id, box width, box height, nominal H.264 bitrate at <= 30 fps)
STANDARD_RUNGS: Final = (
    ("2160p", 3840, 2160, 16_000_000),
    ("1080p", 1920, 1080, 6_000_000),
    ("720p", 1280, 720, 3_000_000),
    ("480p", 854, 480, 1_400_000),
    ("360p", 640, 360, 800_000),
)
#: Only offered when nothing above fits the bitrate budget.
FALLBACK_RUNG: Final = ("240p", 426, 240, 400_000)
HIGH_FRAME_RATE_FACTOR: Final = 1.5
MIN_VIDEO_BITRATE: Final = 64_000
# H.264 bits needed for the same quality as one bit of the source codec (rough, for
# "don't spend more than the source had" only).
_EFFICIENCY: Final = {"hevc": 1.5, "vp9": 1.4, "av1": 1.8, "h264": 1.0, "mpeg2video": 0.6}
_DEFAULT_FPS: Final = 30.0

# H.264 Annex A table A-1: level -> (MaxMBPS, MaxFS, MaxBR in kbit/s for Main; High
# allows 1.25x). Levels are ffmpeg integers (41 = 4.1).
_H264_LEVELS: Final = (
    (10, 1_485, 99, 64),
    (11, 3_000, 396, 192),
    (12, 6_000, 396, 384),
    (13, 11_880, 396, 768),
    (20, 11_880, 396, 2_000),
    (21, 19_800, 792, 4_000),
    (22, 20_250, 1_620, 4_000),
    (30, 40_500, 1_620, 10_000),
    (31, 108_000, 3_600, 14_000),
    (32, 216_000, 5_120, 20_000),
    (40, 245_760, 8_192, 20_000),
    (41, 245_760, 8_192, 50_000),
    (42, 522_240, 8_704, 50_000),
    (50, 589_824, 22_080, 135_000),
    (51, 983_040, 36_864, 240_000),
    (52, 2_073_600, 36_864, 240_000),
    (60, 4_177_920, 139_264, 240_000),
    (61, 8_355_840, 139_264, 480_000),
    (62, 16_711_680, 139_264, 800_000),
)


def audio_rendition(plan: AudioPlan) -> AudioRendition:
    copy = plan.action == "copy"
    return AudioRendition(
        id="copy" if copy else f"aac-{plan.channels}ch",
        stream_index=plan.stream_index,
        codec=plan.codec,
        channels=plan.channels,
        bitrate=plan.bitrate or 0,
        copy=copy,
    )


def h264_level(width: int, height: int, fps: float, maxrate: int, profile: str = "high") -> int:
    """The lowest H.264 level (ffmpeg integer) that allows this size, rate and bitrate."""
    mbs = math.ceil(width / 16) * math.ceil(height / 16)
    mbps = mbs * fps
    max_dim_mbs = max(math.ceil(width / 16), math.ceil(height / 16))
    factor = 1.25 if profile == "high" else 1.0
    for level, max_mbps, max_fs, max_br in _H264_LEVELS:
        if (
            mbs <= max_fs
            and mbps <= max_mbps
            and max_dim_mbs**2 <= max_fs * 8
            and maxrate <= max_br * 1000 * factor
        ):
            return level
    return 62 + 1  # beyond every level: no device will take it


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def _fit(src_w: int, src_h: int, box_w: int | None, box_h: int | None) -> tuple[int, int]:
    scale = 1.0
    if box_w is not None:
        scale = min(scale, box_w / src_w)
    if box_h is not None:
        scale = min(scale, box_h / src_h)
    if scale >= 1.0:
        return src_w, src_h
    return _even(src_w * scale), _even(src_h * scale)


def _out_frame_rate(src: Fraction | None, cap: float | None) -> Fraction | None:
    """Halve/third/... the source rate to fit the device (60 -> 30, 50 -> 25), so frames
    are dropped evenly instead of juddering."""
    if src is None or cap is None or float(src) <= cap + 0.01:
        return src
    return src / math.ceil(float(src) / cap - 0.001)


def _h264_profile(caps: VideoCaps) -> str:
    if caps.profiles is None or "high" in caps.profiles:
        return "high"
    if "main" in caps.profiles:
        return "main"
    return "baseline"


def _min_opt(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def build_ladder(
    video: Stream,
    decision: Decision,
    profile: DeviceProfile,
    *,
    max_bitrate: int | None = None,
    max_height: int | None = None,
) -> tuple[Rung, ...]:
    """The renditions to offer for ``video``, best first. Never empty."""
    src_w = video.width or 1920
    src_h = video.height or 1080
    src_codec = normalize_video_codec(video.codec)
    plan = decision.video
    src_bitrate = (plan.bitrate if plan is not None else None) or video.bitrate
    limit = _min_opt(max_bitrate, decision.max_bitrate, profile.max_bitrate)
    audio_reserve = (decision.audio.bitrate or 0) if decision.audio is not None else 0
    budget = None if limit is None else max(limit - audio_reserve, limit // 2, MIN_VIDEO_BITRATE)
    height_cap = _min_opt(max_height, decision.max_height)

    rungs: list[Rung] = []
    copy_allowed = (
        plan is not None
        and plan.action == "copy"
        and (budget is None or src_bitrate is None or src_bitrate <= budget)
        and (height_cap is None or src_h <= height_cap)
    )
    if copy_allowed:
        bitrate = src_bitrate or _nominal(src_w, src_h, video.frame_rate, _spec_for(src_h))
        rungs.append(
            Rung(
                id="copy",
                codec=src_codec,
                width=src_w,
                height=src_h,
                bitrate=bitrate,
                maxrate=bitrate,  # the source's peak is unknown here
                bufsize=2 * bitrate,
                frame_rate=video.frame_rate,
                copy=True,
            )
        )

    caps = profile.video_caps("h264")
    if caps is None:
        if rungs:
            return tuple(rungs)
        raise ValueError(f"device {profile.name!r} decodes no H.264: nothing to transcode to")
    h264_profile = _h264_profile(caps)
    box_h_cap = _min_opt(height_cap, caps.max_height)
    box_w_cap = caps.max_width
    out_fps = _out_frame_rate(video.frame_rate, caps.max_frame_rate)

    def make(spec: tuple[str, int, int, int], *, fallback: bool = False) -> Rung | None:
        name, box_w, box_h, _ = spec
        natural = _fit(src_w, src_h, box_w, box_h)
        w, h = _fit(src_w, src_h, _min_opt(box_w, box_w_cap), _min_opt(box_h, box_h_cap))
        # Named after the box it fills (1920x800 is "1080p"), else after its own height
        # (a 320x180 source, a max_height of 600).
        rung_id = name if (w, h) == natural and (w == box_w or h == box_h) else f"{h}p"
        if copy_allowed and h >= src_h:
            return None  # strictly below the source
        fps = out_fps
        bitrate = _nominal(w, h, fps, spec)
        if src_bitrate:
            ratio = (w * h) / (src_w * src_h)
            bitrate = min(bitrate, int(src_bitrate * _EFFICIENCY.get(src_codec, 1.0) * ratio**0.75))
            if copy_allowed and bitrate >= src_bitrate:
                return None
        if budget is not None:
            if bitrate * 0.6 > budget and not fallback:
                return None
            bitrate = min(bitrate, budget)
        bitrate = max(bitrate, MIN_VIDEO_BITRATE)
        level = h264_level(w, h, float(fps or _DEFAULT_FPS), bitrate, h264_profile)
        too_high = caps.max_level is not None and level > caps.max_level
        if too_high and fps is not None and float(fps) > 30.5:
            # Try the half frame rate before giving the rung up (1080p60 on a 4.1 device).
            fps = fps / 2
            level = h264_level(w, h, float(fps), bitrate, h264_profile)
        if caps.max_level is not None and level > caps.max_level and not fallback:
            return None
        return Rung(
            id=rung_id,
            codec="h264",
            width=w,
            height=h,
            bitrate=bitrate,
            maxrate=bitrate,
            bufsize=2 * bitrate,
            frame_rate=fps,
            profile=h264_profile,
            level=min(level, caps.max_level) if caps.max_level is not None else level,
        )

    # Smallest box first, so a capped big box that lands on a smaller box's size doesn't
    # steal its id; then best first.
    seen: set[tuple[int, int]] = set()
    transcoded: list[Rung] = []
    for spec in reversed(STANDARD_RUNGS):
        rung = make(spec)
        if rung is not None and (rung.width, rung.height) not in seen:
            seen.add((rung.width, rung.height))
            transcoded.append(rung)
    transcoded.reverse()
    rungs.extend(transcoded)
    if not rungs:
        fallback = make(FALLBACK_RUNG, fallback=True)
        if fallback is None:  # only when copy is allowed, which added a rung
            raise AssertionError("unreachable")
        rungs.append(fallback)
    return tuple(rungs)


def _spec_for(height: int) -> tuple[str, int, int, int]:
    """The smallest standard box at least ``height`` tall (the biggest if none is)."""
    for spec in reversed(STANDARD_RUNGS):
        if spec[2] >= height:
            return spec
    return STANDARD_RUNGS[0]


def _nominal(w: int, h: int, fps: Fraction | None, spec: tuple[str, int, int, int]) -> int:
    _, box_w, box_h, nominal = spec
    pixels = min(1.0, (w * h) / (box_w * box_h))
    rate = nominal * pixels**0.75
    if fps is not None and float(fps) > 31:
        rate *= HIGH_FRAME_RATE_FACTOR
    return int(rate)
