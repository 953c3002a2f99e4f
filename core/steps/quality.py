"""The ``quality`` step: SSIM and PSNR of every rendition against the transformed source.

One ffmpeg pass after the encodes: the transforms again (the Chain's inputs and graph, so
the reference is exactly the picture the encoders were given), split once per rendition;
each rendition is decoded and both sides are scaled to one size (the largest rendition's,
bicubic) and put on one clock from zero (``settb=AVTB,setpts=PTS-STARTPTS``) before
``ssim`` and ``psnr`` compare them frame by frame into stats files we name by number.

A rendition is read from one ``file:`` path that ffmpeg opens on its own: an MP4, or, for a
CMAF package, its init segment and media segments joined into one fragmented MP4 by the
caller first (a playlist would make ffmpeg open the files it names; one file does not).

VMAF is not computed: Debian's ffmpeg 5.1 is built without libvmaf.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

from core.errors import TranscodeFailed

PSNR_CAP = 100.0  # dB: identical frames have an infinite PSNR; JSON has no infinity
NO_VMAF = "this ffmpeg has no libvmaf"
_DIR_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")
_SSIM = re.compile(r"\bAll:(\S+)")
_PSNR = re.compile(r"\bpsnr_avg:(\S+)")
_SCALE = "flags=bicubic"
_CLOCK = "format=yuv420p,setsar=1,settb=AVTB,setpts=PTS-STARTPTS"


@dataclass(frozen=True, slots=True)
class RenditionRef:
    name: str  # how the report names it ("720p")
    path: PurePosixPath  # one file ffmpeg reads: an MP4, or a CMAF rendition joined


class RenditionQuality(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    frames: int  # frames compared
    ssim_mean: float  # 0 to 1 (1: identical)
    ssim_min: float
    psnr_mean: float  # dB, each frame's capped at PSNR_CAP
    psnr_min: float
    psnr_capped_frames: int  # frames identical to the reference (infinite PSNR, counted as 100)


class QualityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    width: int  # the size every picture was compared at
    height: int
    renditions: tuple[RenditionQuality, ...]
    psnr_cap: float = PSNR_CAP
    vmaf: None = None
    vmaf_reason: str = NO_VMAF


def common_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The size the pictures are compared at: the largest rendition's (by area)."""
    return max(sizes, key=lambda wh: (wh[0] * wh[1], wh[0]))


def stats_files(stats_dir: str, index: int) -> tuple[str, str]:
    """The (SSIM, PSNR) stats files of the ``index``-th rendition, relative to ffmpeg's
    working directory: named by number, never by a request's words."""
    return f"{stats_dir}/ssim-{index}.log", f"{stats_dir}/psnr-{index}.log"


def quality_argv(
    reference_inputs: tuple[str, ...],
    reference_graph: tuple[str, ...],
    reference_label: str,
    renditions: Sequence[RenditionRef],
    width: int,
    height: int,
    stats_dir: str,
    discard_audio: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """The pass's argv after ``ffmpeg`` and its global flags. ``discard_audio``: sound
    labels the reference graph ends in (``[amain]``) that nothing here reads."""
    if not renditions:
        raise ValueError("quality: no rendition to compare")
    if not _DIR_RE.match(stats_dir) or ".." in stats_dir.split("/"):
        raise ValueError(f"stats dir {stats_dir!r}: a relative path of our own names only")
    first = sum(1 for a in reference_inputs if a == "-i")  # the renditions' input numbers
    n = len(renditions)
    size = f"scale={width}:{height}:{_SCALE},{_CLOCK}"
    refs = "".join(f"[qr{i}s][qr{i}p]" for i in range(n))
    graph = [*reference_graph, f"{reference_label}{size},split={2 * n}{refs}"]
    graph += [f"{label}anullsink" for label in discard_audio]
    maps: list[str] = []
    for i in range(n):
        ssim_file, psnr_file = stats_files(stats_dir, i)
        graph += [
            f"[{first + i}:v:0]{size},split[qd{i}s][qd{i}p]",
            f"[qd{i}s][qr{i}s]ssim=stats_file={ssim_file}:shortest=1[qs{i}]",
            f"[qd{i}p][qr{i}p]psnr=stats_file={psnr_file}:shortest=1[qp{i}]",
        ]
        maps += ["-map", f"[qs{i}]", "-map", f"[qp{i}]"]
    inputs = [a for r in renditions for a in ("-i", f"file:{r.path}")]
    return (*reference_inputs, *inputs, "-filter_complex", ";".join(graph), *maps,
            "-f", "null", "-")  # fmt: skip


def parse_quality(ssim_text: str, psnr_text: str, name: str) -> RenditionQuality:
    """One rendition's scores from its two stats files (one line per frame compared)."""
    ssim = [float(m.group(1)) for m in _SSIM.finditer(ssim_text)]
    psnr = [float(m.group(1)) for m in _PSNR.finditer(psnr_text)]
    if not ssim or not psnr:
        raise TranscodeFailed(f"quality: no frame of {name} was compared")
    capped = [min(p, PSNR_CAP) for p in psnr]
    return RenditionQuality(
        name=name,
        frames=min(len(ssim), len(psnr)),
        ssim_mean=round(sum(ssim) / len(ssim), 6),
        ssim_min=min(ssim),
        psnr_mean=round(sum(capped) / len(capped), 4),
        psnr_min=min(capped),
        psnr_capped_frames=sum(1 for p in psnr if math.isinf(p) or p > PSNR_CAP),
    )
