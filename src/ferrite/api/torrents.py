"""Torrents (admin): add by magnet or .torrent upload, list, inspect, remove.

``POST /api/torrents`` takes JSON ``{"magnet": "...", "peers": ["ip:port", ...]}`` or a
multipart form with the ``.torrent`` file (field ``torrent`` or ``file``) and optional
``peers`` fields (repeated, or one comma-separated value). It answers ``201`` with
``{id, name, files: [{index, path, size, item_id, ...}], ...}`` once the files are known:
every video file is already a library item, playable through the usual item and playback
routes while the torrent downloads. A magnet whose metadata no peer sent within a few
seconds answers ``202`` with ``files: []`` (the items appear when it arrives). Malformed
input is ``400 invalid_torrent`` with the reason; a torrent without a video file is
removed again and answered ``422``.

The work is :class:`ferrite.torrent.service.TorrentService`'s; this module only parses.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response

from ferrite.api.deps import AdminUser, Id, ServicesDep
from ferrite.errors import BadRequest, InvalidTorrent, NotFound
from ferrite.services import Services
from ferrite.torrent.service import TorrentService
from ferrite.torrent.source import MAX_TORRENT_BYTES

router = APIRouter(tags=["torrents"])

MAX_PEERS = 50


def _service(svc: Services) -> TorrentService:
    service: TorrentService | None = svc.torrents
    if service is None:
        raise NotFound("torrents are not available on this server")
    return service


def _peers(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [p for p in value.split(",") if p.strip()]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise BadRequest('"peers" must be a list of "ip:port" strings')
    if len(value) > MAX_PEERS:
        raise BadRequest(f'at most {MAX_PEERS} "peers"')
    return [p.strip() for p in value]


async def _parse(request: Request) -> tuple[str | None, bytes | None, list[str]]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=MAX_PEERS + 4)
        try:
            upload = form.get("torrent") or form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadRequest('upload the .torrent file in a form field named "torrent"')
            data = await upload.read(MAX_TORRENT_BYTES + 1)
            if len(data) > MAX_TORRENT_BYTES:
                raise InvalidTorrent(f"the .torrent file is larger than {MAX_TORRENT_BYTES} bytes")
            peers: list[str] = []
            for value in form.getlist("peers"):
                if isinstance(value, str):
                    peers += _peers(value)
            return None, data, _peers(peers)
        finally:
            await form.close()
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(
            'send JSON {"magnet": "magnet:?...", "peers": [...]} or a multipart .torrent upload'
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    magnet = body.get("magnet")
    if not isinstance(magnet, str) or not magnet.strip():
        raise InvalidTorrent('"magnet" must be a magnet link ("magnet:?xt=urn:btih:...")')
    if len(magnet) > 64 * 1024:
        raise InvalidTorrent("the magnet link is too long")
    return magnet, None, _peers(body.get("peers"))


@router.post("/api/torrents")
async def add_torrent(request: Request, admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    magnet, data, peers = await _parse(request)
    shape, complete = await _service(svc).add(magnet=magnet, data=data, peers=peers)
    return JSONResponse(shape, status_code=201 if complete else 202)


@router.get("/api/torrents")
async def list_torrents(admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    return JSONResponse(await _service(svc).list_all())


@router.get("/api/torrents/{torrent_id}")
async def get_torrent(torrent_id: Id, admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    return JSONResponse(await _service(svc).get(torrent_id))


@router.delete("/api/torrents/{torrent_id}")
async def delete_torrent(
    torrent_id: Id,
    admin: AdminUser,
    svc: ServicesDep,
    delete_data: Annotated[bool, Query()] = False,
) -> Response:
    await _service(svc).remove(torrent_id, delete_data=delete_data)
    return Response(status_code=204)
