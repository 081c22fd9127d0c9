"""Libraries: users list the ones granted to them; admins create, rescan and delete.

Storage and folder rules are :mod:`ferrite.library.libraries`'s (folders must exist and
must not overlap another library's: 400 / 409); this module adds access and scanning.
"""

from __future__ import annotations

from functools import partial
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from ferrite.api.deps import AdminUser, CurrentUser, Id, ServicesDep
from ferrite.errors import BadRequest, NotFound, Overloaded
from ferrite.library import libraries
from ferrite.services import Services

router = APIRouter(tags=["libraries"])

Folder = Annotated[str, Field(min_length=1, max_length=4096)]


class NewLibrary(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["movies", "shows", "mixed"]
    paths: Annotated[list[Folder], Field(min_length=1, max_length=64)]


def _shape(svc: Services, library: libraries.Library) -> dict[str, Any]:
    out = library.to_dict()
    out["scanning"] = svc.scanning(library.id)
    return out


async def _get(svc: Services, library_id: int) -> libraries.Library:
    return await svc.db.read(partial(libraries.get_library, library_id=library_id))


@router.get("/api/libraries")
async def list_libraries(user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    """The caller's libraries (all of them for an admin)."""
    found = await svc.db.read(partial(libraries.list_libraries, library_ids=user.libraries))
    return JSONResponse([_shape(svc, lib) for lib in found])


@router.get("/api/libraries/{library_id}")
async def get_library(library_id: Id, user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    if user.libraries is not None and library_id not in user.libraries:
        raise NotFound("No such library.")
    try:
        found = await _get(svc, library_id)
    except NotFound:
        raise NotFound("No such library.") from None
    return JSONResponse(_shape(svc, found))


@router.post("/api/libraries", status_code=201)
async def create_library(body: NewLibrary, _admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    """Create a library over server folders and scan it in the background."""
    for path in body.paths:
        # Relative paths would silently depend on the server's working directory.
        if not PurePath(path).is_absolute():
            raise BadRequest(f"Library folders must be absolute paths: {path!r}.")
    created = await svc.db.write(
        partial(
            libraries.create_library,
            name=body.name,
            kind=body.kind,
            paths=body.paths,
            now=svc.clock(),
        )
    )
    svc.libraries_changed()
    svc.scans.request(created.id)
    return JSONResponse(_shape(svc, created), status_code=201)


@router.post("/api/libraries/{library_id}/scan", status_code=202)
async def scan_library(library_id: Id, _admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    """Rescan (incrementally) in the background; ``scanning`` is true until it ends."""
    found = await _get(svc, library_id)
    if not svc.scans.available:
        raise Overloaded("The scanner is not available on this server.", retry_after=60)
    svc.scans.request(library_id)
    return JSONResponse(_shape(svc, found), status_code=202)


@router.delete("/api/libraries/{library_id}", status_code=204)
async def delete_library(library_id: Id, _admin: AdminUser, svc: ServicesDep) -> Response:
    """Forget a library, its items and everyone's progress in it (files stay on disk)."""
    await svc.db.write(libraries.delete_library, library_id)
    svc.auth.library_deleted(library_id)
    svc.libraries_changed()
    return Response(status_code=204)
