"""Making a streaming package in the job directory: encode, finish the manifests, check.

``produce`` measures a preset's loudness target first (when it has one), encodes (the
segments checked and sent ``ahead`` as the encoder finishes them: :func:`watched`), then
``finish``es (also a package a steps job's pass wrote): the storyboard's sheets made while
the packets are read, the manifests finished (audio languages into the init segments),
measured and checked, the media segments handed meanwhile to an :class:`UploadAhead`. The
result is a :class:`Package`: the files in upload tiers, the renditions as ``job.json``
describes them, the QC report. A package that fails QC raises :class:`QcFailed` with the
report: nothing that names its files is uploaded (and the job withdraws the segments).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Literal

from core.attempt.phases import PhaseTimer
from core.attempt.upload import Upload, UploadAhead
from core.errors import QcFailed
from core.events.progress import EncodeProgress
from core.jobs.results import Rendition
from core.media.accel import CPU_ONLY, TierChoice
from core.media.hardening import NO_LIMITS, SOURCE_GUARD, InputGuard, ResourceLimits
from core.media.plan import reads_as_one
from core.media.probe import ProbeResult
from core.ports import JobDir, LocalFiles, MediaTool
from core.presets import StreamingPreset
from core.steps.loudness import LoudnessReport
from core.steps.loudness_pass import measure_source
from core.streaming.audio_manifests import AudioSet, shared_bandwidths
from core.streaming.audio_tracks import kept_tracks
from core.streaming.mp4_language import tag_language
from core.streaming.package_media import (
    PackageMedia,
    as_rendition,
    audio_labels,
    describe,
    facts_by_media,
    upload_tiers,
    variant_rates,
)
from core.streaming.picture_check import picture_problems
from core.streaming.pictures import TILES_DIR
from core.streaming.playlists import (
    MediaPlaylist,
    finish_master,
    finish_media,
    finish_mpd,
    measured_rate,
    read_master,
    read_media,
    read_mpd,
    resolve,
)
from core.streaming.qc import PacketFold, QcInputs, QcReport, RateCap, RenditionFacts, evaluate
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.segment_qc import SegmentCheck
from core.streaming.segment_watch import SegmentSink, SegmentWatch, watched
from core.streaming.storyboard import sheets_argvs, storyboard_vtt

_MEASURE_CONCURRENCY = 4


@dataclass(slots=True)
class Package:
    plan: StreamingPlan
    files: list[Upload]  # every file to publish, by tier
    renditions: list[Rendition]
    qc: QcReport
    sizes: dict[str, int] = field(default_factory=dict)
    loudness: LoudnessReport | None = None  # the preset's loudness target: what it found


class StreamingPackager:
    def __init__(self, media: MediaTool, files: LocalFiles) -> None:
        self._media = media
        self._files = files

    async def produce(
        self,
        preset: StreamingPreset,
        probe: ProbeResult,
        jobdir: JobDir,
        timeout: float,
        timer: PhaseTimer,
        choice: TierChoice = CPU_ONLY,
        progress: Callable[[EncodeProgress], None] | None = None,
        *,
        guard: InputGuard = SOURCE_GUARD,
        limits: ResourceLimits = NO_LIMITS,
        ahead: UploadAhead | None = None,
        sinks: Sequence[SegmentSink] = (),
    ) -> Package:
        """``guard``: the upload's input flags; ``limits``: each ffmpeg process's, for the
        tier ``choice`` names; ``ahead``: where the segments go as soon as they are final;
        ``sinks``: told of them too, after their QC and ``ahead``."""
        source, out = PurePosixPath(jobdir.source), PurePosixPath(jobdir.out)
        loud = None
        if preset.loudness is not None:  # the preset's target: measured first (a phase then)
            with timer.phase("loudness"):
                # every track the ladder keeps, each normalized alone
                kept = kept_tracks(preset, probe)
                loud = await measure_source(self._media, preset.loudness, probe, source,
                                            jobdir.root, guard, timeout, limits, kept)  # fmt: skip
        normalizers = loud.filters if loud else {}
        plan = plan_streaming(preset, probe, source, out, choice, guard, normalizers)
        await self._files.make_dirs(jobdir.out, plan.directories)
        with timer.phase("encode"):
            # the same run either way; measure() hands back the log (the normalizers' figures)
            ffmpeg = self._media.measure if loud and loud.logged else self._media.transcode
            encode = ffmpeg(plan.argv, jobdir.root, timeout, progress, plan.limits(limits))
            told: list[SegmentSink] = [
                SegmentCheck(self._files, jobdir.out),
                *([ahead] if ahead else []),
                *sinks,
            ]
            log = await watched(SegmentWatch(self._files, jobdir.out, plan, told), encode)
        package = await self.finish(plan, probe, jobdir, timeout, timer, limits, ahead)
        return replace(package, loudness=loud.report(log or "")) if loud else package

    async def finish(
        self, plan: StreamingPlan, probe: ProbeResult, jobdir: JobDir, timeout: float,
        timer: PhaseTimer, limits: ResourceLimits = NO_LIMITS, ahead: UploadAhead | None = None,
    ) -> Package:  # fmt: skip
        """All that follows the encode, whoever's pass wrote the segments: the storyboard's
        sheets, the manifests finished, the QC; the segments meanwhile sent ``ahead``.
        ``jobdir.out`` is the package's own output directory (the plan's paths are relative
        to it)."""
        await self._files.make_dirs(jobdir.root, ("qc",))
        sizes = await self._files.sizes(jobdir.out)
        if ahead is not None:
            ahead.send(jobdir.out, sizes)
        with timer.phase("package"):
            # the sheets (ffmpeg, from the tiles) and the QC (ffprobe, over the segments)
            # read different files: both at once
            sheets = asyncio.create_task(self._sheets(plan, jobdir, timeout, limits))
            try:
                return await self._check(plan, probe, jobdir, sheets, sizes)
            finally:  # the QC failed first: its error is the job's (the sheets' is read)
                sheets.cancel()
                await asyncio.gather(sheets, return_exceptions=True)

    async def _sheets(
        self, plan: StreamingPlan, jobdir: JobDir, timeout: float, limits: ResourceLimits
    ) -> None:
        """The storyboard's tiles into sprite sheets. No tile, no run (a damaged input): the
        QC says so, permanently, where ffmpeg would fail to find them and be retried."""
        if plan.storyboard is None:
            return
        tiles = len(await self._files.sizes(jobdir.out / TILES_DIR))
        out = PurePosixPath(jobdir.out)
        for argv in sheets_argvs(plan.storyboard, out, tiles):
            await self._media.transcode(argv, jobdir.root, timeout, None, limits)
        await self._files.clear(jobdir.out / TILES_DIR)

    async def discard(self, jobdir: JobDir) -> None:
        """Forget a failed run's files (partial segments, QC scratch) before another tier."""
        await self._files.clear(jobdir.out)
        await self._files.clear(jobdir.root / "qc")

    async def _check(
        self, plan: StreamingPlan, probe: ProbeResult, jobdir: JobDir, sheets: Awaitable[None],
        sizes: dict[str, int],
    ) -> Package:  # fmt: skip
        """``sizes``: the files the encode wrote (the tiles before they became sheets)."""
        medias, missing = await self._finish_hls(plan, jobdir.out, sizes)
        _, mismatched = await asyncio.gather(
            self._tag_languages(jobdir.out, medias, sizes),
            self._finish_dash(plan, jobdir.out, medias, sizes, missing),
        )
        facts = await self._measure(plan, jobdir, medias, sizes)
        await sheets
        images = await self._images(plan, jobdir.out, await self._files.sizes(jobdir.out), facts)
        report = evaluate(
            QcInputs(
                source_duration=_source_duration(probe, plan),
                segment_seconds=plan.segment_seconds,
                fps=plan.fps,
                renditions=tuple(facts),
                missing=tuple(sorted(missing)),
                mismatched=tuple(mismatched),
                images=tuple(images),
                rate_caps=tuple(
                    RateCap(r.name, 1000 * r.maxrate_kbps, 1000 * r.bufsize_kbps)
                    for r in plan.video
                ),
            )
        )
        if not report.passed:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in report.failures())
            raise QcFailed(f"package failed QC: {failed}", details={"qc": report.model_dump()})
        sizes = await self._files.sizes(jobdir.out)  # playlists were rewritten, a VTT added
        files = upload_tiers(plan, medias, sizes)
        renditions = [
            as_rendition(m, f, sizes, plan.encoder if m.kind == "video" else "aac")
            for m, f in zip(medias, facts_by_media(facts, medias), strict=True)
        ]
        return Package(plan, files, renditions, report, sizes)

    async def _finish_hls(
        self, plan: StreamingPlan, out: Path, sizes: dict[str, int]
    ) -> tuple[list[PackageMedia], set[str]]:
        """Rewrite every media playlist (VOD, independent segments, no PDT) and the master
        (independent segments, measured bandwidths); return the media playlists as
        published and the files they name that are missing."""
        missing: set[str] = set()
        if plan.master not in sizes:
            missing.add(plan.master)
            return [], missing
        raw = await self._files.read_text(out / plan.master)
        master = read_master(raw)
        named = [(i, uri, resolve(plan.master, uri)) for i, uri in enumerate(master.media_uris)]
        missing.update(path for _, _, path in named if path not in sizes)
        present = [(i, uri, path) for i, uri, path in named if path in sizes]
        # the playlists read, finished and written back all at once: they are files apart
        texts = await asyncio.gather(*(self._files.read_text(out / p) for _, _, p in present))
        finished = [finish_media(text) for text in texts]
        medias: list[PackageMedia] = []
        for (index, uri, path), text in zip(present, finished, strict=True):
            parsed = read_media(path, text)
            playlist = MediaPlaylist(
                uri=path,
                init=resolve(path, parsed.init) if parsed.init else None,
                segments=tuple((resolve(path, u), d) for u, d in parsed.segments),
                target_duration=parsed.target_duration,
            )
            missing.update(f for f in playlist.files if f not in sizes)
            medias.append(describe(plan, index, uri, playlist))
        rates = variant_rates(master, medias, sizes)
        text = finish_master(raw, rates, plan.fps, audio_labels(medias, sizes))
        await asyncio.gather(
            *(self._files.write_text(out / p, t)
              for (_, _, p), t in zip(present, finished, strict=True)),
            self._files.write_text(out / plan.master, text),
        )  # fmt: skip
        return medias, missing

    async def _tag_languages(
        self, out: Path, medias: list[PackageMedia], sizes: dict[str, int]
    ) -> None:
        """Each audio rendition's language into its init segment, which the muxer leaves
        ``und`` (same size: the measured rates stand)."""

        async def tag(init: str, language: str) -> None:
            data = await self._files.read_bytes(out / init)
            await self._files.write_bytes(out / init, tag_language(data, language))

        labels = [(m.playlist.init, m.audio.language) for m in medias if m.audio]
        await asyncio.gather(*(tag(init, language) for init, language in labels
                               if init is not None and init in sizes and language))  # fmt: skip

    async def _finish_dash(
        self,
        plan: StreamingPlan,
        out: Path,
        medias: list[PackageMedia],
        sizes: dict[str, int],
        missing: set[str],
    ) -> list[str]:
        """The MPD must name exactly the segments the HLS playlists name: one set of files.
        Then each representation's bandwidth is its HLS media playlist's measured peak."""
        if plan.mpd is None:
            return []
        if plan.mpd not in sizes:
            missing.add(plan.mpd)
            return []
        raw = await self._files.read_text(out / plan.mpd)
        reps = read_mpd(raw)
        by_files = {m.playlist.files: m for m in medias}
        dash_sets = {rep.id: tuple(resolve(plan.mpd, f) for f in rep.files) for rep in reps}
        missing.update(f for files in dash_sets.values() for f in files if f not in sizes)
        if sorted(m.playlist.files for m in medias) != sorted(dash_sets.values()):
            return [
                f"manifest.mpd names {len(dash_sets)} renditions' segments that the HLS "
                f"playlists ({len(medias)}) do not"
            ]
        peaks = {rep: measured_rate(by_files[files].playlist, sizes)[0]
                 for rep, files in dash_sets.items()}  # fmt: skip
        audio = {rep: a for rep, files in dash_sets.items()
                 if (a := by_files[files].audio) is not None}  # fmt: skip
        sets = {rep: AudioSet(a.language, a.role) for rep, a in audio.items()}
        peaks = shared_bandwidths(peaks, {rep: a.group for rep, a in audio.items()})
        await self._files.write_text(out / plan.mpd, finish_mpd(raw, peaks, sets))
        return []

    async def _measure(
        self, plan: StreamingPlan, jobdir: JobDir, medias: list[PackageMedia], sizes: dict[str, int]
    ) -> list[RenditionFacts]:
        """Read every rendition's packets (its init and media segments read in place as one
        file), a few renditions at once: the encode is over and the cores are free."""
        gate = asyncio.Semaphore(_MEASURE_CONCURRENCY)

        async def one(i: int, media: PackageMedia) -> list[RenditionFacts]:
            if any(f not in sizes for f in media.playlist.files):
                return []  # already a failed "references" check
            async with gate:
                return await self._measure_one(plan, jobdir, i, media, sizes)

        found = await asyncio.gather(*(one(i, m) for i, m in enumerate(medias)))
        return [facts for group in found for facts in group]

    async def _measure_one(
        self, plan: StreamingPlan, jobdir: JobDir, i: int, media: PackageMedia,
        sizes: dict[str, int],
    ) -> list[RenditionFacts]:  # fmt: skip
        cmaf = plan.kind == "cmaf"
        files = media.playlist.files
        in_place = reads_as_one(files)
        parts = [jobdir.out / f for f in files]
        if not in_place:  # too many to name in one argument: a copy, joined
            joined = jobdir.root / "qc" / f"rendition-{i}{'.mp4' if cmaf else '.ts'}"
            await self._files.concat(parts, joined)
        offsets = list(itertools.accumulate((sizes[f] for f in files), initial=0))[:-1]
        segment_offsets = offsets[1:] if media.playlist.init else offsets
        # an MPEG-TS variant of one track carries its audio: both measured, for the drift check
        both = media.kind == "video" and plan.muxed_audio
        own: Literal["v", "a"] = "v" if media.kind == "video" else "a"
        streams: list[Literal["v", "a"]] = ["v", "a"] if both else [own]
        facts = []
        for stream in streams:
            fold = PacketFold(segment_offsets)
            read = parts if in_place else [joined]
            await self._media.packets(read, ("mov",) if cmaf else ("mpegts",), stream, fold.add)
            kind: Literal["video", "audio"] = "video" if stream == "v" else "audio"
            name = media.name if kind == media.kind else f"{media.name} audio"
            facts.append(fold.facts(name, kind, media.playlist))
        if not in_place:
            await self._files.remove(joined)  # a copy of the rendition: free the disk now
        return facts

    async def _images(
        self, plan: StreamingPlan, out: Path, sizes: dict[str, int], facts: list[RenditionFacts]
    ) -> list[str]:
        """Thumbnails and storyboard sheets: as many as the picture's length calls for; the
        storyboard's VTT is written here, from the frame count."""
        frames = next((f.frames for f in facts if f.kind == "video"), 0)
        if (board := plan.storyboard) is not None:
            await self._files.write_text(out / board.vtt, storyboard_vtt(board, frames, plan.fps))
        return picture_problems(plan.thumbnails, board, sizes, frames)


def _source_duration(probe: ProbeResult, plan: StreamingPlan) -> float:
    if plan.video and probe.video and probe.video.duration:
        return probe.video.duration
    return probe.duration
