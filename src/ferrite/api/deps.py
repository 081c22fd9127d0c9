"""Dependencies routers declare: the services, the caller, the admin, an image viewer.

    from ferrite.api.deps import AdminUser, CurrentUser, ImageUser, ServicesDep

    @router.get("/api/things")
    async def things(user: CurrentUser, svc: ServicesDep) -> ...:
        user.id, user.is_admin, user.libraries  # None = all (admin), else granted ids

All are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread
pool, and a thread hop would cost more than the whole check. The check itself is a JWT
signature (skipped for a token seen before), an expiry comparison and a lookup in the
in-memory token-version table: no database, no I/O.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Path
from starlette.requests import Request

from ferrite import metrics
from ferrite.auth.tokens import Principal
from ferrite.errors import Forbidden, TokenInvalid
from ferrite.services import Services

#: Largest id accepted in a path or query (SQLite integers are 64-bit signed).
MAX_ID = 2**62

_AUTH_SECONDS = metrics.AUTH_HOTPATH.labels(kind="access")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_current_user(request: Request) -> Principal:
    started = time.perf_counter()
    services: Services = request.app.state.services
    try:
        return services.auth.authenticate(request.headers.get("authorization"))
    finally:
        _AUTH_SECONDS.observe((time.perf_counter() - started) * 1000)


async def get_admin_user(user: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not user.is_admin:
        raise Forbidden("Only an admin can do this.")
    return user


async def get_image_user(request: Request) -> Principal:
    """The caller of an image route: ``Authorization: Bearer`` or ``?token=<image token>``
    (``<img>`` requests carry no header of ours: ``ferrite.auth.imagetokens``)."""
    svc: Services = request.app.state.services
    header = request.headers.get("authorization")
    if header:
        return svc.auth.authenticate(header)
    token = request.query_params.get("token")
    if not token:
        raise TokenInvalid("Send Authorization: Bearer <token> or ?token=<image token>.")
    return svc.image_tokens.verify(token)


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[Principal, Depends(get_current_user)]
AdminUser = Annotated[Principal, Depends(get_admin_user)]
#: The caller of an image route (artwork): a bearer header or an image token.
ImageUser = Annotated[Principal, Depends(get_image_user)]
#: A positive database id in a path, bounded so SQLite never sees an overflowing integer.
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
