"""Server identity, log-in and users: what a Jellyfin app asks before it browses."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from starlette.responses import Response

from ferrite.errors import BadRequest, NotFound, Unauthorized
from ferrite.jellyfin.dispatch import Ctx, Router, json_response
from ferrite.jellyfin.dto import PRODUCT_NAME, VERSION, user_dto
from ferrite.jellyfin.wire import USER, date, parse_id, user_guid

router = Router()


def _public_info(ctx: Ctx) -> dict[str, Any]:
    st = ctx.state
    base = str(ctx.request.base_url).rstrip("/")
    return {
        "LocalAddress": base,
        "ServerName": st.server_name,
        "Version": VERSION,
        "ProductName": PRODUCT_NAME,
        "OperatingSystem": "Linux",
        "Id": st.server_id,
        "StartupWizardCompleted": True,
    }


@router.route("GET", "/System/Info/Public")
async def public_info(ctx: Ctx) -> Response:
    return json_response(_public_info(ctx))


@router.route("GET", "/System/Info")
async def system_info(ctx: Ctx) -> Response:
    ctx.user  # noqa: B018  (authenticates)
    port = ctx.request.url.port or 80
    return json_response(
        {
            **_public_info(ctx),
            "OperatingSystemDisplayName": "Linux",
            "PackageName": "ferrite",
            "HasPendingRestart": False,
            "IsShuttingDown": False,
            "SupportsLibraryMonitor": True,
            "WebSocketPortNumber": port,
            "CompletedInstallations": [],
            "CanSelfRestart": False,
            "CanLaunchWebBrowser": False,
            "HasUpdateAvailable": False,
            "TranscodingTempPath": "",
            "CastReceiverApplications": [],
            "LogPath": "",
            "InternalMetadataPath": "",
            "CachePath": "",
            "ProgramDataPath": "",
            "ItemsByNamePath": "",
            "WebPath": "",
            "EncoderLocation": "System",
            "SystemArchitecture": "X64",
        }
    )


@router.route("GET POST", "/System/Ping")
async def ping(ctx: Ctx) -> Response:
    return json_response(PRODUCT_NAME)


@router.route("GET", "/Users/Public")
async def public_users(ctx: Ctx) -> Response:
    # Jellyfin lists users on the log-in screen only when configured to; Ferrite never
    # tells an anonymous caller who has an account.
    return json_response([])


@router.route("GET", "/Branding/Configuration")
async def branding(ctx: Ctx) -> Response:
    return json_response({"LoginDisclaimer": "", "CustomCss": "", "SplashscreenEnabled": False})


@router.route("GET", "/Branding/Css", "/Branding/Css.css")
async def branding_css(ctx: Ctx) -> Response:
    return Response(b"", media_type="text/css")


@router.route("GET", "/QuickConnect/Enabled")
async def quick_connect(ctx: Ctx) -> Response:
    return json_response(False)


def session_info(ctx: Ctx, user_id: int, username: str) -> dict[str, Any]:
    now = date(ctx.svc.clock())
    client = ctx.client
    return {
        "Id": hashlib.sha256(f"{user_id}:{client.device_id}".encode()).hexdigest()[:32],
        "UserId": user_guid(user_id),
        "UserName": username,
        "Client": client.client or None,
        "DeviceId": client.device_id or None,
        "DeviceName": client.device or None,
        "ApplicationVersion": client.version or None,
        "ServerId": ctx.state.server_id,
        "LastActivityDate": now,
        "LastPlaybackCheckIn": now,
        "IsActive": True,
        "SupportsMediaControl": False,
        "SupportsRemoteControl": False,
        "HasCustomDeviceName": False,
        "PlayableMediaTypes": ["Video"],
        "SupportedCommands": [],
        "AdditionalUsers": [],
        "NowPlayingQueue": [],
        "NowPlayingQueueFullItems": [],
    }


@router.route("POST", "/Users/AuthenticateByName")
async def authenticate(ctx: Ctx) -> Response:
    body = await ctx.body()
    username = body.get("username")
    password = body.get("pw", body.get("password"))
    if not isinstance(username, str) or not username or len(username) > 256:
        raise BadRequest("Username is required.")
    if not isinstance(password, str) or len(password) > 4096:
        raise BadRequest("Pw must be a string.")
    address = ctx.request.client.host if ctx.request.client else None
    result = await ctx.svc.auth.login(username, password, address)
    st = ctx.state
    user = result.user
    out = {
        "User": user_dto(
            user.id,
            user.username,
            user.is_admin,
            user.disabled,
            server_id=st.server_id,
            server_name=st.server_name,
        ),
        "SessionInfo": session_info(ctx, user.id, user.username),
        "AccessToken": result.token.token,
        "ServerId": st.server_id,
    }
    return json_response(out, headers={"cache-control": "no-store"})


def _me(ctx: Ctx, user_id: int) -> Response:
    caller = ctx.user
    if user_id != caller.id and not caller.is_admin:
        raise Unauthorized("This token is another user's; a user can only see themselves.")
    principal = caller if user_id == caller.id else ctx.svc.auth.table.get(user_id)
    if principal is None:
        raise NotFound("User not found.")
    st = ctx.state
    return json_response(
        user_dto(
            principal.id,
            principal.username,
            principal.is_admin,
            principal.disabled,
            server_id=st.server_id,
            server_name=st.server_name,
        )
    )


@router.route("GET", "/Users/Me")
async def me(ctx: Ctx) -> Response:
    return _me(ctx, ctx.user.id)


@router.route("GET", "/Users/{userId}")
async def get_user(ctx: Ctx) -> Response:
    user_id = parse_id(ctx.params["userId"], USER)
    if user_id is None:
        raise NotFound("User not found.")
    return _me(ctx, user_id)


@router.route("GET", "/Users")
async def list_users(ctx: Ctx) -> Response:
    caller = ctx.user
    st = ctx.state
    records = await ctx.svc.auth.list_users() if caller.is_admin else []
    users = [
        user_dto(
            r.id, r.username, r.is_admin, r.disabled, server_id=st.server_id,
            server_name=st.server_name,
        )
        for r in records
    ] or [
        user_dto(
            caller.id, caller.username, caller.is_admin, caller.disabled,
            server_id=st.server_id, server_name=st.server_name,
        )
    ]  # fmt: skip
    return json_response(users)


@router.route("POST", "/Sessions/Logout")
async def logout(ctx: Ctx) -> Response:
    """Ferrite revokes by user, not by device: this logs the user out everywhere."""
    await ctx.svc.auth.logout(ctx.user.id)
    return Response(status_code=204)


@router.route("POST", "/Sessions/Capabilities", "/Sessions/Capabilities/Full")
async def capabilities(ctx: Ctx) -> Response:
    ctx.user  # noqa: B018
    await ctx.body()  # read and validated as JSON; remote control is not offered
    return Response(status_code=204)


@router.route("GET", "/Sessions")
async def sessions(ctx: Ctx) -> Response:
    user = ctx.user
    return json_response([session_info(ctx, user.id, user.username)])


@router.route("GET", "/DisplayPreferences/{displayPreferencesId}")
async def display_preferences(ctx: Ctx) -> Response:
    ctx.user  # noqa: B018
    return json_response(
        {
            "Id": ctx.params["displayPreferencesId"][:64],
            "SortBy": "SortName",
            "RememberIndexing": False,
            "PrimaryImageHeight": 250,
            "PrimaryImageWidth": 250,
            "CustomPrefs": {},
            "ScrollDirection": "Horizontal",
            "ShowBackdrop": True,
            "RememberSorting": False,
            "SortOrder": "Ascending",
            "ShowSidebar": False,
            "Client": ctx.q("client") or "emby",
        }
    )


@router.route("POST", "/DisplayPreferences/{displayPreferencesId}")
async def save_display_preferences(ctx: Ctx) -> Response:
    ctx.user  # noqa: B018
    return Response(status_code=204)


@router.route("GET", "/GetUtcTime")
async def utc_time(ctx: Ctx) -> Response:
    now = date(time.time())
    return json_response({"RequestReceptionTime": now, "ResponseTransmissionTime": now})
