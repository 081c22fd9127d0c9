"""First-run setup, login, logout, who am I, and image tokens (``ferrite.auth.imagetokens``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from ferrite.api.deps import CurrentUser, ServicesDep
from ferrite.auth import users
from ferrite.errors import ClusterUnavailable

router = APIRouter(tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=4096)


@router.get("/api/setup")
async def setup_state(svc: ServicesDep) -> JSONResponse:
    """``{"needed": true}`` while no user exists (``POST /api/setup`` is open)."""
    # The table is loaded at start; a user made by the CLI since then is in the database.
    needed = False if len(svc.auth.table) else await svc.db.read(users.count_users) == 0
    return JSONResponse({"needed": needed}, headers={"cache-control": "no-store"})


@router.post("/api/setup", status_code=201)
async def setup(body: Credentials, request: Request, svc: ServicesDep) -> JSONResponse:
    """Create the first admin; only while no user exists (409 afterwards)."""
    address = request.client.host if request.client else None
    user = await svc.auth.setup(body.username, body.password, address)
    return JSONResponse(user.to_api(), status_code=201)


@router.post("/api/auth/login")
async def login(body: Credentials, request: Request, svc: ServicesDep) -> JSONResponse:
    if svc.cluster is not None and not svc.cluster.connected:
        # Unlinked, this node can't hear other nodes' logouts: no new tokens (503, fast).
        raise ClusterUnavailable("Logins are unavailable right now.")
    address = request.client.host if request.client else None
    result = await svc.auth.login(body.username, body.password, address)
    return JSONResponse(
        {
            "access_token": result.token.token,
            "token_type": "bearer",
            "expires_in": result.token.expires_in,
            "user": result.user.to_api(),
        },
        headers={"cache-control": "no-store"},
    )


@router.post("/api/auth/logout", status_code=204)
async def logout(user: CurrentUser, svc: ServicesDep) -> Response:
    """Revoke every token of the caller (all devices)."""
    await svc.auth.logout(user.id)
    return Response(status_code=204)


@router.get("/api/auth/me")
async def me(user: CurrentUser) -> JSONResponse:
    return JSONResponse(
        {
            "id": user.id,
            "username": user.username,
            "is_admin": user.is_admin,
            "disabled": user.disabled,
            "library_ids": sorted(user.library_ids),
        }
    )


@router.get("/api/image-token")
async def image_token(user: CurrentUser, svc: ServicesDep) -> JSONResponse:
    """A token for ``?token=`` on image URLs (artwork); valid 1-2 days, revoked on logout."""
    token, expires_at = svc.image_tokens.issue(user)
    return JSONResponse(
        {"token": token, "expires_at": expires_at}, headers={"cache-control": "no-store"}
    )
