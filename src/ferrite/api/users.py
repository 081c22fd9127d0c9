"""Admin: manage users and their library access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from ferrite.api.deps import MAX_ID, AdminUser, Id, ServicesDep
from ferrite.errors import NotFound

router = APIRouter(tags=["users"])

LibraryIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=10_000)]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    is_admin: bool = False
    library_ids: LibraryIds = []


class UserChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str | None = Field(default=None, min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    is_admin: bool | None = None
    disabled: bool | None = None
    library_ids: LibraryIds | None = None


@router.get("/api/users")
async def list_users(_admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    return JSONResponse([u.to_api() for u in await svc.auth.list_users()])


@router.post("/api/users", status_code=201)
async def create_user(body: NewUser, _admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    user = await svc.auth.create_user(
        body.username, body.password, is_admin=body.is_admin, library_ids=body.library_ids
    )
    return JSONResponse(user.to_api(), status_code=201)


@router.get("/api/users/{user_id}")
async def get_user(user_id: Id, _admin: AdminUser, svc: ServicesDep) -> JSONResponse:
    user = await svc.auth.get_user(user_id)
    if user is None:
        raise NotFound("No such user.")
    return JSONResponse(user.to_api())


@router.patch("/api/users/{user_id}")
async def update_user(
    user_id: Id, body: Annotated[UserChanges, Body()], _admin: AdminUser, svc: ServicesDep
) -> JSONResponse:
    """Change any of username, password, is_admin, disabled, library_ids.

    A new password or disabling the user revokes the user's tokens; grants apply to the
    next request without logging the user out.
    """
    user = await svc.auth.update_user(
        user_id,
        username=body.username,
        password=body.password,
        is_admin=body.is_admin,
        disabled=body.disabled,
        library_ids=body.library_ids,
    )
    return JSONResponse(user.to_api())


@router.delete("/api/users/{user_id}", status_code=204)
async def delete_user(user_id: Id, _admin: AdminUser, svc: ServicesDep) -> Response:
    await svc.auth.delete_user(user_id)
    return Response(status_code=204)
