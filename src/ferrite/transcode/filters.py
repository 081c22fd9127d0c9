"""The video filter graph of a transcode run: deinterlace, frame-rate cap, scale, HDR ->
SDR tone mapping, subtitle burn-in (libass for text, an overlaid bitmap stream for PGS,
VobSub, DVB) and the hardware upload; and ffmpeg's two levels of filter-graph escaping.
Pure.
"""

from __future__ import annotations

from typing import Final

from ferrite.media.inputs import ffmpeg_input_args
from ferrite.transcode.job import TranscodeJob, VideoJob, time_arg

#: The HDR -> SDR chain (zscale + tonemap, Hable curve). zscale reads the input's color
#: properties from the frames ("no path between colorspaces" when they are unset), so a
#: ``setparams`` with the probed tags goes first (see :meth:`VideoJob.color_params`).
TONEMAP_CHAIN: Final = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
)
DEINTERLACE: Final = "bwdif=mode=send_frame:parity=auto:deint=all"
#: How far before the run's start embedded bitmap subtitles are read (a cue shown longer
#: than this when the run starts is missed until its next display set).
IMAGE_SUB_LOOKBACK_S: Final = 30.0


def escape_filter_value(value: str) -> str:
    """Escape an option value inside one filter's arguments (first level).

    ``\\``, ``'`` and ``:`` get a backslash. Every other character is literal at this level.
    See https://ffmpeg.org/ffmpeg-filters.html#Notes-on-filtergraph-escaping.
    """
    return "".join("\\" + c if c in "\\':" else c for c in value)


def escape_filtergraph(text: str) -> str:
    """Escape a filter's argument string for the filter-graph parser (second level):
    ``\\ ' [ ] , ;`` get a backslash (and so do the first level's backslashes)."""
    return "".join("\\" + c if c in "\\'[],;" else c for c in text)


def filter_path(path: str) -> str:
    """A file path as a filter option value inside a filter graph (both levels)."""
    return escape_filtergraph(escape_filter_value(path))


# --- the graph ---------------------------------------------------------------------------


def _tonemap(v: VideoJob) -> str:
    params = v.color_params()
    return f"setparams={params},{TONEMAP_CHAIN}" if params else TONEMAP_CHAIN


def video_filter(job: TranscodeJob, v: VideoJob) -> tuple[str, list[str]]:
    """(filter_complex graph ending in ``[vout]``, extra input args)."""
    rung = v.rung
    chain: list[str] = []
    if v.deinterlace:
        chain.append(DEINTERLACE)
    if (
        rung.frame_rate is not None
        and v.source_frame_rate is not None
        and rung.frame_rate < v.source_frame_rate
    ):
        chain.append(f"fps=fps={rung.frame_rate.numerator}/{rung.frame_rate.denominator}:round=up")
    chain.append(f"scale=w={rung.width}:h={rung.height}")
    if v.tone_map:
        chain.append(_tonemap(v))
    extra_inputs: list[str] = []
    graph: list[str] = []
    burn = v.burn
    if burn is not None and burn.kind == "text":
        if burn.path is not None:
            chain.append(f"subtitles=filename={filter_path(burn.path)}")
        else:
            chain.append(f"subtitles=filename={filter_path(job.input)}:si={burn.ordinal}")
    tail = ["format=yuv420p"]
    if job.hwaccel == "vaapi":
        tail += ["format=nv12", "hwupload"]
    elif job.hwaccel == "qsv":
        tail += ["format=nv12", "hwupload=extra_hw_frames=64"]
    if burn is not None and burn.kind == "image":
        if burn.path is not None:
            # read from its start: a small file
            extra_inputs = [*ffmpeg_input_args(burn.path), "-i", burn.path]
            sub_label = "[1:s:0]"
        else:
            # The same file again, seeked further back: a bitmap cue that began before
            # boundary k (a PGS display set at 0.5 s shown until 2.5 s, run from 1 s) is
            # behind the main input's seek point and would never be drawn. The second
            # demuxer reads the bytes the first just read (page cache), so it's cheap.
            lookback = job.boundaries[job.start_index] - job.source_start_s - IMAGE_SUB_LOOKBACK_S
            extra_inputs = [
                *ffmpeg_input_args(job.input),
                "-ss",
                time_arg(lookback),
                "-i",
                job.input,
            ]
            sub_label = f"[1:{burn.stream_index}]"
        graph.append(f"[0:{v.stream_index}]{','.join(chain)}[base]")
        graph.append(f"{sub_label}scale=w={rung.width}:h={rung.height}[sub]")
        graph.append(f"[base][sub]overlay=eof_action=pass,{','.join(tail)}[vout]")
    else:
        graph.append(f"[0:{v.stream_index}]{','.join([*chain, *tail])}[vout]")
    return ";".join(graph), extra_inputs
