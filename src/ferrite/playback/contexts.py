"""A file's playback context (probe facts, segment plans, subtitle cues), loaded once per
file version and shared by every session of the file."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.hls.context import MediaContext
from ferrite.hls.plan import make_plans
from ferrite.hls.pool import SourceFile
from ferrite.hls.webvtt import CueIndex
from ferrite.library import playqueries


class MediaContexts:
    """file id -> :class:`MediaContext`, an LRU of ``size`` file versions."""

    def __init__(self, settings: Settings, db: Database, *, size: int = 64) -> None:
        self._settings = settings
        self._db = db
        self._contexts: OrderedDict[tuple[int, str, int], MediaContext] = OrderedDict()
        self._size = size
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, file_id: int) -> MediaContext:
        """The file's playback context, loaded once (per file version) and shared."""
        lock = self._locks.setdefault(file_id, asyncio.Lock())
        async with lock:  # two first viewers of a file load it once
            # which version of the file is current
            row = await self._db.read(playqueries.file_version, file_id)
            key = (file_id, row.fingerprint, row.mtime_ns)
            ctx = self._contexts.get(key)
            if ctx is not None:
                self._contexts.move_to_end(key)
                return ctx
            info, subs = await self._db.read(playqueries.playback_media, file_id)
            plans = make_plans(
                info.keyframes,
                duration_s=info.duration_s,
                start_s=info.start_time_s,
                target_s=self._settings.segment_target_s,
                max_copy_segment_s=self._settings.max_segment_s,
            )
            ctx = MediaContext(
                file_id=file_id,
                source=SourceFile(row.path, row.size, row.mtime_ns),
                fingerprint=row.fingerprint,
                info=info,
                plans=plans,
                cues={tid: CueIndex(t.cues) for tid, t in subs if t.cues is not None},
                subtitle_tracks=tuple(subs),
            )
            self._contexts[key] = ctx
            while len(self._contexts) > self._size:
                self._contexts.popitem(last=False)
            return ctx
