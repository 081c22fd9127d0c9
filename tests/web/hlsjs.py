"""hls.js as third-party web players ship it: its default configuration, on a page served
from another origin than Ferrite (so CORS is exercised as a cast receiver or an embedding
site would), in real Chromium.

:class:`StaticOrigin` is a plain static file server on 127.0.0.1 (a second origin) that
serves the player page, hls.js from ``node_modules`` and, for benchmarks, a folder of
pre-packaged HLS (the static floor). :func:`start_playing` and :func:`seek` drive the page
and read what it measured: the first frame presented (``requestVideoFrameCallback``), hls.js
errors, and the level hls.js chose.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
HLSJS = ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"

#: ``new Hls()`` with no configuration at all: start level, ABR, buffer sizes, timeouts
#: and retries as hls.js ships them.
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>hls.js, default configuration</title>
<video id="v" muted playsinline style="width:640px"></video>
<script src="/hls.min.js"></script>
<script>
const v = document.getElementById("v");
const log = { errors: [], fatal: null, firstFrameMs: null, frames: 0, mediaTime: null,
              levels: [], startLevel: null, t0: null };
window.playerLog = log;
function onFrame(now, meta) {
  log.frames += 1;
  log.mediaTime = meta.mediaTime;
  if (log.firstFrameMs === null) log.firstFrameMs = performance.now() - log.t0;
  v.requestVideoFrameCallback(onFrame);
}
v.requestVideoFrameCallback(onFrame);
window.startPlaying = (src) => {
  const hls = new Hls();
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (e, d) => {
    log.errors.push(d.details + (d.response ? " " + d.response.code : "") +
                    (d.error ? " " + d.error.message : "") + (d.frag ? " " + d.frag.url : ""));
    if (d.fatal) log.fatal = d.details;
  });
  hls.on(Hls.Events.LEVEL_SWITCHING, (e, d) => {
    if (log.startLevel === null) log.startLevel = hls.levels[d.level].height;
    log.levels.push(hls.levels[d.level].height);
  });
  log.t0 = performance.now();
  hls.loadSource(src);
  hls.attachMedia(v);
  v.play().catch((err) => log.errors.push("play: " + err));
};
// Seek and resolve with the milliseconds until a frame of the new place is presented.
window.seekTo = (t) => new Promise((resolve) => {
  const t0 = performance.now();
  const check = (now, meta) => {
    if (!v.seeking && Math.abs(meta.mediaTime - t) < 2.5) resolve(performance.now() - t0);
    else v.requestVideoFrameCallback(check);
  };
  v.currentTime = t;
  v.requestVideoFrameCallback(check);
});
</script>
"""


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, directory: str, **kwargs: Any) -> None:
        super().__init__(*args, directory=directory, **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/", "/index.html"):
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/hls.min.js":
            body = HLSJS.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")  # for the static floor's media
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A player that aborts a request (hls.js on a level switch) is not an error.
        pass


class StaticOrigin:
    """A static web server on 127.0.0.1 (another origin than Ferrite's)."""

    def __init__(self, directory: Path | None = None) -> None:
        handler = functools.partial(_Handler, directory=str(directory or ROOT / "tests"))
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StaticOrigin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def static_origin(directory: Path | None = None) -> Iterator[StaticOrigin]:
    with StaticOrigin(directory) as origin:
        yield origin


def start_playing(page: Any, origin: StaticOrigin, master_url: str, timeout_ms: int) -> dict:
    """Open the player page and play ``master_url``; wait for the first frame (or a fatal
    hls.js error). Returns the page's log."""
    page.goto(f"{origin.url}/?src={quote(master_url, safe='')}")
    page.evaluate("(src) => window.startPlaying(src)", master_url)
    page.wait_for_function(
        "() => window.playerLog.firstFrameMs !== null || window.playerLog.fatal !== null",
        timeout=timeout_ms,
    )
    return player_log(page)


def seek(page: Any, t: float, timeout_ms: int) -> float:
    """Seek to ``t`` seconds; milliseconds until a frame of the new place is presented."""
    ms: float = page.evaluate(
        "([t, timeout]) => Promise.race([window.seekTo(t),"
        " new Promise((_, no) => setTimeout(() => no(new Error('seek timed out')), timeout))])",
        [t, timeout_ms],
    )
    return ms


def player_log(page: Any) -> dict[str, Any]:
    log: dict[str, Any] = page.evaluate("() => window.playerLog")
    return log
