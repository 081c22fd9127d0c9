"""Browsing: views (libraries), items, shows, resume, next up, latest, images, and the
caller's played/favourite marks. Every read is Ferrite's, filtered by the acting user's
granted libraries and joined with that user's own progress: a library a user was not
granted does not exist for them here either."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ferrite.auth.tokens import Principal
from ferrite.errors import BadRequest, NotFound, Unauthorized
from ferrite.http.files import file_response, media_type_for, open_file
from ferrite.jellyfin import queries as jq
from ferrite.jellyfin.dispatch import Ctx, Router, json_response
from ferrite.jellyfin.dto import base_item, image_tag, media_source, user_data, view_item
from ferrite.jellyfin.state import acting_user
from ferrite.jellyfin.wire import ITEM, VIEW, csv, parse_bool, parse_guid, parse_id, parse_int
from ferrite.library import libraries as libraries_db
from ferrite.library import queries
from ferrite.library.artwork import artwork_dir

router = Router()

_KINDS = {"movie": "movie", "series": "show", "season": "season", "episode": "episode"}
MAX_LIMIT = 1000


def _user(ctx: Ctx) -> Principal:
    """The acting user: the caller, or the user named by ``{userId}``/``UserId``."""
    return acting_user(ctx.svc, ctx.user, ctx.params.get("userId") or ctx.q("userId"))


def _item_id(text: str) -> int:
    item_id = parse_id(text, ITEM)
    if item_id is None:
        raise NotFound("Item not found.")
    return item_id


def _result(items: list[dict[str, Any]], total: int, start: int) -> Response:
    return json_response({"Items": items, "TotalRecordCount": total, "StartIndex": start})


def _to_dto(ctx: Ctx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    st = ctx.state
    return [base_item(r, server_id=st.server_id, image_key=st.image_key) for r in rows]


async def _views(ctx: Ctx, user: Principal) -> list[Any]:
    ids = user.libraries
    found = await ctx.svc.db.read(
        lambda c: libraries_db.list_libraries(c, library_ids=None if ids is None else sorted(ids))
    )
    return list(found)


@router.route("GET", "/UserViews", "/Users/{userId}/Views")
async def user_views(ctx: Ctx) -> Response:
    user = _user(ctx)
    st = ctx.state
    views = [view_item(v, server_id=st.server_id) for v in await _views(ctx, user)]
    return _result(views, len(views), 0)


def item_query(ctx: Ctx) -> jq.ItemQuery:
    """``GET /Items``'s parameters as an :class:`~ferrite.jellyfin.queries.ItemQuery`."""
    library_id = parent_id = None
    parent = ctx.q("parentId")
    if parent:
        parsed = parse_guid(parent)
        if parsed is None:
            raise NotFound("Parent not found.")
        kind, ident = parsed
        if kind == VIEW:
            library_id = ident
        elif kind == ITEM:
            parent_id = ident
        else:
            raise NotFound("Parent not found.")
    kinds: set[str] = set()
    for name in csv(ctx.qall("includeItemTypes")):
        kind_name = _KINDS.get(name.lower())
        if kind_name is not None:
            kinds.add(kind_name)
        else:
            kinds.add("none")  # a type Ferrite has none of (Audio, BoxSet...): matches nothing
    ids = tuple(_item_id(i) for i in csv(ctx.qall("ids"))[:500])
    filters = {f.lower() for f in csv(ctx.qall("filters"))}
    played = parse_bool(ctx.q("isPlayed"), "IsPlayed")
    if "isplayed" in filters:
        played = True
    elif "isunplayed" in filters:
        played = False
    favorite = parse_bool(ctx.q("isFavorite"), "IsFavorite")
    if "isfavorite" in filters:
        favorite = True
    sort = tuple(csv(ctx.qall("sortBy")))
    order = [o.lower() for o in csv(ctx.qall("sortOrder"))]
    if any(o not in ("ascending", "descending") for o in order):
        raise BadRequest("SortOrder must be Ascending or Descending.")
    search = ctx.q("searchTerm")
    if search is not None and len(search) > 200:
        raise BadRequest("SearchTerm is too long.")
    return jq.ItemQuery(
        library_id=library_id,
        parent_id=parent_id,
        recursive=bool(parse_bool(ctx.q("recursive"), "Recursive")) or bool(search),
        kinds=frozenset(kinds),
        ids=ids,
        search=search or None,
        played=played,
        resumable="isresumable" in filters,
        favorite=favorite,
        sort=sort,
        descending=bool(order) and order[0] == "descending",
        offset=parse_int(ctx.q("startIndex"), "StartIndex", hi=10_000_000) or 0,
        limit=parse_int(ctx.q("limit"), "Limit", hi=MAX_LIMIT),
    )


async def _query(ctx: Ctx, user: Principal, q: jq.ItemQuery) -> jq.Page:
    if (
        q.library_id is not None
        and user.libraries is not None
        and q.library_id not in (user.libraries)
    ):
        return jq.Page([], 0, q.offset)
    return await ctx.svc.db.read(
        lambda c: jq.list_items(c, q, user_id=user.id, libraries=user.libraries)
    )


@router.route("GET", "/Items", "/Users/{userId}/Items")
async def list_items(ctx: Ctx) -> Response:
    user = _user(ctx)
    q = item_query(ctx)
    if q.library_id is None and q.parent_id is None and not q.recursive and not q.ids:
        # The user's root folder: its children are the views.
        st = ctx.state
        views = [view_item(v, server_id=st.server_id) for v in await _views(ctx, user)]
        return _result(views, len(views), 0)
    page = await _query(ctx, user, q)
    return _result(_to_dto(ctx, page.rows), page.total, page.offset)


@router.route("GET", "/UserItems/Resume", "/Users/{userId}/Items/Resume")
async def resume(ctx: Ctx) -> Response:
    user = _user(ctx)
    base = item_query(ctx)
    q = jq.ItemQuery(
        library_id=base.library_id,
        parent_id=base.parent_id,
        recursive=True,
        kinds=base.kinds or frozenset({"movie", "episode"}),
        resumable=True,
        sort=("DatePlayed",),
        descending=True,
        offset=base.offset,
        limit=base.limit or 50,
    )
    page = await _query(ctx, user, q)
    return _result(_to_dto(ctx, page.rows), page.total, page.offset)


@router.route("GET", "/Items/Latest", "/Users/{userId}/Items/Latest")
async def latest(ctx: Ctx) -> Response:
    user = _user(ctx)
    base = item_query(ctx)
    q = jq.ItemQuery(
        library_id=base.library_id,
        parent_id=base.parent_id,
        kinds=base.kinds,
        sort=("DateCreated",),
        descending=True,
        limit=min(base.limit or 20, 100),
    )
    page = await _query(ctx, user, q)
    return json_response(_to_dto(ctx, page.rows))  # a bare array, as Jellyfin answers


@router.route("GET", "/Shows/NextUp")
async def next_up(ctx: Ctx) -> Response:
    user = _user(ctx)
    series = ctx.q("seriesId")
    series_id = _item_id(series) if series else None
    limit = parse_int(ctx.q("limit"), "Limit", hi=MAX_LIMIT) or 20
    rows = await ctx.svc.db.read(
        lambda c: jq.next_up(
            c, user_id=user.id, libraries=user.libraries, series_id=series_id, limit=limit
        )
    )
    return _result(_to_dto(ctx, rows), len(rows), 0)


@router.route("GET", "/Shows/{seriesId}/Seasons")
async def seasons(ctx: Ctx) -> Response:
    user = _user(ctx)
    show = _item_id(ctx.params["seriesId"])
    await ctx.svc.db.read(lambda c: jq.get_row(c, show, user_id=user.id, libraries=user.libraries))
    q = jq.ItemQuery(parent_id=show, kinds=frozenset({"season"}))
    page = await _query(ctx, user, q)
    return _result(_to_dto(ctx, page.rows), page.total, 0)


@router.route("GET", "/Shows/{seriesId}/Episodes")
async def episodes(ctx: Ctx) -> Response:
    user = _user(ctx)
    show = _item_id(ctx.params["seriesId"])
    await ctx.svc.db.read(lambda c: jq.get_row(c, show, user_id=user.id, libraries=user.libraries))
    season = ctx.q("seasonId")
    season_number = parse_int(ctx.q("season"), "Season", hi=10_000)
    q = jq.ItemQuery(
        parent_id=_item_id(season) if season else show,
        recursive=not season,
        kinds=frozenset({"episode"}),
        sort=("ParentIndexNumber", "IndexNumber"),
    )
    rows = (await _query(ctx, user, q)).rows
    if season_number is not None:
        rows = [r for r in rows if r["season_number"] == season_number]
    start = ctx.q("startItemId")
    if start:
        start_id = _item_id(start)
        at = next((i for i, r in enumerate(rows) if r["id"] == start_id), 0)
        rows = rows[at:]
    total = len(rows)
    offset = parse_int(ctx.q("startIndex"), "StartIndex", hi=10_000_000) or 0
    limit = parse_int(ctx.q("limit"), "Limit", hi=MAX_LIMIT)
    rows = rows[offset : None if limit is None else offset + limit]
    return _result(_to_dto(ctx, rows), total, offset)


async def item_detail(ctx: Ctx, user: Principal, item_id: int) -> dict[str, Any]:
    """A ``BaseItemDto`` with ``MediaSources``/``MediaStreams`` for a playable item."""

    def read(conn: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        row = jq.get_row(conn, item_id, user_id=user.id, libraries=user.libraries)
        if row["kind"] not in ("movie", "episode"):
            return row, None
        detail = queries.get_item(conn, item_id, user_id=user.id, libraries=user.libraries)
        return row, detail

    row, detail = await ctx.svc.db.read(read)  # one trip to the reader pool
    st = ctx.state
    out = base_item(row, server_id=st.server_id, image_key=st.image_key)
    if detail is not None:
        files = [f for f in detail["files"] if f["playable"]]
        sources = [media_source(detail, f, direct=True, transcoding=True) for f in files[:1]]
        out["MediaSources"] = sources
        if sources:
            out["MediaStreams"] = sources[0]["MediaStreams"]
            out["Container"] = sources[0]["Container"]
            out["HasSubtitles"] = any(s["Type"] == "Subtitle" for s in out["MediaStreams"])
        out["MediaSourceCount"] = len(sources)
    return out


@router.route("GET", "/Items/{itemId}", "/Users/{userId}/Items/{itemId}")
async def get_item(ctx: Ctx) -> Response:
    user = _user(ctx)
    raw = ctx.params["itemId"]
    parsed = parse_guid(raw)
    if parsed is not None and parsed[0] == VIEW:
        st = ctx.state
        for view in await _views(ctx, user):
            if view.id == parsed[1]:
                return json_response(view_item(view, server_id=st.server_id))
        raise NotFound("Item not found.")
    return json_response(await item_detail(ctx, user, _item_id(raw)))


@router.route(
    "GET",
    "/Items/{itemId}/Intros",
    "/Users/{userId}/Items/{itemId}/Intros",
    "/Items/{itemId}/SpecialFeatures",
    "/Users/{userId}/Items/{itemId}/SpecialFeatures",
    "/Items/{itemId}/LocalTrailers",
    "/Users/{userId}/Items/{itemId}/LocalTrailers",
    "/Items/{itemId}/Similar",
    "/Items/{itemId}/ThemeMedia",
    "/Items/{itemId}/Ancestors",
)
async def nothing_for_item(ctx: Ctx) -> Response:
    """Extras Ferrite doesn't have: an empty answer (a bare array where Jellyfin's is)."""
    user = _user(ctx)
    item_id = _item_id(ctx.params["itemId"])
    await ctx.svc.db.read(
        lambda c: jq.get_row(c, item_id, user_id=user.id, libraries=user.libraries)
    )
    path = ctx.request.url.path.lower()
    if path.endswith(("/specialfeatures", "/localtrailers", "/ancestors")):
        return json_response([])
    if path.endswith("/thememedia"):
        empty = {"Items": [], "TotalRecordCount": 0, "StartIndex": 0, "OwnerId": None}
        return json_response(
            {"ThemeVideosResult": empty, "ThemeSongsResult": empty, "SoundtrackSongsResult": empty}
        )
    return _result([], 0, 0)


@router.route(
    "GET", "/Items/{itemId}/Images/{imageType}", "/Items/{itemId}/Images/{imageType}/{imageIndex}"
)
async def image(ctx: Ctx) -> Response:
    """The poster. Players fetch images without headers, so either a valid token (any
    form) or the item's current ``tag`` (handed only to users shown the item) is needed."""
    item_id = _item_id(ctx.params["itemId"])
    if ctx.params["imageType"].lower() not in ("primary", "thumb"):
        raise NotFound("This item has no such image.")
    st = ctx.state
    tag = ctx.q("tag")
    user: Principal | None = None
    if ctx.token:
        try:
            user = ctx.user
        except Unauthorized:
            if not tag:
                raise  # a stale token in an image URL still works with the right tag
    if user is not None:
        libraries = user.libraries
        name = await ctx.svc.db.read(
            lambda c: queries.item_artwork(c, item_id, libraries=libraries)
        )
    else:
        if not tag:
            raise Unauthorized("An image request needs a token or the image's tag.")
        name = await ctx.svc.db.read(lambda c: queries.item_artwork(c, item_id, libraries=None))
        if image_tag(st.image_key, item_id, name) != tag.strip().lower():
            raise NotFound("This item has no such image.")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise NotFound("This item has no such image.")
    path = artwork_dir(ctx.svc.settings.data_dir) / name
    opened = await open_file(path)
    return file_response(
        ctx.request,
        opened,
        media_type=media_type_for(path),
        headers={"cache-control": "public, max-age=31536000" if ctx.q("tag") else "private"},
    )


async def _mark(ctx: Ctx, *, played: bool | None = None, favorite: bool | None = None) -> Response:
    """Set the acting user's played or favourite mark; answers the new ``UserItemDataDto``.
    One write transaction: the item is checked (visible, playable for a played mark),
    marked, and read back."""
    user = _user(ctx)
    item_id = _item_id(ctx.params["itemId"])
    now = ctx.svc.clock()
    settings = ctx.svc.settings

    def write(conn: Any) -> dict[str, Any]:
        row = jq.get_row(conn, item_id, user_id=user.id, libraries=user.libraries)
        if played is not None and row["kind"] not in ("movie", "episode"):
            raise BadRequest("Only movies and episodes can be marked played in Ferrite.")
        if played is True:
            queries.put_progress(
                conn, item_id, user_id=user.id, libraries=user.libraries,
                position_s=0.0, played=True, threshold=settings.played_threshold, now=now,
            )  # fmt: skip
        elif played is False:
            jq.clear_progress(conn, item_id, user_id=user.id)
        if favorite is not None:
            jq.set_favorite(
                conn, item_id, user_id=user.id, libraries=user.libraries, favorite=favorite,
                now=now,
            )  # fmt: skip
        return jq.get_row(conn, item_id, user_id=user.id, libraries=user.libraries)

    row = await ctx.svc.db.write(write)
    return json_response(user_data(row))


@router.route("POST", "/UserPlayedItems/{itemId}", "/Users/{userId}/PlayedItems/{itemId}")
async def mark_played(ctx: Ctx) -> Response:
    return await _mark(ctx, played=True)


@router.route("DELETE", "/UserPlayedItems/{itemId}", "/Users/{userId}/PlayedItems/{itemId}")
async def mark_unplayed(ctx: Ctx) -> Response:
    return await _mark(ctx, played=False)


@router.route("POST", "/UserFavoriteItems/{itemId}", "/Users/{userId}/FavoriteItems/{itemId}")
async def mark_favorite(ctx: Ctx) -> Response:
    return await _mark(ctx, favorite=True)


@router.route("DELETE", "/UserFavoriteItems/{itemId}", "/Users/{userId}/FavoriteItems/{itemId}")
async def unmark_favorite(ctx: Ctx) -> Response:
    return await _mark(ctx, favorite=False)


@router.route("GET", "/UserItems/{itemId}/UserData", "/Users/{userId}/Items/{itemId}/UserData")
async def get_user_data(ctx: Ctx) -> Response:
    user = _user(ctx)
    item_id = _item_id(ctx.params["itemId"])
    row = await ctx.svc.db.read(
        lambda c: jq.get_row(c, item_id, user_id=user.id, libraries=user.libraries)
    )
    return json_response(user_data(row))
