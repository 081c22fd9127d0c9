"""The web UI's files, loaded once into memory with their validators and gzip bodies.

The UI is plain ES modules and CSS under ``static/`` (no build step) plus hls.js from
npm (``package.json``/``package-lock.json`` at the repository root). Every file is
served under a *build id* prefix, ``/static/<build>/js/app.js``, where the build id is a
hash of all the files' contents: ``index.html`` is the only document that names it, and
modules import each other by relative URL, so every asset URL changes whenever any file
does. That lets assets be cached forever (``immutable``) while ``index.html`` is
revalidated on each load (``no-cache`` + ETag), without a bundler renaming files.

hls.js is looked up in ``node_modules`` (what ``npm ci`` installed from the lock file),
then in ``static/vendor/`` (the git-ignored copy ``scripts/web-assets`` makes, which is
what an installed wheel carries).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
#: ``<repo>/node_modules`` for a source checkout (src layout: src/ferrite/web/assets.py).
NODE_MODULES = Path(__file__).resolve().parents[3] / "node_modules"
VENDOR_DIR = "vendor"

#: Files the UI loads from npm packages: served name -> path under node_modules.
VENDOR_FILES: Mapping[str, str] = {
    "hls.mjs": "hls.js/dist/hls.min.mjs",
    "hls.worker.js": "hls.js/dist/hls.worker.js",
}

#: The placeholder ``index.html`` uses for the asset prefix.
PREFIX_MARK = "{{static}}"

MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
_COMPRESSIBLE = (".html", ".js", ".mjs", ".css", ".svg", ".webmanifest", ".json", ".txt")
#: Below this, gzip's header costs more than it saves.
_MIN_GZIP = 1024


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


@dataclass(frozen=True, slots=True)
class Bundle:
    build: str
    index: Asset
    files: Mapping[str, Asset]  # "js/app.js", "vendor/hls.mjs", ...
    missing: tuple[str, ...]  # vendor files not found (run scripts/web-assets)

    @property
    def prefix(self) -> str:
        return f"/static/{self.build}"


def make_asset(body: bytes, name: str) -> Asset:
    suffix = Path(name).suffix.lower()
    gzipped = None
    if suffix in _COMPRESSIBLE and len(body) >= _MIN_GZIP:
        # mtime=0: the same bytes every time, so ETags and caches agree across restarts.
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, gzipped, f'"{digest}"', MEDIA_TYPES.get(suffix, "application/octet-stream"))


def _vendor_source(name: str, rel: str, static_dir: Path, node_modules: Path) -> Path | None:
    for candidate in (node_modules / rel, static_dir / VENDOR_DIR / name):
        if candidate.is_file():
            return candidate
    return None


def load_bundle(
    static_dir: Path = STATIC_DIR,
    node_modules: Path = NODE_MODULES,
    vendor_files: Mapping[str, str] = VENDOR_FILES,
) -> Bundle:
    """Read every UI file (a few hundred kB) and compute the build id."""
    raw: dict[str, bytes] = {}
    for path in sorted(static_dir.rglob("*")):
        rel = path.relative_to(static_dir).as_posix()
        if not path.is_file() or rel.startswith(f"{VENDOR_DIR}/") or path.name.startswith("."):
            continue
        raw[rel] = path.read_bytes()
    missing: list[str] = []
    for name, rel in vendor_files.items():
        source = _vendor_source(name, rel, static_dir, node_modules)
        if source is None:
            missing.append(name)
            continue
        raw[f"{VENDOR_DIR}/{name}"] = source.read_bytes()
    if missing:
        log.warning(
            "web UI: %s not found in %s or %s; run scripts/web-assets (the player needs hls.js)",
            ", ".join(missing),
            node_modules,
            static_dir / VENDOR_DIR,
        )
    template = raw.pop("index.html", None)
    if template is None:
        raise FileNotFoundError(f"{static_dir / 'index.html'} is missing")
    hasher = hashlib.sha256()
    for rel in sorted(raw):
        hasher.update(rel.encode() + b"\0" + hashlib.sha256(raw[rel]).digest())
    hasher.update(template)
    build = hasher.hexdigest()[:12]
    index_body = template.replace(PREFIX_MARK.encode(), f"/static/{build}".encode())
    return Bundle(
        build=build,
        index=make_asset(index_body, "index.html"),
        files={rel: make_asset(body, rel) for rel, body in raw.items()},
        missing=tuple(missing),
    )
