"""Which renditions a playback offers: the decision and the ladder made into a StreamSet.

Pure: from the probed file, the device decision, the profile and the ladder to a
:class:`~ferrite.hls.renditions.StreamSet` (video rungs, one audio rendition per audio
track the device can take, one WebVTT rendition per text subtitle track).
"""

from __future__ import annotations

from dataclasses import replace

from ferrite.errors import NoPlayableMethod
from ferrite.hls.renditions import AudioTrack, StreamSet, TextTrack, VideoRendition
from ferrite.media.codecs import UnsupportedCodec, codec_string
from ferrite.media.info import MediaInfo, Stream, SubtitleTrack
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import AudioPlan, Decision, PlaybackRequest
from ferrite.playback.ladder import audio_rendition, build_ladder
from ferrite.playback.profiles import DeviceProfile


def build_stream_set(
    info: MediaInfo,
    decision: Decision,
    profile: DeviceProfile,
    request: PlaybackRequest,
    subtitle_tracks: tuple[tuple[int, SubtitleTrack], ...] = (),
    *,
    segment_copy_refusal: str | None = None,
) -> StreamSet:
    """The renditions of one playback; ``subtitle_tracks`` pairs database ids with tracks.
    ``segment_copy_refusal`` as for :func:`~ferrite.playback.decision.decide`."""
    if decision.segment_container is None or decision.video is None:
        raise NoPlayableMethod("this playback is not HLS")
    video_stream = next(s for s in info.streams if s.index == decision.video.stream_index)
    ladder = build_ladder(
        video_stream,
        decision,
        profile,
        max_bitrate=request.max_bitrate,
        max_height=request.max_height,
    )
    burn = decision.subtitle.choice if decision.burn_subtitle and decision.subtitle else None
    video = tuple(
        VideoRendition(
            rung.id,
            video_stream,
            rung,
            tone_map=decision.video.tone_map and not rung.copy,
            deinterlace=decision.video.deinterlace and not rung.copy,
            burn=None if rung.copy else burn,
        )
        for rung in ladder
    )
    audio = _audio_tracks(info, decision, profile, request, segment_copy_refusal)
    texts: tuple[TextTrack, ...] = ()
    if decision.subtitle is None or decision.subtitle.delivery != "burn":
        texts = tuple(TextTrack(f"s{tid}", tid, t) for tid, t in subtitle_tracks if t.is_text)
    return StreamSet(decision.segment_container, video, audio, texts)


def _audio_tracks(
    info: MediaInfo,
    decision: Decision,
    profile: DeviceProfile,
    request: PlaybackRequest,
    segment_copy_refusal: str | None,
) -> tuple[AudioTrack, ...]:
    """Every audio track as a rendition, each copied when the device decodes it."""
    chosen = decision.audio.stream_index if decision.audio else None
    tracks: list[AudioTrack] = []
    for stream in info.audio:
        plan: AudioPlan | None = decision.audio
        if stream.index != chosen or plan is None:
            try:
                other = replace(request, audio_stream=stream.index)
                refusal = segment_copy_refusal
                plan = decide(info, profile, other, segment_copy_refusal=refusal).audio
            except NoPlayableMethod:
                continue
            if plan is None:
                continue
            if plan.action == "copy" and not _copyable(stream, decision.segment_container):
                continue
        rendition = audio_rendition(plan)
        if rendition.copy and not _has_codec_string(stream):
            continue  # a CODECS attribute we can't write would break the master playlist
        tracks.append(
            AudioTrack(f"a{stream.index}-{rendition.id}", stream, rendition, stream.index == chosen)
        )
    return tuple(tracks)


def _has_codec_string(stream: Stream) -> bool:
    try:
        codec_string(stream)
    except UnsupportedCodec:
        return False
    return True


def _copyable(stream: Stream, container: str | None) -> bool:
    if container == "ts":
        return stream.codec in {"aac", "ac3", "eac3", "mp3"}
    return stream.codec in {"aac", "ac3", "eac3", "opus", "flac", "mp3", "alac"}
