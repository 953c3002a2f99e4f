"""The fan-out of a long job: decided after the probe, recorded once, sent once.

:class:`SplitCheck` is asked by the parent's attempt once the input is probed (the
picture's length is known then). A streaming CMAF job splits when its request says
``split: true``, or says nothing and its picture is longer than ``above_seconds``
(``FFAPI_SPLIT_ABOVE_SECONDS``; 0: never); ``split: false`` never does. A progressive job
(``progressive: true`` on its request or preset) is not split by its length: its growing
package needs its segments in order. ``split: true`` splits it anyway; it is then published
as any split job is, at the stitch, and says no ``job.playable``. A job with further
destinations is not split (their copies are made from one attempt's files).

:meth:`ChunkFanOut.split` writes the parent's chunk plan into its record (one write fenced
by the attempt: SPLIT, no lease; a redelivered parent finds it written), sends one message
per chunk (``{"version": 2, "chunk": {"parent": ..., "index": i}}``, each chunk's job id
derived from the parent's and its index) on the parent's priority class queue, marks them
sent, and raises :class:`JobSplit`: the dispatcher acknowledges the parent's message, and no
worker holds the parent while its chunks run. A crash between the write and the mark
leaves the parent's message on the queue; its next delivery finds the record SPLIT and
sends them all again (:meth:`ChunkFanOut.send`), harmless: a chunk sent twice is one job
(its second message is a duplicate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import structlog

from core.errors import JobBusy
from core.jobs import pulse
from core.jobs.chunk_model import (
    AUDIO,
    VIDEO,
    ChunkMessage,
    ChunkPlan,
    ChunkRange,
    JobSplit,
    plan_chunks,
)
from core.jobs.results import SourceInfo
from core.media.probe import ProbeResult
from core.media.probe_doc import ProbeDoc
from core.models import ChunkRef, JobRequest
from core.ports import JobSender, JobStore, SourceCopies, SourceIndex
from core.presets import OutputPreset, StreamingPreset
from core.streaming.audio_tracks import kept_tracks
from core.streaming.ranges import PREROLL_SECONDS, WARMUP_SECONDS, source_grid

log = structlog.get_logger("ffapi.chunks")

_SENDS_AT_ONCE = 8
# A picture chunk's window of the input: its warm-up and the seek's preroll before it, and a
# second more (a track's edit list, the seek landing on the keyframe before); after it, what
# the decoder reads ahead (frame threads, reordering) before the trim ends the encode.
BEFORE = WARMUP_SECONDS + PREROLL_SECONDS + 1.0
AFTER = 2.0
AUDIO_SPEED = 30.0


class ChunkFanOut:
    def __init__(self, jobs: JobStore, queue: JobSender) -> None:
        self._jobs = jobs
        self._queue = queue

    async def split(self, plan: ChunkPlan, attempt: int) -> None:
        """Record the plan (fenced by ``attempt``), send the chunks, raise JobSplit."""
        if not await self._jobs.split(plan.parent, plan, attempt):
            raise JobBusy("the job was taken over before its chunk plan was recorded")
        await self.send(plan.parent)
        raise JobSplit(plan)

    async def send(self, parent: str) -> bool:
        """Send every chunk of the SPLIT job ``parent`` unless they were all sent; False
        when it was never split."""
        record = await self._jobs.get_split(parent)
        if record is None:
            return False
        if record.sent:
            return True
        plan = record.plan
        gate = asyncio.Semaphore(_SENDS_AT_ONCE)

        async def send_one(index: int) -> None:
            body = ChunkMessage(version=2, chunk=ChunkRef(parent=parent, index=index))
            async with gate:
                await self._queue.send_job(body.model_dump_json(), plan.request.priority)
            pulse.beat()  # a long fan-out is alive

        order = sending_order(plan.chunks, plan.duration)
        await asyncio.gather(*(send_one(c.index) for c in order))
        await self._jobs.mark_chunks_sent(parent)
        log.info("job.split", chunks=plan.total, duration=round(plan.duration, 3))
        return True


def sending_order(chunks: Sequence[ChunkRange], duration: float) -> list[ChunkRange]:
    """The longest first, as workers take them in about that order: the audio chunk (the
    whole film's sound) before the pictures when it takes longer than a picture chunk, after
    them when it is the shortest. A second of sound encodes about ``AUDIO_SPEED`` times
    faster than a second of the ladder (measured: 0.016 s against 0.47 s a second on one
    core, bench/split_fleet.py): a 2-hour film's audio sent last ends last (bench/split_sim.py,
    16 workers: 366 s against 308 s), a 2-minute film's is its shortest chunk."""
    video = [c for c in chunks if c.kind == VIDEO]
    audio = [c for c in chunks if c.kind == AUDIO]
    longest = max((c.end - c.start for c in video), default=0.0)
    return [*audio, *video] if duration > AUDIO_SPEED * longest else [*video, *audio]


class SplitCheck:
    """The parent's attempt asks it after the probe (``JobPipeline``'s ``split`` hook).
    ``copies``: where the parent's download is kept for the chunks that land on this worker
    (the plan carries the probe: no chunk probes again); ``index``: where each picture
    chunk's window lies in the input, so that a worker without a copy downloads only that."""

    def __init__(
        self, fan_out: ChunkFanOut, above_seconds: float, chunk_seconds: float,
        copies: SourceCopies | None = None, index: SourceIndex | None = None,
    ) -> None:  # fmt: skip
        self._fan_out = fan_out
        self._above = above_seconds
        self._chunk_seconds = chunk_seconds
        self._copies = copies
        self._index = index

    async def fetch_head(self, request: JobRequest, preset: OutputPreset, dest: Path) -> bool:
        """Before the probe: for a job asked to be split (``split: true``) whose input is an
        MP4 this reads, only its index and opening seconds into ``dest`` (a chunk reads its
        own part); False: it is downloaded whole, as any job's is. A job whose length decides
        is not asked: most are not split, and they would read their head twice."""
        if (
            self._index is None
            or request.split is not True
            or not isinstance(preset, StreamingPreset)
        ):
            return False
        if not self.wanted(request, preset, duration=1.0):
            return False
        return await self._index.fetch_head(request.input, dest)

    async def after_probe(
        self, job_id: str, request: JobRequest, preset: OutputPreset, probe: ProbeResult,
        attempt: int, *, doc: ProbeDoc | None = None, source: Path | None = None,
        whole: bool = True,
    ) -> None:  # fmt: skip
        """Nothing when the job runs whole; else its chunks go out and JobSplit is raised.
        ``doc``: ffprobe's document behind ``probe``; ``source``: the input, downloaded
        (``whole``) or its head only (:meth:`fetch_head`: not kept for the chunks)."""
        duration = (probe.video.duration if probe.video else 0.0) or probe.duration
        if not isinstance(preset, StreamingPreset) or not self.wanted(request, preset, duration):
            return
        grid = source_grid(preset, probe)  # the whole encode's segments (core.streaming.ranges)
        if grid is None:
            return
        chunks = plan_chunks(grid, self._chunk_seconds, audio=bool(kept_tracks(preset, probe)))
        if self._index is not None and source is not None:
            chunks = await self._spanned(chunks, source)
        plan = ChunkPlan(
            parent=job_id, request=request, preset=preset, source=SourceInfo.of(probe),
            duration=duration, chunks=chunks, probe=doc,
        )  # fmt: skip
        if self._copies is not None and source is not None and whole:
            await self._copies.keep(request.input, source)
        await self._fan_out.split(plan, attempt)

    async def _spanned(
        self, chunks: tuple[ChunkRange, ...], source: Path
    ) -> tuple[ChunkRange, ...]:
        """Each chunk with the bytes of the input it reads: a picture chunk its window, the
        audio chunk the sound's samples (the picture between them left out)."""
        assert self._index is not None
        video = [c for c in chunks if c.kind == VIDEO]
        windows = [(max(0.0, c.start - BEFORE), c.end + AFTER) for c in video]
        found = await self._index.spans(source, windows)
        if found is None:
            return chunks
        spans = {c.index: s for c, s in zip(video, found, strict=True)}
        sound = await self._index.sound(source)
        spans |= {c.index: sound for c in chunks if c.kind == AUDIO and sound}
        return tuple(
            c.model_copy(update={"input_spans": spans[c.index]}) if c.index in spans else c
            for c in chunks
        )

    def wanted(self, request: JobRequest, preset: StreamingPreset, duration: float) -> bool:
        if request.split is False or request.chunk is not None or request.destinations:
            return False
        if preset.kind != "cmaf" or duration <= 0:
            return False
        if request.split is True:  # asked for: a progressive job then says no job.playable
            return True
        # a progressive package grows in segment order, which chunks landing in any order
        # cannot give: only ``split: true`` splits it, whatever its length
        progressive = request.progressive or preset.progressive
        return not progressive and 0 < self._above < duration
