"""Running a steps job: fetch what its steps name, run its passes, check what they wrote.

The objects a step names (overlay images, clips to append) are fetched into the job
directory first and held to the same intake limits as the input: formats, codecs, size,
pixels, streams, duration; a refusal names the step (``steps[1].image: ...``). Then the
plan (:mod:`core.steps.compile`) runs down the accelerator tiers like any job: the main pass, each
streaming package finished and checked, each MP4 read back, and the quality pass last.
Progress is one 0 to 100 over every pass, each weighted by its expected work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.attempt.limits import PipelineLimits
from core.attempt.phases import PhaseTimer
from core.attempt.upload import UploadAhead
from core.attempt.verify import verify_mp4
from core.errors import FfapiError, InputTooLong, InvalidMedia
from core.events.progress import EncodeProgress
from core.jobs.results import OutputFile
from core.media.accel import AccelTier, TierChoice
from core.media.encoders import missing_encoder
from core.media.fallback import TierRun, run_on_tiers
from core.media.preflight import check_media, check_size
from core.media.probe import ProbeResult, parse_probe
from core.models import OutputLocation, S3ObjectRef, step_objects
from core.ports import Accelerator, JobDir, LocalFiles, MediaTool, ObjectStore
from core.presets import StepsPreset
from core.steps.chain_pass import refuse
from core.steps.compile import SCAN_DIR, StepsPlan, compile_steps
from core.steps.files import StepFiles, StepFilesRead, writes_in_main_pass
from core.steps.loudness import LoudnessMeasure, LoudnessReport, parse_named
from core.steps.loudness_pass import MeasurePass, plan_measure, run_measure, steps_report
from core.steps.model import Subtitles
from core.steps.overlays import image_guard
from core.steps.quality import QualityReport
from core.steps.quality_pass import QualityPass, quality_weight
from core.steps.stage import Attached, shaped_probe
from core.streaming.packaging import Package, StreamingPackager
from core.text.captions import CaptionReader
from core.text.subtitle_files import check_subtitle_size, subtitle_guard, subtitle_probe
from core.text.subtitle_run import (
    SidecarPackager,
    SubtitleConverter,
    SubtitleSources,
    TextTools,
    TextTracks,
)

ATTACH_DIR = "attach"  # the step objects, under our own names (never the key's)

Progress = Callable[[EncodeProgress], None]


@dataclass(slots=True)
class StepsRun:
    plan: StepsPlan
    packages: dict[int, Package] = field(default_factory=dict)
    mp4s: dict[int, list[OutputFile]] = field(default_factory=dict)
    written: dict[int, StepFilesRead] = field(default_factory=dict)  # by the main pass
    quality: QualityReport | None = None
    # the report, and the steps it belongs to: the loudness step, or the encodes that asked
    loudness: tuple[tuple[int, ...], LoudnessReport] | None = None
    log: str = ""  # the main pass's log, when it holds the normalizer's figures


class PassProgress:
    """Each pass's own progress, placed in its share of the whole job's."""

    def __init__(self, weights: tuple[float, ...], sink: Progress | None) -> None:
        self._weights = weights
        self._sink = sink

    @property
    def total(self) -> float:
        return sum(self._weights)

    def of(self, index: int, length: float) -> Progress | None:
        sink = self._sink
        if sink is None:
            return None
        before, weight = sum(self._weights[:index]), self._weights[index]
        last = index == len(self._weights) - 1

        def offer(progress: EncodeProgress) -> None:
            share = min(1.0, progress.out_seconds / length) if length > 0 else 0.0
            done = progress.done and last
            out = self.total if done else before + weight * (1.0 if progress.done else share)
            sink(EncodeProgress(out, progress.speed, done))

        return offer


class StepsRunner:
    def __init__(
        self, objects: ObjectStore, media: MediaTool, files: LocalFiles,
        packager: StreamingPackager, accel: Accelerator, limits: PipelineLimits,
    ) -> None:  # fmt: skip
        self._objects = objects
        self._media = media
        self._files = files
        self._packager = packager
        self._accel = accel
        self._limits = limits
        self._step_files = StepFiles(media, files)
        self._quality = QualityPass(media, files, limits)

    async def fetch(self, preset: StepsPreset, bucket: str, jobdir: JobDir) -> dict[str, Attached]:
        """Every object the steps name, downloaded and probed, each refused as an input
        would be (the message names the step)."""
        found: dict[str, Attached] = {}
        named = step_objects(preset.steps, bucket)
        if named:
            await self._files.make_dirs(jobdir.root, (ATTACH_DIR,))
        for number, (where, ref) in enumerate(named):
            path = jobdir.root / ATTACH_DIR / str(number)
            try:
                found[where] = await self._fetch_one(preset, where, ref, path)
            except FfapiError as exc:
                raise exc.at(where) from None
        return found

    async def _fetch_one(
        self, preset: StepsPreset, where: str, ref: S3ObjectRef, path: Path
    ) -> Attached:
        media = self._limits.media
        info = await self._objects.head(ref)
        check_size(info.size, media, preset)
        subtitles = where.endswith(".source")
        if subtitles:
            check_subtitle_size(info.size)
        # the ETag pinned when the job was taken, if any: an object replaced since is refused
        await self._objects.download(ref.model_copy(update={"etag": ref.etag or info.etag}), path)
        if subtitles:  # read by the subtitle demuxers only; converted before the pass
            found = subtitle_probe(await self._media.probe(path, subtitle_guard(media.guard)))
            check_subtitle_size(found.size)  # where the HEAD stated none
            return Attached(where, PurePosixPath(path), found)
        image = where.endswith(".image")
        doc = await self._media.probe(path, image_guard(media.guard) if image else media.guard)
        probe = parse_probe(doc, still=image)
        if image and probe.video is None:
            raise InvalidMedia("is not a picture")
        check_media(probe, media, preset)
        return Attached(where, PurePosixPath(path), probe)

    async def run(
        self, preset: StepsPreset, probe: ProbeResult, attached: Mapping[str, Attached],
        jobdir: JobDir, out: OutputLocation, job_id: str, timer: PhaseTimer,
        progress: Callable[[float], Progress | None], ahead: UploadAhead,
    ) -> TierRun[StepsRun]:  # fmt: skip
        """``progress(total)``: the job's progress sink for a whole of ``total`` seconds of
        work; ``ahead``: where the packages' segments go as soon as they are final."""

        # one sink for every tier tried (the same steps weigh the same on each): the percent
        # never goes back when a fallback starts the pass again
        sinks: dict[float, Progress | None] = {}

        def sink(total: float) -> Progress | None:
            if total not in sinks:
                sinks[total] = progress(total)
            return sinks[total]

        source, guard = PurePosixPath(jobdir.source), self._limits.media.guard
        measuring = plan_measure(preset, probe, source, attached, guard)
        # by audio track; once, whichever tier runs the main pass
        measured: list[dict[int, LoudnessMeasure]] = []

        async def attempt(choice: TierChoice) -> StepsRun:
            def planned() -> StepsPlan:
                return compile_steps(
                    preset, probe, source, PurePosixPath(jobdir.out), attached, choice, guard,
                    loudness=measured[0] if measured else None,
                )  # fmt: skip

            plan = planned()  # refused here, before measuring, if the steps cannot run
            self._check_length(plan)
            if tracks and not any(t.package is not None for t in plan.encodes):
                refuse(f"steps[{tracks.first}] (subtitles): a sidecar track goes into a "
                       "streaming package, and no encode step makes one")  # fmt: skip
            weights = (measuring.weight if measuring else 0.0, plan.main.weight,
                       *((quality_weight(plan),) if plan.quality else ()))  # fmt: skip
            passes = PassProgress(weights, sink(sum(weights)))
            if measuring is not None and not measured:
                with timer.phase("loudness"):
                    measured.append(await self._measure(measuring, jobdir, passes))
                plan = planned()
            run = await self._main(plan, jobdir, out, job_id, timer, passes, tracks, ahead)
            if measuring is not None:
                named = parse_named(run.log) if plan.logged else {}
                run.loudness = steps_report(preset, measuring, measured[0], named, probe)
            if plan.quality is not None:
                with timer.phase("quality"):
                    run.quality = await self._quality.run(
                        plan, jobdir, passes.of(2, plan.chain.shape.duration)
                    )
            return run

        async def discard() -> None:
            await ahead.halt()  # a failed tier's segments are about to go
            await self._packager.discard(jobdir)

        tracks = await self._subtitles(preset, probe, attached, jobdir, timer)
        return await run_on_tiers(self._accel, attempt, discard, self._can_run(preset))

    async def _subtitles(
        self, preset: StepsPreset, probe: ProbeResult, attached: Mapping[str, Attached],
        jobdir: JobDir, timer: PhaseTimer,
    ) -> TextTracks:  # fmt: skip
        """Every subtitles step's source converted once, before any tier runs the pass (a
        hostile file is refused first); the sidecar tracks' cues, and the captions steps."""
        steps = [(i, s) for i, s in enumerate(preset.steps) if isinstance(s, Subtitles)]
        if not steps:
            return TextTracks()
        captions = tuple((i, s) for i, s in steps if s.captions is not None)
        sources = SubtitleSources(probe, PurePosixPath(jobdir.source), attached,
                                  self._limits.media.guard)  # fmt: skip
        with timer.phase("subtitles"):
            sidecars = await SubtitleConverter(self._text_tools()).prepare(
                preset.steps, sources, jobdir.root
            )
        return TextTracks(sidecars, captions)

    def _text_tools(self) -> TextTools:
        cpu = self._limits.resources.for_tier(AccelTier.CPU)
        return TextTools(self._media, self._files, self._limits.transcode_timeout, cpu)

    async def _text_tracks(self, package: Package, sub: JobDir, tracks: TextTracks) -> Package:
        """The sidecar tracks, and the captions found in the package's own video, added."""
        reader = CaptionReader(self._text_tools())
        found = await reader.read(package, sub, tracks.captions)
        sidecars = tracks.sidecars + found.sidecars
        if not sidecars and not found.declared:
            return package
        packager = SidecarPackager(self._media, self._files)
        return await packager.add(package, sub, sidecars, found.declared)

    async def _measure(
        self, measuring: MeasurePass, jobdir: JobDir, passes: PassProgress
    ) -> dict[int, LoudnessMeasure]:
        limits = self._limits.resources.for_tier(AccelTier.CPU)
        return await run_measure(
            self._media, measuring, jobdir.root, self._limits.transcode_timeout,
            passes.of(0, measuring.duration), limits,
        )  # fmt: skip

    def _can_run(self, preset: StepsPreset) -> Callable[[AccelTier], bool]:
        build = self._limits.encoders
        return lambda tier: build is None or missing_encoder(preset, tier, build) is None

    def _check_length(self, plan: StepsPlan) -> None:
        """The input-length cap counts what the steps make of it (clips appended, speed)."""
        limit = self._limits.media.max_duration_seconds
        if plan.chain.shape.duration > limit:
            raise InputTooLong(
                f"steps: the picture the steps make is {plan.chain.shape.duration:.0f} s; "
                f"the limit is {limit:.0f} s"
            )

    async def _main(
        self, plan: StepsPlan, jobdir: JobDir, out: OutputLocation, job_id: str,
        timer: PhaseTimer, passes: PassProgress, tracks: TextTracks, ahead: UploadAhead,
    ) -> StepsRun:  # fmt: skip
        files = self._files
        await files.make_dirs(jobdir.out, plan.dirs)
        scratch = {str(PurePosixPath(f.name).parent) for f in plan.chain.files}
        await files.make_dirs(jobdir.root, (SCAN_DIR, *sorted(scratch)))
        for caption in plan.chain.files:  # the words reach ffmpeg through these files only
            await files.write_text(jobdir.root / caption.name, caption.text)
        limits = self._limits.resources.for_tier(plan.main.tier)
        run = StepsRun(plan)
        with timer.phase("encode"):
            # the same run either way; measure() hands back the log (the normalizer's figures)
            ffmpeg = self._media.measure if plan.logged else self._media.transcode
            log = await ffmpeg(
                plan.main.argv, jobdir.root, self._limits.transcode_timeout,
                passes.of(1, plan.chain.shape.duration),
                limits.widened(plan.encoder_reserve_mib * 1024**2),
            )  # fmt: skip
            run.log = log or ""
        # the files the steps wrote themselves are final: read (and sent) meanwhile
        reading = asyncio.create_task(self._read_written(plan, jobdir, out, job_id, ahead))
        try:
            await self._check_encodes(run, jobdir, out, job_id, timer, tracks, ahead)
            run.written = await reading
        finally:  # a package failed first: its error is the job's (this one's is read)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        return run

    async def _check_encodes(
        self, run: StepsRun, jobdir: JobDir, out: OutputLocation, job_id: str,
        timer: PhaseTimer, tracks: TextTracks, ahead: UploadAhead,
    ) -> None:  # fmt: skip
        """Each streaming package finished and checked, each MP4 read back."""
        plan, files = run.plan, self._files
        limits = self._limits.resources.for_tier(plan.main.tier)
        shaped = shaped_probe(plan.chain.shape)
        for target in plan.encodes:
            if target.package is not None:
                sub = JobDir(jobdir.root, jobdir.source, jobdir.out / target.folder)
                package = await self._packager.finish(
                    target.package, shaped, sub, self._limits.transcode_timeout, timer, limits,
                    ahead,
                )  # fmt: skip
                if tracks:
                    with timer.phase("package"):
                        package = await self._text_tracks(package, sub, tracks)
                run.packages[target.index] = package
            elif target.mp4 is not None:
                with timer.phase("package"):
                    run.mp4s[target.index] = await verify_mp4(
                        self._media, files, target.mp4, jobdir, out, job_id
                    )

    async def _read_written(
        self, plan: StepsPlan, jobdir: JobDir, out: OutputLocation, job_id: str,
        ahead: UploadAhead,
    ) -> dict[int, StepFilesRead]:  # fmt: skip
        """The frames, previews, scenes, clips and sounds, read back and sent ahead."""
        targets = [t for t in plan.targets if writes_in_main_pass(t)]
        found = await asyncio.gather(*(
            self._step_files.read(t, plan.chain.shape, jobdir, out, job_id) for t in targets
        ))  # fmt: skip
        ahead.send_files(path for read in found for path in read.paths(job_id))
        return {t.index: read for t, read in zip(targets, found, strict=True)}
