"""Prometheus metrics: what viewers feel, and what the server spends.

Names follow DESIGN.md ("Metrics"). Histograms are in milliseconds with buckets spread
from sub-millisecond cache hits to multi-second cold transcodes. Defined once at import
(prometheus-client registries are process-global); the ``/metrics`` route renders them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
US_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# --- reported by players through POST /api/playback/{sid}/events -------------------
PLAYBACK_TTFF = Histogram(
    "playback_ttff_ms", "Time to first frame reported by players.", ["method"], buckets=MS_BUCKETS
)
SEEK_LATENCY = Histogram(
    "seek_latency_ms", "Seek-to-frame latency reported by players.", ["method"], buckets=MS_BUCKETS
)
REBUFFER_MS = Histogram(
    "rebuffer_ms", "Length of each stall reported by players.", ["method"], buckets=MS_BUCKETS
)
REBUFFER_COUNT = Counter("rebuffer_count", "Stalls reported by players.", ["method"])
PLAYER_ERRORS = Counter("player_errors_total", "Errors reported by players.", ["method"])

# --- measured by the server ----------------------------------------------------------
AUTH_HOTPATH = Histogram(
    "auth_hotpath_ms", "Stream-token / access-token check time.", ["kind"], buckets=US_FAST
)
SEGMENT_WAIT = Histogram(
    "hls_segment_wait_ms",
    "Time a segment request waited for its bytes (hit, joined producer, or produced).",
    ["mode", "cache"],
    buckets=MS_BUCKETS,
)
SEGMENT_GENERATION = Histogram(
    "hls_segment_generation_ms",
    "Time to produce one segment, by mode: copy (packager, stream copy), audio_transcode "
    "(packager, AAC encode), transcode (an ffmpeg run's time per segment).",
    ["mode"],
    buckets=MS_BUCKETS,
)
SERVER_TTFF = Histogram(
    "playback_server_ttff_ms",
    "Server-side share of time to first frame: session creation to first media segment sent.",
    ["method"],
    buckets=MS_BUCKETS,
)
TRANSCODE_QUEUE_WAIT = Histogram(
    "transcode_queue_wait_ms",
    "Time waiting for a transcode slot.",
    ["priority"],
    buckets=MS_BUCKETS,
)
CACHE_HITS = Counter("cache_hits_total", "Segment/playlist cache hits.", ["kind"])
CACHE_MISSES = Counter("cache_misses_total", "Segment/playlist cache misses.", ["kind"])
CACHE_INFLIGHT_WAITS = Counter(
    "cache_inflight_waits_total", "Requests that joined a producer already under way.", ["kind"]
)
CACHE_EVICTIONS = Counter("cache_evictions_total", "Entries evicted from the cache.")
CACHE_BYTES = Gauge(
    "cache_bytes", "Bytes held by the segment/playlist cache (read from the cache at scrape)."
)
ACTIVE_SESSIONS = Gauge("active_sessions", "Playback sessions alive.")
ACTIVE_TRANSCODES = Gauge("active_transcodes", "ffmpeg transcode runs alive.", ["state"])
WORKER_SEGMENTS = Counter(
    "worker_segments_total",
    "Transcoded segments a playback node asked transcode workers for: ok (a worker made "
    "it), failed (a worker failed; the next was asked), local (none live or all failed: "
    "made on this node).",
    ["outcome"],
)
FFMPEG_RESTARTS = Counter("ffmpeg_restarts_total", "Transcode runs restarted after a crash.")
FFMPEG_PROCESSES = Counter("ffmpeg_processes_total", "ffmpeg processes started.", ["outcome"])
SCAN_DURATION = Histogram(
    "scan_duration_ms",
    "Library scan duration; kind full (whole library) or paths (watcher, changed paths).",
    ["kind"],
    buckets=(*MS_BUCKETS, 60000, 300000),
)
SCAN_FAILURES = Counter("scan_failures_total", "Files that failed to probe.")
HTTP_REQUESTS = Histogram(
    "http_request_ms",
    "HTTP request duration by route template.",
    ["route", "status"],
    buckets=MS_BUCKETS,
)
