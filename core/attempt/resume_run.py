"""A streaming attempt that keeps its segment ledger, and resumes where a lost one stopped.

Every CMAF or hls-ts encode on a tier is planned here first, to take its plan fingerprint
(:func:`core.attempt.ledger.plan_fingerprint`); its keeper starts from what it keeps. Then:

- **No resume** (no previous ledger, another fingerprint, nothing left in the bucket, an
  hls-ts package, a picture that does not start at 0): the whole encode, its segments told to
  a :class:`~core.attempt.ledger_sink.LedgerSink` as they reach the bucket.
- **A resume** from row ``k`` (:class:`~core.attempt.resume.ResumePoint`): the kept
  segments are the whole encode's first ``k`` of every video rung, made with the same
  settings; only the tail's picture is encoded (:func:`core.streaming.ranges.plan_range`,
  from segment ``k`` with a second of warm-up before it, the segment numbers continued) and
  the whole sound (:func:`~core.streaming.ranges.plan_audio_part`: AAC priming would click
  at a cut; a 32x18 stand-in picture, cheap). The kept segments and the rungs' init segments
  come down from the bucket into the package over the stand-in's, the tail is landed and
  the manifests stitched (:mod:`core.streaming.range_landing`), and the whole encode's own
  ``finish`` and QC judge the package. The kept segments are published as they are (never
  sent again) and are among the package's files, so the commit's prune keeps them.

A resumed package has the clean encode's pictures (:mod:`core.attempt.resume_pictures`):
the tail's range makes the tail's share, a cheap pass over the head, beside it, the head's;
``finish`` lays out the sheets. Its notes say from which segment it was resumed. A
loudness preset's plan needs its measurement first: it keeps no ledger (always a whole
encode). The resumed attempt's own tail goes into the ledger once it is landed (its
segments under their global names, retimed: before that they are not the package's bytes)
and sent ahead, before ``finish``: a loss during ``finish`` resumes from the tail's rows,
one during the tail's encode from the same row as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import structlog

from core.attempt.chunk_pictures import range_pictures
from core.attempt.ledger import SegmentLedger, plan_fingerprint
from core.attempt.ledger_keeper import media_playlists, start_ledger
from core.attempt.ledger_sink import AttemptLedger, LedgerSink
from core.attempt.limits import PipelineLimits
from core.attempt.phases import PhaseTimer
from core.attempt.resume import ResumePoint, resume_point
from core.attempt.resume_pictures import head_pictures
from core.attempt.upload import UploadAhead
from core.errors import FfapiError
from core.events.progress import EncodeProgress
from core.jobs.results import output_key
from core.media.accel import TierChoice
from core.media.probe import ProbeResult
from core.models import OutputLocation, S3ObjectRef
from core.ports import JobDir, LocalFiles, MediaTool, ObjectListing, ObjectStore
from core.presets import StreamingPreset
from core.streaming.packaging import Package, StreamingPackager
from core.streaming.range_landing import land_range, stitch_package
from core.streaming.ranges import RangePlan, plan_audio_part, plan_range, source_grid
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.segment_watch import SegmentSink, SegmentWatch
from core.streaming.stitch import RangeListing

log = structlog.get_logger("ffapi.resume")

# the whole encode of a tier, its segments told to these sinks as well
WholeEncode = Callable[[Sequence[SegmentSink]], Awaitable[Package]]
_FETCHES_AT_ONCE = 16


@dataclass(frozen=True, slots=True)
class Tail:
    """A resumed encode's plans: the picture from the resume point, the whole sound."""

    point: ResumePoint
    ranged: RangePlan
    audio: StreamingPlan
    whole: StreamingPlan  # the whole encode's: what finish judges
    head: StreamingPlan | None  # the head's pictures (None: the preset makes none)


def keeps_segments(ledger: AttemptLedger | None, error: BaseException) -> bool:
    """A failed attempt leaves its segments for the next one when it kept a ledger and the
    failure is retryable (the next attempt resumes from them); a permanent failure, or a
    job without a ledger, withdraws them."""
    return ledger is not None and isinstance(error, FfapiError) and error.retryable


class ResumableEncode:
    def __init__(
        self, objects: ObjectStore, media: MediaTool, files: LocalFiles,
        packager: StreamingPackager, limits: PipelineLimits,
    ) -> None:  # fmt: skip
        self._objects = objects
        self._media = media
        self._files = files
        self._packager = packager
        self._limits = limits

    async def produce(
        self, ledger: AttemptLedger | None, preset: StreamingPreset, probe: ProbeResult,
        jobdir: JobDir, location: OutputLocation, job_id: str, choice: TierChoice,
        ahead: UploadAhead, whole: WholeEncode, timer: PhaseTimer,
        progress: Callable[[EncodeProgress], None] | None,
    ) -> Package:  # fmt: skip
        """The package of one tier's run: resumed where it can be, else ``whole``."""
        if ledger is None or preset.loudness is not None or preset.kind != "cmaf":
            return await whole(())  # hls-ts is never resumed: no ledger to keep
        guard = self._limits.media.guard
        source, out = PurePosixPath(jobdir.source), PurePosixPath(jobdir.out)
        plan = plan_streaming(preset, probe, source, out, choice, guard)
        fingerprint = plan_fingerprint(
            preset.spec_hash(), plan.argv, tier=choice.tier.value, encoder=plan.encoder,
            roots=(str(jobdir.root),),
        )  # fmt: skip
        playlists = media_playlists(plan)
        rungs = playlists[: len(plan.video)]
        tail = await self._tail(ledger.previous, fingerprint, rungs, preset, probe, jobdir,
                                location, job_id, choice)  # fmt: skip
        start = tail.point.ledger if tail else start_ledger(fingerprint, playlists)
        keeper = ledger.keeper(start)
        await keeper.begin()
        sink = LedgerSink(keeper, ahead, rungs)
        try:
            if tail is None:
                package = await whole((sink,))
            else:
                package = await self._resumed(tail, probe, jobdir, location, job_id, ahead,
                                              timer, progress, sink)  # fmt: skip
            await sink.close()
        except BaseException:
            await sink.abort()
            raise
        return package

    async def _tail(
        self, previous: SegmentLedger | None, fingerprint: str, rungs: Sequence[str],
        preset: StreamingPreset, probe: ProbeResult, jobdir: JobDir, location: OutputLocation,
        job_id: str, choice: TierChoice,
    ) -> Tail | None:  # fmt: skip
        """The resumed encode's plans, or None: a whole encode."""
        grid = source_grid(preset, probe)
        if previous is None or previous.rows == 0 or grid is None:
            return None
        # every row kept: the last is encoded again (a range has at least one segment)
        previous = previous.head(min(previous.rows, len(grid.cuts) - 1))
        prefix = output_key(location, job_id, "")
        listing = await self._objects.list_objects(location.bucket, prefix)  # once per tier
        point = resume_point(previous, fingerprint, listing, prefix)
        if not rungs or point is None or not _inits_there(point, listing, prefix, rungs):
            return None
        guard = self._limits.media.guard
        source, out = PurePosixPath(jobdir.source), PurePosixPath(jobdir.out)
        scratch = PurePosixPath(jobdir.root / "tail")
        ranged = plan_range(preset, probe, source, scratch, grid.tail(point.rows), choice, guard,
                            pictures=True)  # fmt: skip
        audio = plan_audio_part(preset, probe, source, out, guard)
        if ranged is None or audio is None:
            return None
        whole = plan_streaming(preset, probe, source, out, choice, guard)
        head = head_pictures(preset, probe, source, PurePosixPath(jobdir.root / "head"), grid,
                             point.rows, guard)  # fmt: skip
        note = (
            f"resumed from segment {point.rows + 1} of {len(grid.cuts)}: an earlier attempt's "
            f"first {point.rows} segments of each rung were kept"
        )
        log.info("job.resumed", rows=point.rows, segments=len(grid.cuts), at=point.boundary)
        return Tail(point, ranged, audio, replace(whole, notes=(*whole.notes, note)), head)

    async def _resumed(
        self, tail: Tail, probe: ProbeResult, jobdir: JobDir, location: OutputLocation,
        job_id: str, ahead: UploadAhead, timer: PhaseTimer,
        progress: Callable[[EncodeProgress], None] | None, sink: SegmentSink,
    ) -> Package:  # fmt: skip
        ranged, audio = tail.ranged, tail.audio
        scratch, heads = jobdir.root / "tail", jobdir.root / "head"
        package = jobdir.out / audio.package_dir
        kept = _kept_video(tail)
        with timer.phase("encode"):
            await asyncio.gather(
                self._sound_then_kept(audio, jobdir, location, job_id, kept),
                self._encode(ranged.plan, scratch, jobdir, progress),
                *([self._encode(tail.head, heads, jobdir, None)] if tail.head else []),
            )
        mpd = await self._files.read_text(scratch / ranged.plan.package_dir / "manifest.mpd")
        listing = RangeListing(ranged.chunk, mpd, ranged.warmup)
        reps = [str(i) for i in range(len(audio.video))]
        await land_range(self._files, listing, reps, scratch / ranged.plan.package_dir, package)
        await stitch_package(self._files, package, [listing], reps)
        if tail.head:
            await range_pictures(self._files, tail.head, heads, jobdir.out)
        await range_pictures(self._files, ranged.plan, scratch, jobdir.out)
        await self._files.clear(scratch)
        await self._files.clear(heads)
        ahead.kept(kept)
        # the landed tail sent ahead and told to the ledger, as a whole encode's segments are
        await SegmentWatch(self._files, jobdir.out, tail.whole, (ahead, sink)).drain()
        timeout = self._limits.transcode_timeout
        limits = self._limits.resources.for_tier(tail.whole.tier)
        return await self._packager.finish(tail.whole, probe, jobdir, timeout, timer, limits,
                                           ahead)  # fmt: skip

    async def _sound_then_kept(
        self, audio: StreamingPlan, jobdir: JobDir, location: OutputLocation, job_id: str,
        kept: Sequence[str],
    ) -> None:  # fmt: skip
        """The sound, then the kept segments over the stand-in picture's."""
        await self._encode(audio, jobdir.out, jobdir, None)
        gate = asyncio.Semaphore(_FETCHES_AT_ONCE)

        async def fetch(path: str) -> None:
            ref = S3ObjectRef(bucket=location.bucket, key=output_key(location, job_id, path))
            async with gate:
                await self._objects.download(ref, jobdir.out / path)

        await asyncio.gather(*(fetch(p) for p in kept))

    async def _encode(
        self, plan: StreamingPlan, out: Path, jobdir: JobDir,
        progress: Callable[[EncodeProgress], None] | None,
    ) -> None:  # fmt: skip
        """``plan`` run, its directories (package, pictures) under ``out``."""
        await self._files.make_dirs(out, plan.directories)
        limits = plan.limits(self._limits.resources.for_tier(plan.tier))
        timeout = self._limits.transcode_timeout
        await self._media.transcode(plan.argv, jobdir.root, timeout, progress, limits)


def _kept_video(tail: Tail) -> list[str]:
    """The kept segments and init segments of the video rungs (the sound is encoded anew)."""
    rungs = media_playlists(tail.whole)[: len(tail.whole.video)]
    playlists = [p for p in tail.point.ledger.playlists if p.playlist in rungs]
    return [
        *(p.init for p in playlists if p.init),
        *(s.path for p in playlists for s in p.segments),
    ]


def _inits_there(point: ResumePoint, listing: Sequence[ObjectListing], prefix: str,
                 rungs: Sequence[str]) -> bool:  # fmt: skip
    """Every kept rung's init segment is in the bucket (the whole encode's: a range's own
    is not)."""
    keys = {o.key.removeprefix(prefix) for o in listing}
    inits = [p.init for p in point.ledger.playlists if p.playlist in rungs]
    return all(init is not None and init in keys for init in inits)
