"""build_stream_set: the decision and the ladder made into the renditions a session offers."""

from __future__ import annotations

import pytest

from ferrite.errors import NoPlayableMethod
from ferrite.media.info import MediaInfo, SubtitleTrack
from ferrite.media.subtitles import SubtitleChoice
from ferrite.playback.decision import decide
from ferrite.playback.decision_records import PlaybackRequest
from ferrite.playback.devices import get_profile
from ferrite.playback.ladder import build_ladder
from ferrite.playback.streamset import build_stream_set
from tests.playback import samples as s


def _tracks(info: MediaInfo) -> tuple[tuple[int, SubtitleTrack], ...]:
    """The file's subtitle tracks with database ids 10, 11, ..."""
    return tuple((10 + i, t) for i, t in enumerate(info.subtitles))


def test_hdr_hevc_for_chrome_every_audio_track_and_the_text_subtitles() -> None:
    info, profile, request = s.MKV_HEVC10_HDR10, get_profile("chrome"), PlaybackRequest()
    decision = decide(info, profile, request)
    streams = build_stream_set(info, decision, profile, request, _tracks(info))

    assert info.video is not None
    ladder = build_ladder(info.video, decision, profile)
    assert [v.id for v in streams.video] == [r.id for r in ladder]
    assert all(not v.copy and v.tone_map for v in streams.video)  # HDR HEVC: transcoded
    assert streams.container == decision.segment_container
    # The default (AC-3 5.1) track becomes AAC for Chrome; the French AAC is copied.
    assert [(a.id, a.default) for a in streams.audio] == [("a1-aac-2ch", True), ("a2-copy", False)]
    assert [t.id for t in streams.subtitles] == ["s10", "s11"]  # SubRip and ASS are text


def test_a_burned_subtitle_is_drawn_into_transcoded_rungs_and_not_listed() -> None:
    info, profile = s.MKV_H264_PGS, get_profile("chrome")
    pgs = SubtitleChoice(codec="hdmv_pgs_subtitle", stream_index=2)
    request = PlaybackRequest(subtitle=pgs)
    decision = decide(info, profile, request)
    streams = build_stream_set(info, decision, profile, request)

    assert streams.video
    assert not any(v.copy for v in streams.video)
    assert all(v.burn == pgs for v in streams.video)
    assert streams.subtitles == ()


def test_direct_play_has_no_stream_set() -> None:
    info, profile, request = s.MP4_H264_AAC, get_profile("chrome"), PlaybackRequest()
    decision = decide(info, profile, request)
    assert decision.method == "direct"
    with pytest.raises(NoPlayableMethod):
        build_stream_set(info, decision, profile, request)
