"""Summary statistics of latency samples, and what one viewer measured (pure).

Percentiles use linear interpolation between closest ranks (numpy's default "linear"
method), so p50 of an even-sized sample is the mean of the two middle values and
percentiles of small samples move smoothly instead of jumping between samples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``samples``; NaN when there are none."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile out of range: {p}")
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    p99: float
    max: float
    mean: float

    @staticmethod
    def of(samples: Iterable[float]) -> Summary:
        values = [float(v) for v in samples]
        if not values:
            return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return Summary(
            n=len(values),
            median=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            max=max(values),
            mean=sum(values) / len(values),
        )

    def to_dict(self, digits: int = 2) -> dict[str, Any]:
        """JSON-friendly: NaN (no samples) becomes ``None``."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else round(v, digits))
            for k, v in asdict(self).items()
        }

    def triple(self, digits: int = 0) -> str:
        """``median / p95 / p99`` for a table cell, or ``-`` without samples."""
        if not self.n:
            return "-"
        return " / ".join(_fmt(v, digits) for v in (self.median, self.p95, self.p99))


def _fmt(value: float, digits: int) -> str:
    if digits == 0 and value < 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


@dataclass
class ViewerStats:
    ttff_ms: list[float] = field(default_factory=list)
    seek_ms: list[float] = field(default_factory=list)
    stall_ms: list[float] = field(default_factory=list)
    segment_ms: list[float] = field(default_factory=list)  # media segment requests
    init_ms: list[float] = field(default_factory=list)
    playlist_ms: list[float] = field(default_factory=list)
    create_ms: list[float] = field(default_factory=list)  # POST /api/playback
    bytes: int = 0
    requests: int = 0
    segments: int = 0
    sessions: int = 0
    seeks: int = 0
    switches: int = 0
    titles_finished: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ViewerStats) -> None:
        for name in ("ttff_ms", "seek_ms", "stall_ms", "segment_ms", "init_ms", "playlist_ms"):
            getattr(self, name).extend(getattr(other, name))
        self.create_ms.extend(other.create_ms)
        for name in (
            "bytes",
            "requests",
            "segments",
            "sessions",
            "seeks",
            "switches",
            "titles_finished",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.update(other.errors)
