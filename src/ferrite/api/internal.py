"""Node-to-node routes under ``/internal/``: a transcode worker makes a segment of a
transcoded video rendition for a playback node (``ferrite.cluster.remote``).

Every request is signed with the cluster's install secret (``cluster/signing.py``: method,
path, expiry and body); anything unsigned, expired or signed with another secret gets 401
before its body is looked at. The front never forwards ``/internal/`` (nginx denies it):
these routes are for the nodes' own network.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ferrite.cluster import signing
from ferrite.cluster.jobwire import from_wire
from ferrite.cluster.remote import FORGET_PATH, SEGMENT_PATH
from ferrite.errors import BadRequest, FerriteError, TokenInvalid
from ferrite.media.priority import Priority
from ferrite.services import Services
from ferrite.transcode.binary import ffmpeg_path
from ferrite.transcode.job import TranscodeJob
from ferrite.transcode.run_key import RenditionKey

router = APIRouter(tags=["internal"], include_in_schema=False)


async def _signed_body(request: Request, svc: Services) -> bytes:
    """The request's body once its signature checks; 401 otherwise."""
    if svc.cluster is None:
        raise TokenInvalid("internal routes need a cluster (redis_url)")
    body = await request.body()
    ok = signing.verify(
        svc.cluster.internal_key,
        request.method,
        request.url.path,
        body,
        request.headers.get(signing.HEADER),
        now=time.time(),
    )
    if not ok:
        raise TokenInvalid("bad or missing internal signature")
    return body


@router.post(SEGMENT_PATH)
async def transcoded_segment(request: Request) -> Response:
    """MPEG-TS bytes of one segment of a transcoded video rendition, from this node's
    shared transcode runs (the body: ``cluster.remote.RemoteTranscoder``)."""
    svc: Services = request.app.state.services
    body = await _signed_body(request, svc)
    if svc.runs is None:
        raise FerriteError("this node does not transcode")
    try:
        data: dict[str, Any] = json.loads(body)
        job = from_wire(data["job"])
        index = int(data["index"])
        priority = Priority(int(data["priority"]))
        session = str(data.get("session") or "") or None
        key = RenditionKey.for_job(
            str(data["fingerprint"]), str(data["plan_key"]), str(data["rendition"]), job
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"bad segment request: {exc}") from exc
    settings = svc.settings
    # This node's own encoder: the binary and hardware are where a job runs, not what it
    # makes (run_key.spec_hash leaves them out).
    base: TranscodeJob = replace(
        job,
        ffmpeg=ffmpeg_path(settings.ffmpeg_path),
        hwaccel=settings.hwaccel,  # type: ignore[arg-type]
        vaapi_device=settings.vaapi_device,
    )
    segment = await svc.runs.segment(
        lambda k: replace(base, start_index=k), key, index, priority=priority, session=session
    )
    return Response(segment, media_type="video/mp2t")


@router.post(FORGET_PATH, status_code=204)
async def forget(request: Request) -> Response:
    """A playback node's session stopped (or left one rendition: ``key``): its playheads
    no longer hold this node's runs going."""
    svc: Services = request.app.state.services
    body = await _signed_body(request, svc)
    try:
        data: dict[str, Any] = json.loads(body)
        session = str(data["session"])
        k = data.get("key")
        key = (
            None
            if k is None
            else RenditionKey(
                str(k["fingerprint"]), str(k["plan_key"]), str(k["rendition"]), str(k["spec"])
            )
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"bad forget request: {exc}") from exc
    if svc.runs is not None and session:
        svc.runs.forget(session, key)
    return Response(status_code=204)
