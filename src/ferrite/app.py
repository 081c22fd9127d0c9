"""The FastAPI application: ``create_app(settings)``.

Structure, so a new feature knows where to plug in:

- :class:`~ferrite.services.Services` holds the long-lived parts (settings, database,
  auth, scans, file locator, clock). The lifespan builds it, stores it on
  ``app.state.services`` and closes it; routers get it with ``svc: ServicesDep`` and the
  caller with ``user: CurrentUser`` / ``admin: AdminUser`` (``ferrite.api.deps``).
- Routers are thin modules under ``ferrite.api``, listed in :data:`ROUTERS`. A new one is
  an ``APIRouter`` added there (or ``app.include_router`` after ``create_app``); a feature
  with its own long-lived part gets a typed field on ``Services`` and a start/stop pair in
  the lifespan below (or, from outside, ``on_startup``/``on_shutdown`` hooks).
- Parts meet through constructors and listener registrations owned by the part that
  calls back (``Scans.after_scan``, ``AuthService.listen_revoke``,
  ``PlaybackService.add_preparer``), never through an attribute set from outside.
- Errors: raise ``FerriteError`` subclasses; ``ferrite.api.errors`` renders the envelope.

Startup opens the database, migrates, loads the token-version table, registers the
configured library folders and starts their scans *in the background* (the server answers
at once), then starts the folder watcher. Shutdown cancels and awaits every background
task, stops the watcher and closes the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from sqlalchemy import Connection, text
from starlette.responses import JSONResponse

from ferrite import __version__, demo, jellyfin, metrics
from ferrite.api import auth, errors, files, internal, items, playback, torrents, users
from ferrite.api import libraries as libraries_api
from ferrite.api import metrics as metrics_api
from ferrite.api.bodylimit import BodyLimitMiddleware
from ferrite.api.cors import install_cors
from ferrite.api.hosts import HostCheckMiddleware, allowed_names
from ferrite.api.requestlog import RequestLogMiddleware
from ferrite.auth.passwords import Passwords
from ferrite.auth.tokens import Clock
from ferrite.cache import ByteCache
from ferrite.cluster.link import node_name
from ferrite.cluster.node import NodeHeaderMiddleware, NodeState, unready_reasons
from ferrite.cluster.remote import SEGMENT_PATH, RemoteTranscoder
from ferrite.cluster.workers import Worker
from ferrite.config import Settings
from ferrite.db.engine import Database
from ferrite.errors import FerriteError
from ferrite.hls.packager import Packager
from ferrite.hls.pool import ContainerPool
from ferrite.hls.service import HlsService
from ferrite.hls.warm import WarmStore
from ferrite.library import libraries
from ferrite.library.naming import guess_library_kind
from ferrite.library.scanner import Scanner
from ferrite.playback.service import PlaybackService
from ferrite.playback.sessions import allowed
from ferrite.playback.warmer import Warmer
from ferrite.services import Services
from ferrite.torrent.service import TorrentService
from ferrite.torrent.source import MAX_TORRENT_BYTES
from ferrite.transcode.runs import RunManager
from ferrite.transcode.video import RunTranscoder
from ferrite.web.routes import mount_web

log = logging.getLogger(__name__)

#: A readiness probe that waits longer than this on the database calls it down.
_READY_DB_TIMEOUT_S = 2.0

#: Routes are matched in this order, one by one: the playback router (segments and
#: playlists, the hot path) goes first, which saves ~10% of the server's CPU per cached
#: segment request (docs/benchmarks.md, "Playback benchmark"). No two routers share a path.
ROUTERS = (
    playback.router,
    auth.router,
    users.router,
    libraries_api.router,
    items.router,
    files.router,
    torrents.router,
    metrics_api.router,
)

#: ``async def hook(app, services)`` run after the core services start / before they stop.
Hook = Callable[[FastAPI, Services], Awaitable[None]]


def create_app(
    settings: Settings,
    *,
    clock: Clock = time.time,
    passwords: Passwords | None = None,
    on_startup: tuple[Hook, ...] = (),
    on_shutdown: tuple[Hook, ...] = (),
    scanner_factory: Callable[[Database, Settings], Scanner] | None = Scanner,
) -> FastAPI:
    """The application for ``settings``.

    ``clock`` (seconds since the epoch) is injected for tests of expiry and rate limits,
    ``passwords`` lets tests use cheaper hashing, ``scanner_factory`` a different scanner
    (``None``: no scanning). ``on_startup``/``on_shutdown`` hooks run after the core
    services start and before they stop.
    """

    if settings.role == "worker":
        return _worker_app(settings, clock=clock, passwords=passwords)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await Services.start(
            settings, clock=clock, passwords=passwords, make_scanner=scanner_factory
        )
        app.state.services = svc
        try:
            await _start_libraries(svc)
            await _start_playback(svc)
            await _start_torrents(svc)
            await _start_demo(svc)
            await svc.start_watcher()
            for hook in on_startup:
                await hook(app, svc)
            yield
        finally:
            for hook in on_shutdown:
                try:
                    await hook(app, svc)
                except Exception:
                    log.exception("shutdown hook %r failed", hook)
            await _stop_torrents(svc)  # first: wakes reads blocked on torrent pieces
            await _stop_playback(svc)
            await svc.aclose()

    app = FastAPI(title="Ferrite", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_bytes,
        # a multipart .torrent: the file plus the form's few small fields
        routes={
            ("POST", "/api/torrents"): MAX_TORRENT_BYTES + 64 * 1024,
            ("POST", SEGMENT_PATH): _INTERNAL_BODY_BYTES,
        },
    )
    app.add_middleware(
        HostCheckMiddleware, allowed=allowed_names(settings.allowed_hosts, [settings.host])
    )
    install_cors(app, settings.cors_origins)
    if settings.jellyfin_api:
        jellyfin.install(app)  # Jellyfin's paths (docs/jellyfin.md); Ferrite's pass through
    app.add_middleware(RequestLogMiddleware)  # sees the envelope's final status
    _node_edges(app, settings)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    for router in ROUTERS:
        app.include_router(router)
    if settings.redis_url:  # node-to-node routes, signed with the install secret
        app.include_router(internal.router)
    mount_web(app)  # last: its page fallback must not shadow any API route
    return app


async def _database_answers(svc: Services) -> bool:
    try:
        await asyncio.wait_for(svc.db.read(_select_one), _READY_DB_TIMEOUT_S)
    except Exception:  # any failure is "not answering": readiness reports, never raises
        return False
    return True


def _select_one(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


async def _start_libraries(svc: Services) -> None:
    """Make every ``--library`` folder a library (or find the one it belongs to) and scan
    them in the background; the server answers meanwhile."""
    for folder in svc.settings.libraries:
        try:
            library_id = await svc.db.write(_library_for_folder, folder, svc.clock())
        except FerriteError as exc:
            log.warning("library folder %s skipped: %s", folder, exc.message)
            continue
        svc.scans.request(library_id)


def _library_for_folder(conn: Connection, folder: Path, now: float) -> int:
    path = folder.expanduser().resolve()
    owner = libraries.library_for_path(conn, path)
    if owner is not None:
        return owner[0]
    created = libraries.create_library(
        conn, name=path.name, kind=guess_library_kind(path.name), paths=[path], now=now
    )
    return created.id


async def _start_playback(svc: Services) -> None:
    """The streaming stack: one cache, one packager, one transcode run manager, shared by
    every session (``svc.playback``, ``svc.runs``, ``svc.warmer``)."""
    settings = svc.settings
    cluster = svc.cluster  # a cluster: shared sessions, one production per run key
    runs = RunManager(settings, claims=cluster.leases if cluster else None)
    hls = HlsService(
        cache=ByteCache(
            settings.cache_bytes, on_evict=lambda _k, _n: metrics.CACHE_EVICTIONS.inc()
        ),
        # Torrent files still downloading are read through their piece-aware readers.
        packager=Packager(ContainerPool(sources=svc.sources)),
        transcoder=_transcoder(svc, runs),
        prefetch=settings.prefetch_segments,
        warm=(
            WarmStore(settings.data_dir / "warm", settings.warm_cache_bytes)
            if settings.warm_segments > 0
            else None
        ),
        warm_segments=settings.warm_segments,
        sources=svc.sources,
    )
    pb = PlaybackService(
        settings,
        svc.db,
        hls,
        clock=svc.clock,
        admission=runs.admission,  # progressive streams share the transcode slots
        inputs=svc.inputs.input_for,
        on_stop=svc.remote.forget if svc.remote is not None else runs.forget,
        shared=cluster.sessions if cluster else None,
    )
    pb.start()
    svc.playback, svc.runs = pb, runs
    if settings.warm_segments > 0:
        warmer = Warmer(pb, svc.db, device=settings.warm_device)
        warmer.start()
        svc.scans.after_scan(lambda _library: warmer.poke())
        svc.warmer = warmer

    def end_revoked(user_id: int) -> None:
        """A user lost some access: end the sessions it no longer allows (their ffmpegs
        and slots go with them; every request also checks, this just frees them now)."""
        principal = svc.auth.table.get(user_id)
        for session in pb.sessions.of_user(user_id):
            if not allowed(session, principal):
                svc.tasks.spawn(pb.stop(session, reason="revoked"), name=f"revoke-{session.id}")

    svc.auth.listen_revoke(end_revoked)
    metrics.CACHE_BYTES.set_function(lambda: hls.cache.stats.bytes)  # read at each scrape


def _transcoder(svc: Services, runs: RunManager) -> RunTranscoder | RemoteTranscoder:
    """This node's runs; in a cluster, behind the live transcode workers (which it falls
    back to when none is live or all fail: ``ferrite.cluster.remote``)."""
    settings = svc.settings
    local = RunTranscoder(settings, runs, inputs=svc.inputs.input_for)
    if svc.cluster is None:
        return local
    svc.remote = RemoteTranscoder(
        local,
        svc.cluster.workers,
        svc.cluster.internal_key,
        node=svc.cluster.node,
        # A worker's answer: its slot queue, then one segment's encode.
        read_timeout_s=settings.transcode_queue_timeout_s + 20.0,
        clock=svc.clock,
    )
    return svc.remote


async def _stop_playback(svc: Services) -> None:
    warmer, svc.warmer = svc.warmer, None
    if warmer is not None:
        await warmer.aclose()
    pb, svc.playback = svc.playback, None
    if pb is not None:
        metrics.CACHE_BYTES.set_function(lambda: 0)
        await pb.aclose()
    remote, svc.remote = svc.remote, None
    if remote is not None:
        await remote.aclose()
    runs, svc.runs = svc.runs, None
    if runs is not None:
        await runs.aclose()


async def _start_torrents(svc: Services) -> None:
    """The torrent integration (``svc.torrents``), given only what it uses; its engine
    starts now only if torrents exist. Playback sessions wait for it (a preparer)."""
    pb = svc.playback
    service = TorrentService(
        svc.settings,
        svc.db,
        svc.sources,
        invalidate=svc.files.invalidate,
        clock=svc.clock,
        promise_delay=pb.hls.packager.promise_video_delay if pb is not None else None,
    )
    if pb is not None:
        pb.add_preparer(service)
    try:
        await service.start()
    except BaseException:  # the app never gets the service: close it here
        if pb is not None:
            pb.remove_preparer(service)
        await service.aclose()
        raise
    svc.torrents = service


async def _stop_torrents(svc: Services) -> None:
    service, svc.torrents = svc.torrents, None
    if service is None:
        return
    if svc.playback is not None:
        svc.playback.remove_preparer(service)
    await service.aclose()


async def _start_demo(svc: Services) -> None:
    """First run with nothing configured: generate the demo library in the background
    (the server answers meanwhile) and scan it as its clips appear."""
    settings = svc.settings
    if not settings.demo or settings.libraries:
        return
    if await svc.db.read(lambda c: bool(libraries.list_libraries(c))):
        return
    root = settings.data_dir / "demo"

    async def generate() -> None:
        folders = await demo.generate_async(root)
        for folder, kind in zip(folders, ("movies", "shows"), strict=True):
            library_id = await svc.db.write(_demo_library, folder, kind, svc.clock())
            svc.scans.request(library_id)
        svc.libraries_changed()

    log.info("no library configured: generating the demo library in %s", root)
    svc.tasks.spawn(generate(), name="demo-library")


def _demo_library(conn: Connection, folder: Path, kind: str, now: float) -> int:
    owner = libraries.library_for_path(conn, folder)
    if owner is not None:
        return owner[0]
    return libraries.create_library(
        conn, name=f"Demo {folder.name}", kind=kind, paths=[folder], now=now
    ).id


# -- role=worker: transcodes for the playback nodes, nothing else -----------------------------
#: A segment request carries the job's plan (a float per segment of the file).
_INTERNAL_BODY_BYTES = 4 * 1024 * 1024


def _node_edges(app: FastAPI, settings: Settings) -> None:
    """What every node has, whatever its role: its name on every response (outermost
    middleware), ``/readyz``, and the state the server's drain (cli) marks."""
    node = NodeState(node_name(settings))
    app.state.node = node
    app.add_middleware(NodeHeaderMiddleware, name=node.name)

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        """200 when this node should get traffic; 503 with the reasons when not (the
        database does not answer, Redis is configured but not linked, draining)."""
        svc: Services = request.app.state.services
        reasons = unready_reasons(
            database=await _database_answers(svc),
            redis=None if svc.cluster is None else svc.cluster.connected,
            draining=node.draining,
        )
        if reasons:
            return JSONResponse(
                {"status": "unready", "node": node.name, "reasons": reasons}, status_code=503
            )
        return JSONResponse({"status": "ready", "node": node.name})


def _worker_app(settings: Settings, *, clock: Clock, passwords: Passwords | None) -> FastAPI:
    """A transcode worker: ``/internal/`` (signed segment requests) and ``/healthz``; no
    scanner, watcher, torrents, web UI or public API. It reads the shared database, opens
    the media by the same paths (shared storage) and registers itself in Redis while up."""
    if not settings.redis_url:
        raise ValueError("role=worker needs redis_url (the worker registry)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await Services.start(settings, clock=clock, passwords=passwords, make_scanner=None)
        app.state.services = svc
        assert svc.cluster is not None
        cluster = svc.cluster
        runs = svc.runs = RunManager(settings)

        def current() -> Worker:
            return Worker(
                cluster.node, settings.advertise, runs.admission.slots, runs.admission.in_use
            )

        beat = svc.tasks.spawn(cluster.workers.keep_registered(current), name="worker-registry")
        try:
            yield
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            try:
                await cluster.workers.remove(cluster.node)  # gone now, not at the TTL
            except Exception as exc:
                log.warning("could not unregister the worker: %s", exc)
            svc.runs = None
            await runs.aclose()
            await svc.aclose()

    app = FastAPI(title="Ferrite worker", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_bytes,
        routes={("POST", SEGMENT_PATH): _INTERNAL_BODY_BYTES},
    )
    app.add_middleware(RequestLogMiddleware)
    _node_edges(app, settings)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "role": "worker"})

    app.include_router(internal.router)
    return app
