"""The key transcode runs are shared under: what a run produces, independent of who
watches (DESIGN.md principle 1: a segment is a pure function of file, rendition, index).

Pure: a record and a hash of a :class:`~ferrite.transcode.job.TranscodeJob`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from ferrite.transcode.job import TranscodeJob

__all__ = ["RenditionKey", "spec_hash"]


@dataclass(frozen=True, slots=True)
class RenditionKey:
    """What a run produces, independent of who watches: the file (content fingerprint),
    its segment plan (``SegmentPlan.key``), the rendition id (``"720p"``, ``"aac-2ch"``)
    and :func:`spec_hash` of the job (rung, tone mapping, deinterlace, burn-in, audio
    target, encoder quality)."""

    fingerprint: str
    plan_key: str
    rendition: str
    spec: str

    @classmethod
    def for_job(
        cls, fingerprint: str, plan_key: str, rendition: str, job: TranscodeJob
    ) -> RenditionKey:
        return cls(fingerprint, plan_key, rendition, spec_hash(job))

    def __str__(self) -> str:
        return f"{self.fingerprint[:8]}/{self.plan_key[:8]}/{self.rendition}/{self.spec[:8]}"


def spec_hash(job: TranscodeJob) -> str:
    """16 hex digits over what decides a run's output bytes, minus where it runs: the
    input path, plan, start/end, output directory, ffmpeg binary, hardware device and
    thread count are left out (hardware and software encodes of one rung cut at the same
    times are interchangeable segments)."""
    neutral = replace(
        job,
        input="",
        boundaries=(),
        start_index=0,
        end_index=None,
        out_dir="",
        source_start_s=0.0,
        ffmpeg="",
        hwaccel="none",
        vaapi_device="",
        threads=None,
    )
    return hashlib.sha256(repr(neutral).encode()).hexdigest()[:16]
