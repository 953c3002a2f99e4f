"""One job attempt, start to finish: download, probe, plan, encode, check, publish.

The encode (with the packaging checks) runs down the accelerator tiers
(:func:`core.media.fallback.run_on_tiers`): a GPU-class failure re-plans it on the next tier, from
the same input, before anything is published.

Publishing order is the commit protocol: media first (segments and pictures, then media
playlists, then the master playlist and MPD), then ``probe.json``, then whatever an earlier
unfinished attempt left is removed, then ``job.json`` last, written once
(:mod:`core.attempt.commit`), so a reader that sees ``job.json`` sees every file it lists and no
other. An attempt that finds ``job.json`` already there adopts it and encodes nothing
(the question is asked while the input downloads). ``probe.json`` is ffprobe's facts
without our local path or metadata tags such as GPS positions
(:func:`core.media.probe.public_probe`).

:meth:`JobPipeline.admit` is asked by the dispatcher before the job directory is made: the
size limit, and the encoders the build lacks for the preset's CPU tier.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import structlog

from core.attempt.commit import JobCommit
from core.attempt.destinations import Destinations, with_destinations
from core.attempt.ledger_sink import AttemptLedger
from core.attempt.limits import PipelineLimits
from core.attempt.phases import PhaseTimer
from core.attempt.progressive_run import after_failure, progressive_sink
from core.attempt.resume_run import ResumableEncode, keeps_segments
from core.attempt.upload import Upload, UploadAhead, Uploader
from core.attempt.verify import verify_mp4
from core.errors import EncoderUnavailable, InvalidMedia
from core.events.playable import PlayableNotice
from core.events.progress import EncodeProgress, ProgressUpdate
from core.jobs.results import JobResult, OutputFile, Produced, SourceInfo, output_key
from core.media.accel import AccelTier, TierChoice
from core.media.encoders import missing_encoder
from core.media.fallback import TierRun, run_on_tiers
from core.media.plan import CACHE_RESULT, CONTENT_TYPES, TranscodePlan, plan_mp4
from core.media.preflight import check_media, check_size
from core.media.probe import ProbeResult, parse_probe, public_probe
from core.media.probe_doc import ProbeDoc
from core.models import JobRequest, OutputLocation
from core.ports import Accelerator, JobDir, LocalFiles, MediaTool, ObjectStore
from core.presets import Mp4Preset, OutputPreset, StepsPreset, StreamingPreset
from core.steps.results import StepResults
from core.steps.run import StepsRunner
from core.steps.stage import Attached
from core.streaming.package_result import package_produced
from core.streaming.packaging import StreamingPackager
from core.streaming.progressive_sink import ProgressiveSink

log = structlog.get_logger("ffapi.pipeline")


# what a running attempt tells its reporter: progress, and a progressive package's playable
Report = Callable[[ProgressUpdate | PlayableNotice], None]


class JobRunner(Protocol):
    """What the dispatcher asks of a job's pipeline (``JobPipeline``; a test's script)."""

    def admit(self, request: JobRequest, preset: OutputPreset) -> None: ...

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Report | None = None, ledger: AttemptLedger | None = None,
    ) -> JobResult: ...  # fmt: skip


class SplitHook(Protocol):
    """Asked once the input is probed: a long job goes out as chunks instead (it raises
    ``JobSplit``; :class:`core.jobs.chunk_fanout.SplitCheck`)."""

    async def fetch_head(self, request: JobRequest, preset: OutputPreset, dest: Path) -> bool:
        """Only the input's head into ``dest``, for a job to be split; False: read it whole."""
        ...

    async def after_probe(
        self, job_id: str, request: JobRequest, preset: OutputPreset, probe: ProbeResult,
        attempt: int, *, doc: ProbeDoc | None = None, source: Path | None = None,
        whole: bool = True,
    ) -> None: ...  # fmt: skip


class JobPipeline:
    def __init__(
        self,
        objects: ObjectStore,
        media: MediaTool,
        files: LocalFiles,
        limits: PipelineLimits,
        now: Callable[[], datetime],
        accel: Accelerator,
        split: SplitHook | None = None,
    ) -> None:
        self._split = split
        self._objects = objects
        self._media = media
        self._files = files
        self._accel = accel
        self._limits = limits
        self._now = now
        self._packager = StreamingPackager(media, files)
        self._steps = StepsRunner(objects, media, files, self._packager, accel, limits)
        self._results = StepResults(media, files)
        self._uploader = Uploader(objects, limits.upload_concurrency)
        self._commit = JobCommit(objects, CONTENT_TYPES[".json"], CACHE_RESULT)
        self._copies = Destinations(objects, self._commit, limits.upload_concurrency)
        self._resumable = ResumableEncode(objects, media, files, self._packager, limits)

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Report | None = None, ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        """``ledger``: the segment ledger's (core.attempt.resume_run); None: none kept."""
        started_at, timer, out = self._now(), PhaseTimer(), request.output
        assert out is not None, "intake fills in the output location"
        # the objects the steps name come down while the input does and is probed
        attaching = (
            asyncio.create_task(self._steps.fetch(preset, request.input.bucket, jobdir))
            if isinstance(preset, StepsPreset) else None
        )  # fmt: skip
        try:
            sourced = await self._source_unless_committed(request, preset, jobdir, timer, job_id)
        except BaseException:
            await _abandon(attaching)
            raise
        if isinstance(sourced, JobResult):
            # An earlier attempt committed and died before recording it: its result stands.
            await _abandon(attaching)
            log.info("job.adopted", committed_by_attempt=sourced.attempt)
            return await self._copies.publish(sourced.model_copy(update={"attempt": attempt}))
        probe_doc, probe, whole = sourced
        if self._split is not None:  # core.jobs.chunk_fanout: a long job goes out as chunks
            await self._split.after_probe(
                job_id, request, preset, probe, attempt, doc=probe_doc, source=jobdir.source,
                whole=whole,
            )  # fmt: skip
        if not whole:  # its head was read to be split, and it was not: the whole of it now
            with timer.phase("download"):
                await self._objects.download(request.input, jobdir.source)
        ahead = self._uploader.ahead(jobdir.out, out, job_id)
        live = progressive_sink(self._objects, self._files, request, preset, jobdir.out, job_id,
                                ahead, report, started_at, self._now)  # fmt: skip
        try:
            produced, written = await self._produce(job_id, request, preset, probe, jobdir, timer,
                                                    report, attaching, ahead, live,
                                                    None if live else ledger)  # fmt: skip
        except Exception as exc:
            committed = lambda: self._commit.committed(out, job_id)  # noqa: E731
            if live and (partial := await after_failure(live, ahead, exc, committed)):
                raise partial from (None if partial is exc else exc)  # its segments are kept
            if not live and keeps_segments(ledger, exc):  # the next attempt resumes from them
                await ahead.halt()
            else:
                await self._withdraw(ahead, out, job_id)
            raise
        except BaseException:  # cancelled: the attempt that follows sends them again
            await ahead.halt()
            if live:
                await live.stop()
            raise
        with timer.phase("upload"):
            # the stale objects of an earlier attempt go while probe.json goes up (it is
            # one of the keys kept): both before job.json, which names what stands
            probe_key = output_key(out, job_id, "probe.json")
            probe_file, _ = await asyncio.gather(
                self._put_json(public_probe(probe_doc), out, job_id, "probe.json", "probe"),
                self._commit.prune(out, job_id, [*written, probe_key]),
            )
            produced.outputs.append(probe_file)
        result = JobResult(
            job_id=job_id, input=request.input, preset=preset.name, output=out,
            source=SourceInfo.of(probe), timings=timer.timings, attempt=attempt,
            started_at=started_at, completed_at=self._now(),
            correlation_id=request.correlation_id, metadata=request.metadata, **dict(produced),
        )  # fmt: skip
        # job.json goes last: it is the commit marker, and it lists what came before it;
        # then the copies for the request's further destinations, each committed alike.
        result = with_destinations(result, request.destinations)
        return await self._copies.publish(await self._commit.commit(result))

    async def _produce(
        self, job_id: str, request: JobRequest, preset: OutputPreset, probe: ProbeResult,
        jobdir: JobDir, timer: PhaseTimer, report: Report | None,
        attaching: asyncio.Task[dict[str, Attached]] | None, ahead: UploadAhead,
        live: ProgressiveSink | None = None, ledger: AttemptLedger | None = None,
    ) -> tuple[Produced, list[str]]:  # fmt: skip
        """Encode, check and publish all but ``probe.json`` and ``job.json``: what was
        made, and the keys written; ``live``: a progressive package's sink."""
        out = request.output
        assert out is not None
        if isinstance(preset, StepsPreset):
            assert attaching is not None
            with timer.phase("download"):
                attached = await attaching
            return await self._run_steps(preset, request, probe, attached, jobdir, job_id,
                                         timer, report, ahead)  # fmt: skip
        total = (probe.video.duration if probe.video else 0.0) or probe.duration
        progress = self._limits.progress(total, report, time.monotonic)
        if isinstance(preset, Mp4Preset):
            return await self._mp4(preset, probe, jobdir, out, job_id, timer, progress)
        return await self._streaming(
            preset, probe, jobdir, out, job_id, timer, progress, ahead, live, ledger
        )

    async def _streaming(
        self, preset: StreamingPreset, probe: ProbeResult, jobdir: JobDir, out: OutputLocation,
        job_id: str, timer: PhaseTimer, progress: Callable[[EncodeProgress], None] | None,
        ahead: UploadAhead, live: ProgressiveSink | None, ledger: AttemptLedger | None,
    ) -> tuple[Produced, list[str]]:  # fmt: skip
        timeout = self._limits.transcode_timeout

        async def discard() -> None:
            await ahead.halt()  # a failed tier's segments are about to go
            await self._packager.discard(jobdir)
            if live:
                live.restart()  # the next tier's segments are told anew

        run = await run_on_tiers(
            self._accel,
            lambda choice: self._resumable.produce(  # core.attempt.resume_run
                ledger, preset, probe, jobdir, out, job_id, choice, ahead,
                lambda sinks: self._packager.produce(
                    preset, probe, jobdir, timeout, timer, choice, progress,
                    guard=self._limits.media.guard,
                    limits=self._limits.resources.for_tier(choice.tier), ahead=ahead,
                    sinks=(*sinks, live) if live else sinks,
                ), timer, progress,
            ),
            discard,
            self._can_run(preset),
        )  # fmt: skip
        if live:  # the growing manifests stop before the finished ones replace them
            await live.close()
        with timer.phase("upload"):
            await self._uploader.upload(jobdir.out, out, job_id, run.result.files, ahead)
        produced = _with_tier(package_produced(run.result, out, job_id), run)
        return produced, [output_key(out, job_id, u.path) for u in run.result.files]

    async def _withdraw(self, ahead: UploadAhead, out: OutputLocation, job_id: str) -> None:
        """A failed job's segments, sent ahead, deleted: unless another attempt (this one's
        lease lapsed) committed the job meanwhile, and they are its segments too. The job's
        own error stands whatever happens here."""
        if not ahead.sent_any:
            return
        try:
            if await self._commit.committed(out, job_id) is None:
                await ahead.withdraw()
            else:
                await ahead.halt()
        except Exception as exc:  # left for the next attempt's prune, or a lifecycle rule
            log.warning("job.withdraw_failed", error=type(exc).__name__)

    async def _source_unless_committed(
        self, request: JobRequest, preset: OutputPreset, jobdir: JobDir, timer: PhaseTimer,
        job_id: str,
    ) -> JobResult | tuple[ProbeDoc, ProbeResult, bool]:  # fmt: skip
        """The committed result of an earlier attempt, or else the input, downloaded (whole:
        True; its head only, to be split: False) and probed. The question is asked while
        the input comes down: the answer is almost always no, and the input is the job's
        first need."""
        assert request.output is not None
        sourcing = asyncio.create_task(self._source(request, preset, jobdir, timer))
        try:
            committed = await self._commit.committed(request.output, job_id)
        except BaseException:
            await _abandon(sourcing)
            raise
        if committed is not None:
            await _abandon(sourcing)
            return committed
        return await sourcing

    async def _source(
        self, request: JobRequest, preset: OutputPreset, jobdir: JobDir, timer: PhaseTimer
    ) -> tuple[ProbeDoc, ProbeResult, bool]:
        """The input downloaded (whole, or its head for a job to be split) and probed, and
        refused here if it is not what the job can take: before any plan or encode, a
        refusal is the job's answer."""
        with timer.phase("download"):
            split = self._split
            whole = split is None or not await split.fetch_head(request, preset, jobdir.source)
            if whole:
                await self._objects.download(request.input, jobdir.source)
        media = self._limits.media
        with timer.phase("probe"):
            try:
                probe_doc = await self._media.probe(jobdir.source, media.guard)
            except InvalidMedia:
                if whole:
                    raise
                probe_doc = None  # its head alone did not probe: the input is judged whole
        if probe_doc is None:
            with timer.phase("download"):
                await self._objects.download(request.input, jobdir.source)
            whole = True
            with timer.phase("probe"):
                probe_doc = await self._media.probe(jobdir.source, media.guard)
        probe = parse_probe(probe_doc)
        check_media(probe, media, preset)
        return probe_doc, probe, whole

    def admit(self, request: JobRequest, preset: OutputPreset) -> None:
        """Refuse, permanently, what no worker would take. The dispatcher asks before it
        reserves disk for the job (a too-large input must not be retried as a full disk).
        An input of unknown size is measured again once downloaded (``check_media``)."""
        check_size(request.input.size, self._limits.media, preset)
        build = self._limits.encoders
        # the CPU tier is every job's floor: what it needs, the build must have
        if build is not None and (missing := missing_encoder(preset, AccelTier.CPU, build)):
            raise EncoderUnavailable(
                f"preset {preset.name} needs the {missing} encoder, which this worker's ffmpeg "
                "does not have",
                details={"preset": preset.name, "encoder": missing},
            )

    def _can_run(self, preset: OutputPreset) -> Callable[[AccelTier], bool]:
        """A GPU tier whose encoder the build lacks (av1_nvenc before ffmpeg 6) is skipped:
        trying it would only fail, and count against the GPU's circuit breaker."""
        build = self._limits.encoders
        return lambda tier: build is None or missing_encoder(preset, tier, build) is None

    async def _mp4(
        self, preset: Mp4Preset, probe: ProbeResult, jobdir: JobDir, out: OutputLocation,
        job_id: str, timer: PhaseTimer, progress: Callable[[EncodeProgress], None] | None,
    ) -> tuple[Produced, list[str]]:  # fmt: skip
        timeout = self._limits.transcode_timeout

        async def attempt(choice: TierChoice) -> tuple[TranscodePlan, list[OutputFile]]:
            source, dest = PurePosixPath(jobdir.source), PurePosixPath(jobdir.out)
            plan = plan_mp4(preset, probe, source, dest, choice, self._limits.media.guard)
            limits = self._limits.resources.for_tier(plan.tier)
            with timer.phase("encode"):
                await self._media.transcode(plan.argv, jobdir.root, timeout, progress, limits)
            with timer.phase("package"):
                return plan, await verify_mp4(self._media, self._files, plan, jobdir, out, job_id)

        run = await run_on_tiers(
            self._accel, attempt, lambda: self._files.clear(jobdir.out), self._can_run(preset)
        )
        plan, outputs = run.result
        with timer.phase("upload"):
            uploads = [Upload(p.name, 0) for p in plan.outputs]
            await self._uploader.upload(jobdir.out, out, job_id, uploads)
        produced = _with_tier(Produced(outputs=outputs, encoder=plan.encoder), run)
        return produced, [output_key(out, job_id, p.name) for p in plan.outputs]

    async def _run_steps(
        self, preset: StepsPreset, request: JobRequest, probe: ProbeResult,
        attached: dict[str, Attached], jobdir: JobDir, job_id: str, timer: PhaseTimer,
        report: Report | None, ahead: UploadAhead,
    ) -> tuple[Produced, list[str]]:  # fmt: skip
        out = request.output
        assert out is not None
        run = await self._steps.run(
            preset, probe, attached, jobdir, out, job_id, timer,
            lambda total: self._limits.progress(total, report, time.monotonic), ahead,
        )  # fmt: skip
        with timer.phase("package"):
            outcome = await self._results.collect(run.result, jobdir, out, job_id, run.tier.value)
        with timer.phase("upload"):
            await self._uploader.upload(jobdir.out, out, job_id, outcome.uploads, ahead)
        written = [output_key(out, job_id, u.path) for u in outcome.uploads]
        return _with_tier(outcome.produced(run), run), written

    async def _put_json(
        self, doc: object, out: OutputLocation, job_id: str, name: str, role: str
    ) -> OutputFile:
        key = output_key(out, job_id, name)
        body = json.dumps(doc, indent=2, sort_keys=True).encode()
        content_type = CONTENT_TYPES[".json"]
        size = await self._objects.put_bytes(body, out.bucket, key, content_type, CACHE_RESULT)
        return OutputFile(key=key, role=role, content_type=content_type, size=size)


async def _abandon(task: asyncio.Task[Any] | None) -> None:
    """Stop a side task the job no longer needs, and wait for it (its error, if any, is
    not the job's: the one being raised is)."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _with_tier(produced: Produced, run: TierRun[Any]) -> Produced:
    """The tier that made it, and every tier it left on the way."""
    return produced.model_copy(update={
        "accel_tier": run.tier.value, "fallback_reason": run.fallback_reason,
        "fallbacks": run.fallbacks,
    })  # fmt: skip
