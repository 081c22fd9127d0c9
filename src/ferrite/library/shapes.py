"""API.md's shapes of the library's rows: an item (with the caller's progress), a stream,
a subtitle track. Pure: mappings in, JSON-ready dicts out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _progress_dict(row: Mapping[Any, Any]) -> dict[str, Any] | None:
    if row["p_updated_at"] is None:
        return None
    return {"position_s": row["p_position_s"], "played": bool(row["p_played"])}


def item_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "library_id": row["library_id"],
        "kind": row["kind"],
        "title": row["title"],
        "year": row["year"],
        "parent_id": row["parent_id"],
        "season_number": row["season_number"],
        "episode_number": row["episode_number"],
        "duration_s": row["duration_s"],
        "added_at": row["added_at"],
        "progress": _progress_dict(row),
        "artwork_url": f"/api/items/{row['id']}/artwork" if row["artwork"] else None,
    }


def stream_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "index": row["index"],
        "type": row["type"],
        "codec": row["codec"],
        "profile": row["profile"],
        "level": row["level"],
        "width": row["width"],
        "height": row["height"],
        "frame_rate": row["frame_rate"],
        "bit_depth": row["bit_depth"],
        "pix_fmt": row["pix_fmt"],
        "hdr": row["hdr"] or "none",
        "language": row["language"],
        "title": row["title"],
        "channels": row["channels"],
        "channel_layout": row["channel_layout"],
        "sample_rate": row["sample_rate"],
        "default": bool(row["is_default"]),
        "forced": bool(row["is_forced"]),
    }


def subtitle_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "file_id": row["file_id"],
        "stream_index": row["stream_index"],
        "language": row["language"],
        "title": row["title"],
        "format": row["codec"],
        "external": row["path"] is not None,
        "forced": bool(row["is_forced"]),
        "default": bool(row["is_default"]),
    }
