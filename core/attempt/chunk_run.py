"""A chunk sub-job's attempt (:mod:`core.jobs.chunks`): encode its range, upload its
segments under its PARENT's output prefix, record them on the parent; and, when its ending
completes the set, stitch the parent's manifests and commit the parent's ``job.json``.

The range is read from the parent's chunk plan (the message names only the parent and the
index). An attempt that finds its ending already recorded (a redelivery after a crash
between that write and the chunk's completion) encodes nothing again: it records the same
ending (twice is once) and goes on. The stitch is done by the ending that completed the set
(the job store says so, in its write: ``ChunkTally.stitch``), and again by a redelivery of
that same chunk while the parent is not closed: manifests are written again over
themselves, and ``job.json`` is written once (an existing one stands). The dispatcher then
closes the parent from that ``job.json`` and announces it (:meth:`Chunks.ended`).

The media side is one port (:class:`ChunkMedia`; :mod:`core.attempt.chunk_media` on the range
encodes of :mod:`core.streaming.ranges`): the input sourced, one range of every rung (or the
whole audio) encoded into the job directory, the whole package stitched, finished and
checked. :class:`ChunkedRunner` is the dispatcher's ``JobRunner``: a chunk's request runs
here, any other job in the whole pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog

from core.attempt.commit import JobCommit
from core.attempt.ledger_sink import AttemptLedger
from core.attempt.phases import PhaseTimer
from core.attempt.pipeline import JobRunner, Report
from core.attempt.upload import Upload, Uploader, headers_for
from core.errors import InvalidMessage
from core.jobs.chunk_model import ChunkEnding, ChunkPlan, ChunkRange, ChunkTally, PieceFile
from core.jobs.results import JobResult, OutputFile, Produced, output_key
from core.media.plan import CACHE_RESULT, CONTENT_TYPES
from core.media.probe import ProbeResult
from core.media.probe_doc import ProbeDoc
from core.models import JobRequest, OutputLocation
from core.ports import JobDir, JobStore, ObjectStore
from core.presets import OutputPreset

log = structlog.get_logger("ffapi.chunks")


@dataclass(frozen=True, slots=True)
class Sourced:
    """The parent's input, downloaded and probed in this job directory."""

    probe: ProbeResult
    doc: ProbeDoc | None = None  # ffprobe's own (``probe.json``)


@dataclass(frozen=True, slots=True)
class Stitched:
    """The whole package, made in the local directory ``out`` (manifests finished, QC
    passed): what to publish from it (the media segments are up already), and what it made."""

    out: Path
    uploads: tuple[Upload, ...]
    produced: Produced
    scratch: tuple[str, ...] = ()  # in the bucket, withdrawn once committed (the tiles)


class ChunkMedia(Protocol):
    """The media side of a chunk (:mod:`core.attempt.chunk_media`)."""

    async def source(
        self, plan: ChunkPlan, jobdir: JobDir, piece: ChunkRange | None = None
    ) -> Sourced:
        """The input as ``piece`` reads it (None: the stitch's)."""
        ...

    async def encode(
        self, plan: ChunkPlan, piece: ChunkRange, source: Sourced, jobdir: JobDir,
        report: Report | None,
    ) -> ChunkEnding:  # fmt: skip
        """``piece`` encoded (its range of every rung, numbering and timestamps continued;
        or the whole audio) under ``jobdir.out``: its files, paths relative to it as they
        are to the parent's output prefix."""
        ...

    async def stitch(
        self, plan: ChunkPlan, ended: Sequence[ChunkEnding], source: Sourced, jobdir: JobDir
    ) -> Stitched: ...


class ChunkRun:
    def __init__(
        self, objects: ObjectStore, jobs: JobStore, media: ChunkMedia,
        now: Callable[[], datetime], upload_concurrency: int = 8,
    ) -> None:  # fmt: skip
        self._objects = objects
        self._jobs = jobs
        self._media = media
        self._now = now
        self._uploader = Uploader(objects, upload_concurrency)
        self._commit = JobCommit(objects, CONTENT_TYPES[".json"], CACHE_RESULT)

    async def run(
        self, job_id: str, request: JobRequest, jobdir: JobDir, attempt: int,
        report: Report | None = None,
    ) -> JobResult:  # fmt: skip
        ref = request.chunk
        assert ref is not None, "a chunk's request"
        split = await self._jobs.get_split(ref.parent)
        piece = split.plan.chunk(ref.index) if split is not None else None
        if split is None or piece is None:
            raise InvalidMessage("chunk: names no chunk of a split job")
        plan, started, timer = split.plan, self._now(), PhaseTimer()
        out = plan.request.output
        assert out is not None, "intake fills in the output location"
        sourced: Sourced | None = None
        ending = next((e for e in split.ended if e.index == ref.index), None)
        if ending is None:  # recorded already: a redelivery encodes nothing again
            with timer.phase("download"):
                sourced = await self._media.source(plan, jobdir, piece)
            with timer.phase("encode"):
                ending = await self._media.encode(plan, piece, sourced, jobdir, report)
            with timer.phase("upload"):
                uploads = [Upload(f.path, 0) for f in ending.files]
                await self._uploader.upload(jobdir.out, out, ref.parent, uploads)
        tally = await self._jobs.end_chunk(ref.parent, ending)
        if tally is not None and tally.stitch:
            sourced = sourced or await self._media.source(plan, jobdir)
            await self._stitch(plan, tally, sourced, jobdir, timer)
        log.info(
            "chunk.done", parent=ref.parent, chunk=ref.index, stitched=bool(tally and tally.stitch)
        )
        return JobResult(
            job_id=job_id, input=plan.request.input, preset=plan.preset.name, output=out,
            source=plan.source, outputs=_outputs(out, ref.parent, ending.files), encoder="",
            timings=timer.timings, attempt=attempt, started_at=started,
            completed_at=self._now(), correlation_id=plan.request.correlation_id,
        )  # fmt: skip

    async def _stitch(
        self, plan: ChunkPlan, tally: ChunkTally, sourced: Sourced, jobdir: JobDir,
        timer: PhaseTimer,
    ) -> None:  # fmt: skip
        """The whole package's manifests up, then ``job.json`` (written once: an existing
        one stands), then its scratch withdrawn. Committed already (a redelivery after the
        commit): nothing to do, and the scratch it needs may be gone."""
        out = plan.request.output
        assert out is not None
        if await self._commit.committed(out, plan.parent) is not None:
            return
        with timer.phase("package"):
            stitched = await self._media.stitch(plan, tally.ended, sourced, jobdir)
        with timer.phase("upload"):
            await self._uploader.upload(stitched.out, out, plan.parent, stitched.uploads)
        parent = await self._jobs.get(plan.parent)
        created = parent.created_at if parent is not None else None
        result = JobResult(
            job_id=plan.parent, input=plan.request.input, preset=plan.preset.name, output=out,
            source=plan.source, timings=timer.timings,
            attempt=(parent.attempts if parent else 0) or 1,
            started_at=datetime.fromisoformat(created) if created else self._now(),
            completed_at=self._now(), correlation_id=plan.request.correlation_id,
            metadata=plan.request.metadata, **dict(stitched.produced),
        )  # fmt: skip
        await self._commit.commit(result)
        if stitched.scratch:
            keys = [output_key(out, plan.parent, p) for p in stitched.scratch]
            await self._objects.delete_keys(out.bucket, keys)


def _outputs(out: OutputLocation, parent: str, files: Sequence[PieceFile]) -> list[OutputFile]:
    return [
        OutputFile(
            key=output_key(out, parent, f.path),
            role="segment",
            size=f.size,
            content_type=headers_for(f.path)[0],
            duration=f.duration or None,
        )
        for f in files
    ]


class ChunkedRunner:
    """The dispatcher's runner: a chunk's request runs its chunk, any other the whole
    pipeline (which may split it: :class:`core.jobs.chunk_fanout.SplitCheck`)."""

    def __init__(self, whole: JobRunner, chunks: ChunkRun) -> None:
        self._whole = whole
        self._chunks = chunks

    def admit(self, request: JobRequest, preset: OutputPreset) -> None:
        self._whole.admit(request, preset)

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Report | None = None, ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        if request.chunk is not None:  # a chunk keeps no ledger: it is redone alone
            return await self._chunks.run(job_id, request, jobdir, attempt, report)
        return await self._whole.run(job_id, request, preset, jobdir, attempt, report, ledger)
