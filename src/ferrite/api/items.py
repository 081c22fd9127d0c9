"""Browsing: items with the caller's progress, detail, children, continue watching, and
the caller's progress updates. Every query is filtered by the caller's granted libraries;
an item outside them is 404, exactly like an item that does not exist."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from ferrite.api.deps import MAX_ID, CurrentUser, Id, ImageUser, ServicesDep
from ferrite.errors import NotFound
from ferrite.http.files import file_response, media_type_for, open_file
from ferrite.library import queries
from ferrite.library.artwork import artwork_dir

router = APIRouter(tags=["items"])

#: Paging bounds: a page is 1..500 items; offsets beyond this are surely a mistake.
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/api/items")
async def list_items(
    user: CurrentUser,
    svc: ServicesDep,
    library_id: OptId = None,
    parent_id: OptId = None,
    kind: Literal["movie", "show", "season", "episode"] | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["title", "-title", "added", "-added", "year", "-year"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """Top-level items by default; ``q`` searches titles (relevance order unless ``sort``)."""
    page = await svc.db.read(
        lambda c: queries.list_items(
            c,
            user_id=user.id,
            libraries=user.libraries,
            library_id=library_id,
            parent_id=parent_id,
            kind=kind,
            q=q,
            sort=sort,
            limit=limit,
            offset=offset,
        )
    )
    return JSONResponse(
        {"items": page.items, "total": page.total, "limit": limit, "offset": offset}
    )


@router.get("/api/items/{item_id}")
async def get_item(item_id: Id, user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    item = await svc.db.read(
        lambda c: queries.get_item(c, item_id, user_id=user.id, libraries=user.libraries)
    )
    return JSONResponse(item)


@router.get("/api/items/{item_id}/children")
async def get_children(
    item_id: Id, user: CurrentUser, svc: ServicesDep, limit: Limit = MAX_LIMIT, offset: Offset = 0
) -> JSONResponse:
    page = await svc.db.read(
        lambda c: queries.get_children(
            c, item_id, user_id=user.id, libraries=user.libraries, limit=limit, offset=offset
        )
    )
    return JSONResponse(
        {"items": page.items, "total": page.total, "limit": limit, "offset": offset}
    )


@router.get("/api/continue")
async def continue_watching(
    user: CurrentUser, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> JSONResponse:
    found = await svc.db.read(
        lambda c: queries.continue_watching(
            c, user_id=user.id, libraries=user.libraries, limit=limit
        )
    )
    return JSONResponse({"items": found})


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    position_s: float = Field(ge=0, le=1e7, allow_inf_nan=False)
    played: bool | None = None


@router.put("/api/items/{item_id}/progress")
async def put_progress(
    item_id: Id, body: ProgressIn, user: CurrentUser, svc: ServicesDep
) -> JSONResponse:
    """The caller's progress; past ``played_threshold`` of the duration it counts as played."""
    now = svc.clock()
    saved = await svc.db.write(
        lambda c: queries.put_progress(
            c,
            item_id,
            user_id=user.id,
            libraries=user.libraries,
            position_s=body.position_s,
            played=body.played,
            threshold=svc.settings.played_threshold,
            now=now,
        )
    )
    return JSONResponse(saved)


@router.get("/api/items/{item_id}/artwork")
async def get_artwork(item_id: Id, request: Request, user: ImageUser, svc: ServicesDep) -> Response:
    """The item's poster; ``<img>`` tags authorise with ``?token=`` (an image token)."""
    name = await svc.db.read(lambda c: queries.item_artwork(c, item_id, libraries=user.libraries))
    # The name comes from the scanner, not the request; refuse anything but a plain name.
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise NotFound("This item has no artwork.")
    path = artwork_dir(svc.settings.data_dir) / name
    opened = await open_file(path)
    return file_response(
        request,
        opened,
        media_type=media_type_for(path),
        headers={"cache-control": "private, max-age=86400"},
    )
