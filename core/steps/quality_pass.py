"""A steps job's quality pass: every rendition its encodes made, compared with the
transformed source (SSIM and PSNR) at one common size.

The chain is decoded again and each ladder rung is read back as one file (its init and
media segments joined, under ``QUALITY_DIR``); an MP4 is read as written. One ffmpeg run
compares them all; its weight in the job's progress is the reference decoded again plus
every rendition decoded once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from core.attempt.limits import PipelineLimits
from core.events.progress import EncodeProgress
from core.media.accel import AccelTier
from core.media.plan import GLOBAL_FLAGS
from core.ports import JobDir, LocalFiles, MediaTool
from core.steps.compile import StepsPlan, StepTarget
from core.steps.quality import (
    QualityReport,
    RenditionRef,
    common_size,
    parse_quality,
    quality_argv,
    stats_files,
)

QUALITY_DIR = "qc-quality"  # the renditions joined into single files, and the stats

Sized = tuple[RenditionRef, tuple[int, int]]


class QualityPass:
    def __init__(self, media: MediaTool, files: LocalFiles, limits: PipelineLimits) -> None:
        self._media = media
        self._files = files
        self._limits = limits

    async def run(
        self, plan: StepsPlan, jobdir: JobDir, progress: Callable[[EncodeProgress], None] | None
    ) -> QualityReport:
        """Every rendition the encodes made against the transformed source."""
        await self._files.make_dirs(jobdir.root, (QUALITY_DIR,))
        refs = planned_refs(plan, PurePosixPath(jobdir.out), PurePosixPath(QUALITY_DIR))
        for target in plan.encodes:
            await self._join(target, jobdir)
        argv = planned_quality(plan, PurePosixPath(jobdir.out), PurePosixPath(QUALITY_DIR))
        assert argv is not None, "a quality step needs an encode step (steps_problem)"
        limits = self._limits.resources.for_tier(AccelTier.CPU)
        await self._media.transcode(
            argv, jobdir.root, self._limits.transcode_timeout, progress, limits
        )
        measured = []
        for i, (ref, _) in enumerate(refs):
            ssim, psnr = stats_files(QUALITY_DIR, i)
            measured.append(parse_quality(
                await self._files.read_text(jobdir.root / ssim),
                await self._files.read_text(jobdir.root / psnr), ref.name,
            ))  # fmt: skip
        width, height = common_size([size for _, size in refs])
        return QualityReport(width=width, height=height, renditions=tuple(measured))

    async def _join(self, target: StepTarget, jobdir: JobDir) -> None:
        """A package's video renditions, each joined into one file (its init segment and
        media segments in order: a whole fragmented MP4, or MPEG-TS)."""
        plan = target.package
        if plan is None:
            return
        package_dir = jobdir.out / target.folder / plan.package_dir
        names = sorted(await self._files.sizes(package_dir))
        for i, rung in enumerate(plan.video):
            first = () if plan.kind == "hls-ts" else (f"init-{i}.",)
            parts = [n for n in names if n.startswith((*first, f"seg-{i}-"))]
            parts.sort(key=lambda n: not n.startswith("init-"))  # the init segment first
            dest = jobdir.root / QUALITY_DIR / _joined_name(target, rung.name)
            await self._files.concat([package_dir / n for n in parts], dest)


def planned_refs(plan: StepsPlan, out: PurePosixPath, joined: PurePosixPath) -> list[Sized]:
    """The renditions the quality pass compares, with their sizes: each MP4 as written, each
    ladder rung as the one file its segments are joined into (under ``joined``)."""
    refs: list[Sized] = []
    for target in plan.encodes:
        if target.mp4 is not None:
            video = next(p for p in target.mp4.outputs if p.role == "video")
            ref = RenditionRef(f"{target.folder}/video", out / video.name)
            refs.append((ref, (target.mp4.width, target.mp4.height)))
        elif target.package is not None:
            refs += [
                (RenditionRef(f"{target.folder}/{r.name}", joined / _joined_name(target, r.name)),
                 (r.width, r.height))
                for r in target.package.video
            ]  # fmt: skip
    return refs


def planned_quality(
    plan: StepsPlan, out: PurePosixPath, joined: PurePosixPath
) -> tuple[str, ...] | None:
    """The quality pass's argv (None: the job has no quality step, or nothing to compare)."""
    refs = planned_refs(plan, out, joined)
    if plan.quality is None or not refs:
        return None
    chain = plan.chain
    assert chain.video is not None, "a quality step needs an encode of the picture"
    # the renditions are compared at the largest one's size, as a player would show them
    width, height = common_size([size for _, size in refs])
    body = quality_argv(chain.inputs, chain.graph, chain.video, [r for r, _ in refs], width,
                        height, str(joined), chain.sounds)  # fmt: skip
    return ("ffmpeg", *GLOBAL_FLAGS, *body)


def _joined_name(target: StepTarget, rung: str) -> str:
    return f"{target.folder}-{rung}.bin"


def quality_weight(plan: StepsPlan) -> float:
    """The reference decoded again, and every rendition decoded once."""
    renditions = sum(
        1 if t.mp4 is not None else len(t.package.video) if t.package is not None else 0
        for t in plan.encodes
    )
    return max(plan.chain.shape.duration, 1.0) * (1 + renditions) * 0.5
