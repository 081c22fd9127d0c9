"""Ferrite's values written as Jellyfin's DTOs (``BaseItemDto``, ``UserDto``,
``MediaSourceInfo``, ``MediaStream``): plain functions of plain dicts, no I/O.

Fields Jellyfin's Kotlin and Swift SDKs declare non-null are always present (see
tests/jellyfin/openapi.py, which checks every response of the client flows against the
10.11 OpenAPI document); ``None`` fields are dropped on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from ferrite.jellyfin.wire import date, item_guid, ticks, user_guid, view_guid

PRODUCT_NAME: Final = "Jellyfin Server"
#: The Jellyfin version clients are told (they refuse servers older than 10.x).
VERSION: Final = "10.11.0"

_TYPES: Final = {"movie": "Movie", "show": "Series", "season": "Season", "episode": "Episode"}
_COLLECTION_TYPES: Final = {"movies": "movies", "shows": "tvshows"}


def image_tag(key: bytes, item_id: int, artwork: str) -> str:
    """A tag that changes when the artwork changes (its name is its file's fingerprint),
    keyed so it can't be computed without the server's secret: holding it is proof the
    caller was shown the item (image requests often come without a token)."""
    mac = hmac.new(key, f"{item_id}:{artwork}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def user_data(row: Mapping[str, Any]) -> dict[str, Any]:
    position = row.get("p_position_s") or 0.0
    played = bool(row.get("p_played"))
    duration = row.get("duration_s")
    out: dict[str, Any] = {
        "PlaybackPositionTicks": 0 if played else ticks(position),
        "PlayCount": 1 if played else 0,
        "IsFavorite": row.get("f_created_at") is not None,
        "Played": played,
        "Key": item_guid(row["id"]),
        "ItemId": item_guid(row["id"]),
        "LastPlayedDate": date(row.get("p_updated_at")),
    }
    if duration and position and not played:
        out["PlayedPercentage"] = min(100.0, 100.0 * position / duration)
    return out


def base_item(
    row: Mapping[str, Any], *, server_id: str, image_key: bytes, view_of_library: bool = True
) -> dict[str, Any]:
    """A ``BaseItemDto`` for an item row of :mod:`ferrite.jellyfin.queries`."""
    kind = row["kind"]
    item_id = row["id"]
    playable = kind in ("movie", "episode")
    out: dict[str, Any] = {
        "Name": row["title"],
        "ServerId": server_id,
        "Id": item_guid(item_id),
        "Etag": f"{item_id:x}{int(row.get('added_at') or 0):x}",
        "DateCreated": date(row.get("added_at")),
        "CanDelete": False,
        "CanDownload": playable,
        "SortName": row.get("sort_title"),
        "ProductionYear": row.get("year"),
        "RunTimeTicks": ticks(row.get("duration_s")) if playable else None,
        "IsFolder": not playable,
        "Type": _TYPES.get(kind, "Folder"),
        "MediaType": "Video" if playable else "Unknown",
        "LocationType": "FileSystem",
        "UserData": user_data(row),
        "ImageTags": {},
        "BackdropImageTags": [],
    }
    if playable:
        out["VideoType"] = "VideoFile"
        out["Container"] = None
    if row.get("artwork"):
        out["ImageTags"]["Primary"] = image_tag(image_key, item_id, row["artwork"])
        out["PrimaryImageAspectRatio"] = 16 / 9
    parent_id = row.get("parent_id")
    if parent_id is not None:
        out["ParentId"] = item_guid(parent_id)
    elif view_of_library:
        out["ParentId"] = view_guid(row["library_id"])
    if kind == "season":
        out["IndexNumber"] = row.get("season_number")
        out["SeriesId"] = item_guid(parent_id) if parent_id else None
        out["SeriesName"] = row.get("parent_title")
    elif kind == "episode":
        out["IndexNumber"] = row.get("episode_number")
        out["ParentIndexNumber"] = row.get("season_number")
        if row.get("parent_kind") == "season":
            out["SeasonId"] = item_guid(parent_id) if parent_id else None
            out["SeasonName"] = row.get("parent_title")
            series = row.get("parent_parent_id")
            out["SeriesId"] = item_guid(series) if series else None
            out["SeriesName"] = row.get("grand_title")
        elif parent_id is not None:
            out["SeriesId"] = item_guid(parent_id)
            out["SeriesName"] = row.get("parent_title")
    return out


def view_item(library: Any, *, server_id: str) -> dict[str, Any]:
    """A library as a Jellyfin view (``CollectionFolder``)."""
    return {
        "Name": library.name,
        "ServerId": server_id,
        "Id": view_guid(library.id),
        "Etag": f"v{library.id:x}",
        "DateCreated": date(library.created_at),
        "CanDelete": False,
        "CanDownload": False,
        "SortName": library.name.lower(),
        "IsFolder": True,
        "Type": "CollectionFolder",
        "CollectionType": _COLLECTION_TYPES.get(library.kind),
        "MediaType": "Unknown",
        "LocationType": "FileSystem",
        "ChildCount": library.item_count,
        "ImageTags": {},
        "BackdropImageTags": [],
        "UserData": {
            "PlaybackPositionTicks": 0,
            "PlayCount": 0,
            "IsFavorite": False,
            "Played": False,
            "Key": view_guid(library.id),
            "ItemId": view_guid(library.id),
        },
    }


def user_dto(
    user_id: int, username: str, is_admin: bool, disabled: bool, *, server_id: str, server_name: str
) -> dict[str, Any]:
    return {
        "Name": username,
        "ServerId": server_id,
        "ServerName": server_name,
        "Id": user_guid(user_id),
        "HasPassword": True,
        "HasConfiguredPassword": True,
        "HasConfiguredEasyPassword": False,
        "EnableAutoLogin": False,
        "Configuration": {
            "PlayDefaultAudioTrack": True,
            "DisplayMissingEpisodes": False,
            "GroupedFolders": [],
            "SubtitleMode": "Default",
            "DisplayCollectionsView": False,
            "EnableLocalPassword": False,
            "OrderedViews": [],
            "LatestItemsExcludes": [],
            "MyMediaExcludes": [],
            "HidePlayedInLatest": True,
            "RememberAudioSelections": True,
            "RememberSubtitleSelections": True,
            "EnableNextEpisodeAutoPlay": True,
        },
        "Policy": {
            "IsAdministrator": is_admin,
            "IsHidden": False,
            "EnableCollectionManagement": False,
            "EnableSubtitleManagement": False,
            "EnableLyricManagement": False,
            "IsDisabled": disabled,
            "EnableUserPreferenceAccess": True,
            "EnableRemoteControlOfOtherUsers": False,
            "EnableSharedDeviceControl": False,
            "EnableRemoteAccess": True,
            "EnableLiveTvManagement": False,
            "EnableLiveTvAccess": False,
            "EnableMediaPlayback": True,
            "EnableAudioPlaybackTranscoding": True,
            "EnableVideoPlaybackTranscoding": True,
            "EnablePlaybackRemuxing": True,
            "ForceRemoteSourceTranscoding": False,
            "EnableContentDeletion": False,
            "EnableContentDownloading": True,
            "EnableSyncTranscoding": False,
            "EnableMediaConversion": False,
            "EnableAllDevices": True,
            "EnableAllChannels": False,
            "EnableAllFolders": is_admin,
            "InvalidLoginAttemptCount": 0,
            "LoginAttemptsBeforeLockout": -1,
            "MaxActiveSessions": 0,
            "EnablePublicSharing": False,
            "RemoteClientBitrateLimit": 0,
            "AuthenticationProviderId": "Ferrite",
            "PasswordResetProviderId": "Ferrite",
            "SyncPlayAccess": "None",
        },
    }


# --- media sources ---------------------------------------------------------------------
_VIDEO_RANGE: Final = {
    "hdr10": ("HDR", "HDR10"),
    "hlg": ("HDR", "HLG"),
    "dolby_vision": ("HDR", "DOVI"),
}
_SUB_FORMATS: Final = {
    "subrip": "srt",
    "ass": "ass",
    "ssa": "ssa",
    "webvtt": "vtt",
    "mov_text": "mov_text",
    "hdmv_pgs_subtitle": "pgssub",
    "dvd_subtitle": "dvdsub",
}
_TEXT_SUBS: Final = frozenset({"subrip", "ass", "ssa", "webvtt", "mov_text"})
_CONTAINERS: Final = {"matroska": "mkv", "mpegts": "ts"}


def _frame_rate(text: str | None) -> float | None:
    if not text:
        return None
    num, _, den = str(text).partition("/")
    try:
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None


def media_stream(s: Mapping[str, Any]) -> dict[str, Any]:
    kind = s["type"]
    range_, range_type = _VIDEO_RANGE.get(s.get("hdr") or "none", ("SDR", "SDR"))
    codec = s.get("codec")
    lang = s.get("language")
    out: dict[str, Any] = {
        "Codec": codec,
        "Language": lang,
        "Title": s.get("title"),
        "Profile": s.get("profile"),
        "Index": s["index"],
        "Type": {"video": "Video", "audio": "Audio", "subtitle": "Subtitle"}.get(kind, "Data"),
        "IsDefault": bool(s.get("default")),
        "IsForced": bool(s.get("forced")),
        "IsHearingImpaired": False,
        "IsInterlaced": False,
        "IsExternal": False,
        "IsTextSubtitleStream": kind == "subtitle" and codec in _TEXT_SUBS,
        "SupportsExternalStream": kind == "subtitle" and codec in _TEXT_SUBS,
        "VideoRange": range_ if kind == "video" else "Unknown",
        "VideoRangeType": range_type if kind == "video" else "Unknown",
        "AudioSpatialFormat": "None",
    }
    if kind == "video":
        rate = _frame_rate(s.get("frame_rate"))
        out.update(
            Width=s.get("width"),
            Height=s.get("height"),
            BitDepth=s.get("bit_depth"),
            PixelFormat=s.get("pix_fmt"),
            Level=s.get("level"),
            AverageFrameRate=rate,
            RealFrameRate=rate,
            IsAVC=codec == "h264",
            DisplayTitle=f"{s.get('height')}p {str(codec).upper()}" if s.get("height") else None,
        )
    elif kind == "audio":
        out.update(
            Channels=s.get("channels"),
            ChannelLayout=s.get("channel_layout"),
            SampleRate=s.get("sample_rate"),
            DisplayTitle=" - ".join(
                p for p in (lang, str(codec).upper(), s.get("channel_layout")) if p
            ),
        )
    elif kind == "subtitle":
        out["Codec"] = _SUB_FORMATS.get(codec or "", codec)
        out["DisplayTitle"] = " - ".join(p for p in (lang, out["Codec"]) if p) or None
    return out


def media_streams(detail: Mapping[str, Any], file: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The file's streams, then its sidecar subtitles (numbered after the last stream)."""
    streams = [media_stream(s) for s in file["streams"] if s["type"] in ("video", "audio")]
    streams += [media_stream(s) for s in file["streams"] if s["type"] == "subtitle"]
    next_index = max((s["index"] for s in file["streams"]), default=-1) + 1
    for sub in detail.get("subtitles", []):
        if sub["file_id"] != file["id"] or not sub["external"]:
            continue
        fmt = sub["format"]
        streams.append(
            {
                "Codec": _SUB_FORMATS.get(fmt, fmt),
                "Language": sub.get("language"),
                "Index": next_index,
                "Type": "Subtitle",
                "IsDefault": bool(sub.get("default")),
                "IsForced": bool(sub.get("forced")),
                "IsHearingImpaired": False,
                "IsInterlaced": False,
                "IsExternal": True,
                "IsTextSubtitleStream": fmt in _TEXT_SUBS,
                "SupportsExternalStream": fmt in _TEXT_SUBS,
                "VideoRange": "Unknown",
                "VideoRangeType": "Unknown",
                "AudioSpatialFormat": "None",
                "DisplayTitle": " - ".join(
                    p for p in (sub.get("language"), _SUB_FORMATS.get(fmt, fmt), "External") if p
                ),
            }
        )
        next_index += 1
    return streams


def subtitle_track_for(
    detail: Mapping[str, Any], file: Mapping[str, Any], index: int
) -> int | None:
    """The Ferrite subtitle track id behind a Jellyfin ``SubtitleStreamIndex``."""
    subs = [s for s in detail.get("subtitles", []) if s["file_id"] == file["id"]]
    for sub in subs:
        if not sub["external"] and sub.get("stream_index") == index:
            return int(sub["id"])
    next_index = max((s["index"] for s in file["streams"]), default=-1) + 1
    for sub in subs:
        if sub["external"]:
            if next_index == index:
                return int(sub["id"])
            next_index += 1
    return None


def media_source(
    detail: Mapping[str, Any], file: Mapping[str, Any], *, direct: bool, transcoding: bool
) -> dict[str, Any]:
    """``MediaSourceInfo`` of the item's file (no URLs: the caller adds them)."""
    container = (file.get("container") or "").split(",")[0] or None
    streams = media_streams(detail, file)
    audio = [s for s in streams if s["Type"] == "Audio"]
    default_audio = next((s for s in audio if s["IsDefault"]), audio[0] if audio else None)
    return {
        "Protocol": "File",
        "Id": item_guid(detail["id"]),
        "Type": "Default",
        "Container": _CONTAINERS.get(container or "", container),
        "Size": file.get("size"),
        "Name": detail["title"],
        "IsRemote": False,
        "ETag": f"{file['id']:x}{file.get('size') or 0:x}",
        "RunTimeTicks": ticks(file.get("duration_s") or detail.get("duration_s")),
        "ReadAtNativeFramerate": False,
        "IgnoreDts": False,
        "IgnoreIndex": False,
        "GenPtsInput": False,
        "SupportsTranscoding": transcoding,
        "SupportsDirectStream": direct,
        "SupportsDirectPlay": direct,
        "IsInfiniteStream": False,
        "UseMostCompatibleTranscodingProfile": False,
        "RequiresOpening": False,
        "RequiresClosing": False,
        "RequiresLooping": False,
        "SupportsProbing": True,
        "VideoType": "VideoFile",
        "MediaStreams": streams,
        "MediaAttachments": [],
        "Formats": [],
        "Bitrate": file.get("bitrate"),
        "RequiredHttpHeaders": {},
        "TranscodingSubProtocol": "http",
        "DefaultAudioStreamIndex": default_audio["Index"] if default_audio else None,
        "HasSegments": False,
    }
