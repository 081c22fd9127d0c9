"""``/socket``: the keep-alive WebSocket Jellyfin apps open after logging in.

Authenticated like every request (``api_key``/``ApiKey`` query or a token header), then:
the server says ``ForceKeepAlive`` (seconds), the client sends ``KeepAlive`` messages and
gets ``KeepAlive`` back. Nothing else is pushed (no remote control, no library change
notifications). A client silent for twice the keep-alive period is disconnected; the
handler owns nothing beyond its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ferrite.errors import FerriteError
from ferrite.jellyfin.dispatch import client_token
from ferrite.services import Services

log = logging.getLogger("ferrite.jellyfin")

KEEPALIVE_S = 30
_MAX_MESSAGE = 64 * 1024


def _message(kind: str, data: object = None) -> str:
    out: dict[str, object] = {"MessageType": kind, "MessageId": secrets.token_hex(16)}
    if data is not None:
        out["Data"] = data
    return json.dumps(out)


async def socket(scope: Scope, receive: Receive, send: Send) -> None:
    ws = WebSocket(scope, receive, send)
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
        query.setdefault(key.lower(), []).append(value)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    svc: Services = scope["app"].state.services
    try:
        _info, token = client_token(headers, query)
        if not token:
            raise FerriteError("no token")
        svc.auth.tokens.verify(token)
    except FerriteError:
        await ws.close(code=1008)  # before accept: the handshake is refused (403)
        return
    await ws.accept()
    try:
        await ws.send_text(_message("ForceKeepAlive", KEEPALIVE_S))
        while True:
            text = await asyncio.wait_for(ws.receive_text(), timeout=2 * KEEPALIVE_S)
            if len(text) > _MAX_MESSAGE:
                await ws.close(code=1009)
                return
            try:
                kind = json.loads(text).get("MessageType")
            except (ValueError, AttributeError):
                continue
            if kind == "KeepAlive":
                await ws.send_text(_message("KeepAlive"))
    except (WebSocketDisconnect, TimeoutError):
        pass
    except RuntimeError:  # the client went away mid-send
        pass
    finally:
        if ws.client_state.name == "CONNECTED":
            with contextlib.suppress(RuntimeError):
                await ws.close()
