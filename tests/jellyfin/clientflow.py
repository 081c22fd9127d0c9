"""The jellyfin-apiclient-python flow, shared by the end-to-end test and the benchmark:
connect to the address, log in, browse, PlaybackInfo with a DeviceProfile, decode the
returned URL with FFmpeg (PyAV), report playing/progress/stopped.

Every HTTP exchange the library makes is recorded (:class:`Recorder`) so the test can
check each response against the Jellyfin OpenAPI document.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import av
import requests
from jellyfin_apiclient_python import JellyfinClient

#: A native player's profile: MP4/Matroska files with H.264 or HEVC and AAC play as they
#: are; anything else comes as HLS (MPEG-TS, H.264/AAC).
DIRECT_PROFILE: dict[str, Any] = {
    "Name": "pytest direct",
    "MaxStreamingBitrate": 120_000_000,
    "DirectPlayProfiles": [
        {"Container": "mp4,mkv", "Type": "Video", "VideoCodec": "h264,hevc", "AudioCodec": "aac"}
    ],
    "TranscodingProfiles": [
        {
            "Container": "ts",
            "Type": "Video",
            "VideoCodec": "h264",
            "AudioCodec": "aac",
            "Protocol": "hls",
            "MaxAudioChannels": "2",
        }
    ],
    "CodecProfiles": [
        {
            "Type": "Video",
            "Codec": "h264",
            "Conditions": [
                {"Condition": "LessThanEqual", "Property": "VideoLevel", "Value": "51"},
                {
                    "Condition": "EqualsAny",
                    "Property": "VideoProfile",
                    "Value": "high|main|baseline|constrained baseline",
                },
                {"Condition": "LessThanEqual", "Property": "VideoBitDepth", "Value": "8"},
            ],
        }
    ],
    "SubtitleProfiles": [
        {"Format": "vtt", "Method": "Hls"},
        {"Format": "srt", "Method": "External"},
    ],
}
#: An HLS-only player (no DirectPlayProfiles): everything comes over HLS.
HLS_PROFILE: dict[str, Any] = {k: v for k, v in DIRECT_PROFILE.items() if k != "DirectPlayProfiles"}


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    content_type: str
    body: bytes


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Recorder]:
        original = requests.Session.send

        def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            response = original(session, request, **kwargs)
            if not kwargs.get("stream"):
                self.exchanges.append(
                    Exchange(
                        request.method,
                        urlsplit(request.url).path,
                        response.status_code,
                        response.headers.get("content-type", ""),
                        response.content,
                    )
                )
            return response

        requests.Session.send = send  # type: ignore[method-assign]
        try:
            yield self
        finally:
            requests.Session.send = original  # type: ignore[method-assign]


def connect(url: str, username: str, password: str, device_id: str = "pytest-1") -> JellyfinClient:
    """Connect to the address and log in, as an app does; returns a started client."""
    client = JellyfinClient()
    client.config.app("ferrite-tests", "1.0.0", "ci", device_id)
    client.config.data["auth.ssl"] = False
    state = client.auth.connect_to_address(url)
    assert state["State"].name == "ServerSignIn", state
    result = client.auth.login(url, username, password)
    assert result.get("AccessToken"), "log-in failed"
    state = client.authenticate(client.get_credentials(), discover=False)
    assert state["State"].name == "SignedIn", state
    client.start(websocket=False)
    return client


def decode(url: str, *, frames: int | None = None) -> tuple[int, float]:
    """Decode video from ``url`` with FFmpeg: (frames decoded, seconds to the first one).
    ``frames`` stops early after that many."""
    started = time.perf_counter()
    first = 0.0
    count = 0
    with av.open(url, options={"allowed_extensions": "ALL"}, timeout=30) as container:
        for _frame in container.decode(container.streams.video[0]):
            if count == 0:
                first = time.perf_counter() - started
            count += 1
            if frames is not None and count >= frames:
                break
    return count, first


def play_url(client: JellyfinClient, url: str, item_id: str, info: dict[str, Any]) -> str:
    """The URL a Jellyfin app plays for PlaybackInfo's answer."""
    source = info["MediaSources"][0]
    if source.get("TranscodingUrl"):
        return url + source["TranscodingUrl"]
    stream: str = client.jellyfin.video_url(item_id, media_source_id=source["Id"])
    return stream + f"&PlaySessionId={info['PlaySessionId']}"


def report(
    client: JellyfinClient, item_id: str, info: dict[str, Any], positions: list[float]
) -> None:
    """playing, progress at each position, stopped at the last one."""
    base = {
        "ItemId": item_id,
        "PlaySessionId": info["PlaySessionId"],
        "MediaSourceId": info["MediaSources"][0]["Id"],
        "CanSeek": True,
        "PlayMethod": "DirectPlay"
        if not info["MediaSources"][0].get("TranscodingUrl")
        else "Transcode",
    }
    api = client.jellyfin
    api.session_playing({**base, "PositionTicks": 0})
    for position in positions:
        api.session_progress(
            {**base, "PositionTicks": round(position * 10_000_000), "EventName": "TimeUpdate"}
        )
    api.session_stop({**base, "PositionTicks": round(positions[-1] * 10_000_000)})
