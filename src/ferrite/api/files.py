"""Direct play: the item's original file with HTTP Range.

Nothing in the request names a path: the item id leads to its media file through the
database, once; :class:`~ferrite.services.FileLocator` caches item -> location, so a
player's stream of range requests costs no query at all (auth is the in-memory token
check). The library grant is checked on every request against the cached location.
A file registered in ``svc.sources`` (a torrent still downloading) is served from its
piece-aware reader instead of the disk (``http.files.open_streamed``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ferrite.api.deps import MAX_ID, CurrentUser, Id, ServicesDep
from ferrite.auth.tokens import Principal
from ferrite.errors import MediaChanged, NotFound
from ferrite.http.files import (
    Expected,
    OpenFile,
    file_response,
    media_type_for,
    open_file,
    open_streamed,
)
from ferrite.library import queries
from ferrite.library.queries import FileLocation
from ferrite.services import Services

router = APIRouter(tags=["files"])

_CONTAINER_TYPES = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "matroska": "video/x-matroska",
    "webm": "video/webm",
    "mpegts": "video/mp2t",
    "avi": "video/x-msvideo",
}


def _visible(user: Principal, library_id: int) -> bool:
    libraries = user.libraries
    return libraries is None or library_id in libraries


async def serve_item_file(
    request: Request, svc: Services, user: Principal, item_id: int, file_id: int | None = None
) -> Response:
    """The response for the item's media file; reusable by other routes (playback)."""
    location = await svc.files.locate(item_id, file_id)
    if location is None:
        library_id = await svc.db.read(queries.item_library, item_id)
        if library_id is None or not _visible(user, library_id):
            raise NotFound("No such item.")
        raise NotFound("This item has no such media file.")
    if not _visible(user, location.library_id):
        raise NotFound("No such item.")
    try:
        opened = await _open(svc, location)
    except (NotFound, MediaChanged) as exc:
        # Moved, replaced or deleted since it was cached: look once more in the database.
        svc.files.invalidate(item_id)
        fresh = await svc.files.locate(item_id, file_id)
        if fresh is None or fresh == location:
            raise (exc if isinstance(exc, MediaChanged) else MediaChanged()) from None
        location = fresh
        try:
            opened = await _open(svc, location)
        except NotFound:
            svc.files.invalidate(item_id)
            raise MediaChanged() from None
    media_type = media_type_for(location.path)
    if media_type == "application/octet-stream" and location.container:
        media_type = _CONTAINER_TYPES.get(location.container.split(",")[0], media_type)
    return file_response(
        request, opened, media_type=media_type, headers={"cache-control": "private, no-transform"}
    )


async def _open(svc: Services, location: FileLocation) -> OpenFile:
    streamed = svc.sources.get(location.path)
    if streamed is not None:  # a torrent file: its owner vouches for the bytes
        return await open_streamed(streamed, svc.sources.reads)
    roots = None if svc.settings.follow_links_outside_library else location.roots
    expected = Expected(
        location.size, location.mtime_ns, roots, inode=location.inode, device=location.device
    )
    return await open_file(location.path, expected)


# GET and HEAD as two routes: one route with both methods gives both operations one
# OpenAPI operation id (FastAPI warns, and the schema is invalid).
@router.get("/api/items/{item_id}/file")
@router.head("/api/items/{item_id}/file", include_in_schema=False)
async def item_file(
    item_id: Id,
    request: Request,
    user: CurrentUser,
    svc: ServicesDep,
    file_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The original file (first playable one, or ``file_id``), with Range/If-Range."""
    return await serve_item_file(request, svc, user, item_id, file_id)
