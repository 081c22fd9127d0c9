"""Settings, declared once as data and loaded in one place.

Each setting has a name, a type, a default and a help text. Values come from (lowest to
highest precedence) the defaults, ``FERRITE_<NAME>`` environment variables, and explicit
overrides (the CLI's flags). The result is a frozen :class:`Settings` passed down to
everything that needs it; nothing else reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in text.split(os.pathsep) if p)


def _role(text: str) -> str:
    role = text.strip().lower()
    if role not in ROLES:
        raise ValueError(f"not a role: {text!r} (one of {', '.join(ROLES)})")
    return role


#: ``all``: API, playback and transcoding; ``worker``: transcodes for playback nodes only.
ROLES = ("all", "worker")


def _default_slots() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        Path,
        Path("ferrite-data"),
        "Directory for the database, secrets, caches and torrents.",
    ),
    Setting("host", str, "127.0.0.1", "Address the HTTP server listens on."),
    Setting("port", int, 8420, "Port the HTTP server listens on."),
    Setting(
        "cors_origins",
        str,
        "*",
        "Web origins allowed to call the API and play (web players, cast receivers on "
        "another origin), comma-separated; * = any (safe: Ferrite authenticates with "
        "bearer and URL tokens, never cookies); empty = same origin only.",
    ),
    Setting(
        "libraries", _paths, (), "Folders to add as libraries at start (os.pathsep-separated)."
    ),
    Setting(
        "demo", _bool, True, "Generate and serve a demo library when no library is configured."
    ),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL; empty means SQLite in the data directory. Several nodes share a "
        "PostgreSQL database: postgresql+psycopg://user:password@host:5432/ferrite.",
    ),
    Setting("watch", _bool, True, "Watch library folders and rescan changed paths while serving."),
    Setting(
        "watch_debounce_ms", int, 1500, "Quiet time before a batch of file changes is scanned."
    ),
    Setting("scan_workers", int, 2, "Threads probing files during a scan."),
    Setting(
        "segment_target_s",
        float,
        2.0,
        "Target HLS segment duration in seconds (the grid of transcoded and audio "
        "renditions; the minimum of stream-copy segments).",
    ),
    Setting(
        "max_segment_s",
        float,
        20.0,
        "Longest stream-copy HLS segment (copy segments follow the source's keyframes); "
        "a video with keyframes further apart is transcoded for HLS instead.",
    ),
    Setting("cache_bytes", int, 512 * 1024 * 1024, "Byte budget of the segment/playlist cache."),
    Setting("prefetch_segments", int, 2, "Segments generated ahead of an active viewer."),
    Setting(
        "warm_segments",
        int,
        1,
        "First segments of every transcoded variant (and the default audio), made in the "
        "background once per file and kept on disk, so a player's start needs no "
        "transcode (0 = off).",
    ),
    Setting(
        "warm_cache_bytes", int, 1024 * 1024 * 1024, "Byte budget of those kept first segments."
    ),
    Setting(
        "warm_device",
        str,
        "chrome",
        "Device profile whose starts are warmed (its ladder and segment format).",
    ),
    Setting(
        "ffmpeg_path", str, "", "ffmpeg binary; empty means the one in the imageio-ffmpeg wheel."
    ),
    Setting(
        "hwaccel",
        str,
        "none",
        "Hardware encoder: none, nvenc, qsv or vaapi (falls back to software).",
    ),
    Setting("vaapi_device", str, "/dev/dri/renderD128", "VAAPI render node."),
    Setting("transcode_slots", int, _default_slots(), "Concurrent ffmpeg transcodes."),
    Setting(
        "transcode_queue_timeout_s",
        float,
        8.0,
        "How long a request waits for a transcode slot before 503 + Retry-After (below "
        "the 10 s players wait for a segment's first byte, so they see the 503 and retry).",
    ),
    Setting(
        "transcode_idle_s", float, 30.0, "A transcode run nobody reads for this long is stopped."
    ),
    Setting("transcode_ahead_s", float, 60.0, "A run this far ahead of every playhead pauses."),
    Setting("x264_preset", str, "veryfast", "x264/x265 preset for software transcodes."),
    Setting("access_token_ttl_s", int, 30 * 24 * 3600, "Lifetime of API access tokens."),
    Setting("stream_token_ttl_s", int, 12 * 3600, "Lifetime of playback stream tokens."),
    Setting(
        "session_idle_s",
        float,
        120.0,
        "Playback sessions without a heartbeat for this long are reaped.",
    ),
    Setting(
        "progress_interval_s", float, 10.0, "Minimum time between progress writes of one session."
    ),
    Setting(
        "played_threshold",
        float,
        0.9,
        "Fraction of the duration after which an item counts as played.",
    ),
    Setting("login_attempts", int, 10, "Failed logins allowed per user or address per window."),
    Setting("login_window_s", float, 300.0, "Window of the login rate limit."),
    Setting("password_min_length", int, 8, "Shortest password accepted for a new password."),
    Setting(
        "allowed_hosts",
        str,
        "",
        "Host names the server answers to besides IP addresses, localhost and this machine's "
        "name, comma-separated ('*' = any; guards against DNS rebinding).",
    ),
    Setting(
        "max_body_bytes",
        int,
        64 * 1024,
        "Largest JSON request body in bytes (413 beyond; .torrent uploads have their own limit).",
    ),
    Setting(
        "follow_links_outside_library",
        _bool,
        False,
        "Scan and serve files and folders whose real path (after symlinks) leaves the library.",
    ),
    Setting(
        "transcode_max_runs",
        int,
        0,
        "Live transcode runs (running and paused) at most; 0 = 2 per slot plus 2.",
    ),
    Setting(
        "progressive_idle_s",
        float,
        30.0,
        "A progressive stream whose client reads nothing for this long is stopped.",
    ),
    Setting(
        "max_streams_per_user",
        int,
        2,
        "Concurrent progressive (non-HLS) streams per user; the oldest is stopped beyond.",
    ),
    Setting(
        "max_sessions_per_user", int, 20, "Playback sessions per user; the oldest ends beyond."
    ),
    Setting(
        "torrent_read_threads",
        int,
        4,
        "Threads for reads of torrent files still downloading (they wait for pieces).",
    ),
    Setting("log_level", str, "info", "Logging level: debug, info, warning, error."),
    Setting("torrent_listen_port", int, 6881, "Port libtorrent listens on (0 = any)."),
    Setting(
        "torrent_listen_host",
        str,
        "",
        "Addresses libtorrent listens on, comma-separated (empty = all; 127.0.0.1 = local only).",
    ),
    Setting("torrent_dht", _bool, True, "Use the BitTorrent DHT."),
    Setting("torrent_lsd", _bool, True, "Use local service discovery."),
    Setting(
        "torrent_upnp",
        _bool,
        False,
        "Use UPnP/NAT-PMP to open ports on the router (off: nothing is opened behind your back).",
    ),
    Setting(
        "torrent_outgoing_utp",
        _bool,
        False,
        "Dial peers over uTP first (off: TCP, which streams faster; incoming uTP is accepted).",
    ),
    Setting("torrent_download_limit", int, 0, "Download rate limit in bytes/s (0 = none)."),
    Setting("torrent_upload_limit", int, 0, "Upload rate limit in bytes/s (0 = none)."),
    Setting("torrent_connections_limit", int, 200, "Maximum peer connections."),
    Setting(
        "torrent_wait_s", float, 60.0, "How long a read waits for torrent data before it fails."
    ),
    Setting(
        "jellyfin_api",
        _bool,
        True,
        "Answer Jellyfin's API (its apps log in, browse and play; see docs/jellyfin.md).",
    ),
    Setting("jellyfin_server_name", str, "Ferrite", "Server name Jellyfin apps show."),
    Setting(
        "redis_url",
        str,
        "",
        "Redis (or Valkey) shared by the nodes of a cluster, e.g. redis://10.0.0.5:6379/0; "
        "empty = one node, everything in-process (see docs/scale-out.md).",
    ),
    Setting(
        "node_name",
        str,
        "",
        "This node's name in a cluster (X-Ferrite-Node, fan-out messages); empty = "
        "<host name>:<port>.",
    ),
    Setting(
        "role",
        _role,
        "all",
        "What this node does: all (API, playback, transcoding) or worker (transcodes for "
        "the playback nodes of a cluster only; needs redis_url; see docs/scale-out.md).",
    ),
    Setting(
        "advertise_url",
        str,
        "",
        "The base URL other nodes of a cluster reach this node at, e.g. "
        "http://10.0.0.7:8420; empty = http://<host>:<port>.",
    ),
    Setting(
        "drain_s",
        float,
        0.0,
        "On SIGTERM, seconds the node keeps serving with /readyz at 503 (so a front or an "
        "orchestrator moves traffic away) before the graceful shutdown; 0 = stop at once.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str
    port: int
    cors_origins: str
    libraries: tuple[Path, ...]
    demo: bool
    database_url: str
    watch: bool
    watch_debounce_ms: int
    scan_workers: int
    segment_target_s: float
    max_segment_s: float
    cache_bytes: int
    prefetch_segments: int
    warm_segments: int
    warm_cache_bytes: int
    warm_device: str
    ffmpeg_path: str
    hwaccel: str
    vaapi_device: str
    transcode_slots: int
    transcode_queue_timeout_s: float
    transcode_idle_s: float
    transcode_ahead_s: float
    x264_preset: str
    access_token_ttl_s: int
    stream_token_ttl_s: int
    session_idle_s: float
    progress_interval_s: float
    played_threshold: float
    login_attempts: int
    login_window_s: float
    password_min_length: int
    allowed_hosts: str
    max_body_bytes: int
    follow_links_outside_library: bool
    transcode_max_runs: int
    progressive_idle_s: float
    max_streams_per_user: int
    max_sessions_per_user: int
    torrent_read_threads: int
    log_level: str
    torrent_listen_port: int
    torrent_listen_host: str
    torrent_dht: bool
    torrent_lsd: bool
    torrent_upnp: bool
    torrent_outgoing_utp: bool
    torrent_download_limit: int
    torrent_upload_limit: int
    torrent_connections_limit: int
    torrent_wait_s: float
    jellyfin_api: bool
    jellyfin_server_name: str
    redis_url: str
    node_name: str
    role: str
    advertise_url: str
    drain_s: float

    @property
    def max_runs(self) -> int:
        """``transcode_max_runs``, or its default: 2 per slot plus 2."""
        return self.transcode_max_runs or 2 * max(1, self.transcode_slots) + 2

    @property
    def advertise(self) -> str:
        """``advertise_url``, or its default: ``http://<host>:<port>``."""
        return self.advertise_url or f"http://{self.host}:{self.port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ferrite.db'}"


def env_name(name: str) -> str:
    return f"FERRITE_{name.upper()}"


def load(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from defaults, ``FERRITE_*`` variables and ``overrides`` (CLI flags).

    ``None`` values in ``overrides`` mean "not given" and are skipped.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = setting.default
        raw = environ.get(env_name(setting.name))
        if raw is not None:
            try:
                value = setting.parse(raw)
            except ValueError as exc:
                raise ValueError(f"{env_name(setting.name)}: {exc}") from exc
        values[setting.name] = value
    for name, value in (overrides or {}).items():
        if name not in _BY_NAME:
            raise KeyError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    return Settings(**values)


assert {f.name for f in fields(Settings)} == set(_BY_NAME), "Settings and SETTINGS disagree"
