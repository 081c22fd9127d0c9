"""A :class:`~ferrite.transcode.job.TranscodeJob` as JSON and back, for a playback node
asking a transcode worker for a segment.

The worker runs the very job the playback node would have run itself (same plan, same
rung, same filters: the same ffmpeg argv), so its segments are the same bytes. Pure.
"""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction
from typing import Any

from ferrite.media.renditions import Rung
from ferrite.transcode.job import HW_ACCELS, BurnIn, TranscodeJob, VideoJob, validate


def _fraction(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def _parse_fraction(value: object) -> Fraction | None:
    return None if value is None else Fraction(str(value))


def to_wire(job: TranscodeJob) -> dict[str, Any]:
    """``job`` (a video job) as plain JSON values."""
    if job.video is None or job.audio is not None:
        raise ValueError("only video jobs are sent to workers")
    out = asdict(job)
    out["boundaries"] = list(job.boundaries)
    video = out["video"]
    video["source_frame_rate"] = _fraction(job.video.source_frame_rate)
    video["rung"]["frame_rate"] = _fraction(job.video.rung.frame_rate)
    return out


def from_wire(data: dict[str, Any]) -> TranscodeJob:
    """The job ``to_wire`` encoded; ``ValueError`` (or ``TypeError``/``KeyError``) on
    anything else."""
    v = dict(data["video"])
    rung = dict(v.pop("rung"))
    rung["frame_rate"] = _parse_fraction(rung.get("frame_rate"))
    burn = v.pop("burn", None)
    video = VideoJob(
        rung=Rung(**rung),
        burn=None if burn is None else BurnIn(**burn),
        source_frame_rate=_parse_fraction(v.pop("source_frame_rate", None)),
        **v,
    )
    fields = {k: val for k, val in data.items() if k not in ("video", "audio", "boundaries")}
    if fields.get("hwaccel", "none") not in HW_ACCELS:
        raise ValueError("unknown hwaccel")
    job = TranscodeJob(
        boundaries=tuple(float(b) for b in data["boundaries"]), video=video, **fields
    )
    validate(job)
    return job
