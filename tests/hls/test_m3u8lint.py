"""The linter itself: valid playlists pass, each broken rule is reported clearly."""

from __future__ import annotations

import pytest

from tests.hls.m3u8lint import lint, lint_master, lint_media

MEDIA = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:3
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.500000,
0.m4s
#EXTINF:2.000000,
1.m4s?t=x
#EXT-X-ENDLIST
"""

MASTER = """\
#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="a/0.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="s",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="s/0.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1500000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=23.976,VIDEO-RANGE=SDR,AUDIO="a",SUBTITLES="s"
v/0.m3u8
"""


def test_valid_playlists_pass() -> None:
    assert lint_media(MEDIA) == []
    assert lint_master(MASTER) == []
    assert lint(MEDIA) == []
    assert lint(MASTER) == []
    assert lint_media(MEDIA.replace("\n", "\r\n")) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("#EXTM3U\n", "", "first line must be #EXTM3U"),
        ("#EXT-X-TARGETDURATION:3\n", "", "EXT-X-TARGETDURATION is missing"),
        ("#EXT-X-TARGETDURATION:3", "#EXT-X-TARGETDURATION:2", "rounds to 3, more than"),
        ("#EXT-X-TARGETDURATION:3", "#EXT-X-TARGETDURATION:2.5", "must be a decimal-integer"),
        ("#EXT-X-VERSION:6", "#EXT-X-VERSION:5", "EXT-X-MAP in a playlist without"),
        ("#EXT-X-VERSION:6\n", "", "EXT-X-VERSION is 1"),
        ("#EXT-X-VERSION:6", "#EXT-X-VERSION:6\n#EXT-X-VERSION:6", "may appear only once"),
        ("#EXTINF:2.000000,\n", "", "URI without a preceding EXTINF"),
        ("#EXTINF:2.000000,", "#EXTINF:2.000000", "the comma is required"),
        ("#EXTINF:2.000000,", "#EXTINF:abc,", "is not a decimal number"),
        ("#EXTINF:2.000000,", "#EXTINF:0.000000,", "is not positive"),
        ("0.m4s\n", "", "second EXTINF before a URI line"),
        ("#EXT-X-ENDLIST\n", "", "EXT-X-ENDLIST is missing"),
        ("#EXT-X-ENDLIST\n", "#EXT-X-ENDLIST\n#EXTINF:1.0,\n2.m4s\n", "segment after"),
        ("#EXT-X-ENDLIST\n", "#EXTINF:1.0,\n#EXT-X-ENDLIST\n", "apply to no segment"),
        ("#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:LIVE", "must be EVENT or VOD"),
        ("#EXT-X-INDEPENDENT-SEGMENTS\n", "", "EXT-X-INDEPENDENT-SEGMENTS is missing"),
        ("#EXT-X-ENDLIST", "#EXT-X-ENDLIST:YES", "takes no value"),
        ("#EXT-X-ENDLIST", "#EXT-X-ENDLST", "unknown tag #EXT-X-ENDLST"),
        ('URI="init.mp4"', "URI=init.mp4", "URI must be a quoted-string"),
        ('URI="init.mp4"', 'URI="init.mp4",URI="b.mp4"', "appears twice"),
        ('URI="init.mp4"', 'BYTERANGE="1@0"', "required attribute URI is missing"),
        ("0.m4s\n", "0.m4s\n#EXT-X-MEDIA-SEQUENCE:1\n", "before the first media segment"),
        ("0.m4s\n", "0.m4s\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "belongs in a master"),
        ("1.m4s?t=x", "1.m4s?t=x ", "trailing whitespace"),
        ("1.m4s?t=x", "1.m4s\x01", "control character"),
    ],
)
def test_media_rules(old: str, new: str, expected: str) -> None:
    text = MEDIA.replace(old, new, 1)
    assert text != MEDIA
    problems = lint_media(text)
    assert any(expected in p for p in problems), problems


def test_media_line_numbers_and_rfc_references() -> None:
    problems = lint_media(MEDIA.replace("#EXT-X-TARGETDURATION:3", "#EXT-X-TARGETDURATION:2"))
    assert problems == [
        "line 8: EXTINF 2.500000 rounds to 3, more than EXT-X-TARGETDURATION 2 (RFC 8216 4.3.3.1)"
    ]


def test_non_strict_media_allows_live_playlists() -> None:
    live = MEDIA.replace("#EXT-X-ENDLIST\n", "").replace("#EXT-X-PLAYLIST-TYPE:VOD\n", "")
    assert lint_media(live, strict=False) == []
    assert lint_media(live) != []


def test_byte_bom_is_reported() -> None:
    assert any("byte order mark" in p for p in lint_media("\ufeff" + MEDIA))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("BANDWIDTH=2000000,", "", "required attribute BANDWIDTH is missing"),
        ('CODECS="avc1.640028,mp4a.40.2",', "", "has no CODECS"),
        ('CODECS="avc1.640028,mp4a.40.2"', 'CODECS="avc1.640028"', "names no audio codec"),
        ("AVERAGE-BANDWIDTH=1500000", "AVERAGE-BANDWIDTH=3000000", "above BANDWIDTH"),
        ("AVERAGE-BANDWIDTH=1500000,", "", "has no AVERAGE-BANDWIDTH"),
        ("RESOLUTION=1920x1080,", "", "no RESOLUTION"),
        ("RESOLUTION=1920x1080", "RESOLUTION=1920*1080", "not a valid decimal-resolution"),
        ("FRAME-RATE=23.976,", "", "no FRAME-RATE"),
        ("FRAME-RATE=23.976", "FRAME-RATE=23.976024", "more than 3 decimals"),
        ("VIDEO-RANGE=SDR", "VIDEO-RANGE=HDR", "VIDEO-RANGE=HDR is not one of"),
        ("VIDEO-RANGE=SDR", 'VIDEO-RANGE="SDR"', "must not be quoted"),
        ('AUDIO="a",SUBTITLES', 'AUDIO="b",SUBTITLES', "AUDIO='b' names no EXT-X-MEDIA"),
        ('SUBTITLES="s"', 'SUBTITLES="a"', "SUBTITLES='a' names no EXT-X-MEDIA TYPE=SUBTITLES"),
        ("DEFAULT=YES,AUTOSELECT=YES", "DEFAULT=YES,AUTOSELECT=NO", "AUTOSELECT must be YES"),
        ('CHANNELS="2",', "", "without CHANNELS"),
        ('LANGUAGE="en",DEFAULT=YES', 'LANGUAGE="en_US",DEFAULT=YES', "not an RFC 5646"),
        (',URI="s/0.m3u8"', "", "TYPE=SUBTITLES needs a URI"),
        ('CHANNELS="2"', 'CHANNELS="2",FORCED=NO', "FORCED is only allowed"),
        ("v/0.m3u8\n", "", "without a URI line"),
        ("v/0.m3u8\n", "#EXT-X-INDEPENDENT-SEGMENTS\nv/0.m3u8\n", "must be followed by its URI"),
        ("v/0.m3u8\n", "v/0.m3u8\nv/1.m3u8\n", "URI line without a preceding EXT-X-STREAM-INF"),
        ("#EXT-X-INDEPENDENT-SEGMENTS\n", "#EXT-X-TARGETDURATION:2\n", "belongs in a media"),
        ('NAME="English",LANGUAGE="en",DEFAULT=NO', 'NAME="English",DEFAULT=NO', "[]"),
    ],
)
def test_master_rules(old: str, new: str, expected: str) -> None:
    text = MASTER.replace(old, new, 1)
    assert text != MASTER
    problems = lint_master(text)
    if expected == "[]":
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_master_group_rules() -> None:
    audio = MASTER.splitlines()[2]
    twice = MASTER.replace(audio, audio + "\n" + audio.replace("a/0.m3u8", "a/1.m3u8"))
    problems = lint_master(twice)
    assert any("more than one DEFAULT=YES" in p for p in problems)
    assert any("NAME 'English' is already used" in p for p in problems)
    cc = MASTER.replace(
        "#EXT-X-STREAM-INF:", '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC"\n'
        "#EXT-X-STREAM-INF:",
    )  # fmt: skip
    assert any("needs INSTREAM-ID" in p for p in lint_master(cc))
    service = cc.replace('NAME="CC"', 'NAME="CC",INSTREAM-ID="SERVICE1"')
    assert any("need EXT-X-VERSION 7" in p for p in lint_master(service))
    assert lint_master(service.replace("#EXTM3U\n", "#EXTM3U\n#EXT-X-VERSION:7\n")) == []


def test_master_without_variants() -> None:
    assert "the master playlist has no variant streams (EXT-X-STREAM-INF)" in lint_master(
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    )
