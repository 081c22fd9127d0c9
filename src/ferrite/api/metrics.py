"""``GET /metrics``: Prometheus text, for admins or for scrapers on the loopback address."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from ferrite.api.deps import ServicesDep
from ferrite.errors import Forbidden

router = APIRouter(tags=["metrics"])


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics")
async def metrics(request: Request, svc: ServicesDep) -> Response:
    if not _is_loopback(request):
        user = svc.auth.authenticate(request.headers.get("authorization"))
        if not user.is_admin:
            raise Forbidden("Metrics are for admins (or scrapers on this machine).")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
