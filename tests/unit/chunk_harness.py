"""A dispatcher that splits long jobs, on the in-memory ports: the parent's pipeline "probes"
a picture of ``duration`` seconds and asks the real :class:`SplitCheck`; each chunk runs the
real :class:`ChunkRun` with a fake range encode (it writes each segment the range holds, in
a real job directory) and a fake stitch (a master listing every segment, counted)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from core.attempt.chunk_run import ChunkedRunner, ChunkRun, Sourced, Stitched
from core.attempt.ledger_sink import AttemptLedger
from core.attempt.upload import Upload
from core.errors import FfapiError
from core.jobs.batches import BatchPorts
from core.jobs.chunk_fanout import ChunkFanOut, SplitCheck
from core.jobs.chunk_model import ChunkEnding, ChunkPlan, ChunkRange, PieceFile
from core.jobs.dispatch import Dispatcher
from core.jobs.outcome import Outcome
from core.jobs.results import JobResult, Produced, output_key
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.models import JobRequest
from core.ports import JobDir, ObjectInfo, QueueMessage
from core.presets import OutputPreset
from infra.memory_batches import MemoryBatchStore

from .batch_harness import FlakyQueue
from .dispatch_harness import Harness
from .fakes import NOW, FakePipeline

INPUT = "ffapi-input"
KEY = "incoming/film.mov"
RUNGS = 2


def probe_of(duration: float) -> ProbeResult:
    video = VideoStream(
        codec="h264", width=1280, height=720, fps=25.0, rotation=0,
        sample_aspect=Fraction(1), pix_fmt="yuv420p", duration=duration,
    )  # fmt: skip
    audio = AudioStream(codec="aac", channels=2, sample_rate=48000)
    return ProbeResult(format_name="mov", duration=duration, size=1000, video=video, audio=audio)


class ProbingPipeline(FakePipeline):
    """The whole pipeline, up to its probe: then the split check; a job not split ends here."""

    def __init__(self, check: SplitCheck, duration: float) -> None:
        super().__init__()
        self.check, self.duration = check, duration

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Callable[..., None] | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        await self.check.after_probe(job_id, request, preset, probe_of(self.duration), attempt)
        return await super().run(job_id, request, preset, jobdir, attempt, report)


class RangeMedia:
    """Writes each segment of its range for every rung (or the audio's), as an encode of
    that range would name them; ``fail``: chunk indexes whose encode raises it. Its stitch
    lists every segment in a master (counted)."""

    def __init__(self) -> None:
        self.encoded: list[int] = []
        self.fail: dict[int, FfapiError] = {}
        self.stitched = 0
        self.stitch_fails: list[FfapiError] = []  # raised by the next stitches, in turn
        self.scratch: tuple[str, ...] = ()  # what the stitch says to withdraw once committed

    async def source(
        self, plan: ChunkPlan, jobdir: JobDir, piece: ChunkRange | None = None
    ) -> Sourced:
        return Sourced(probe_of(plan.duration))

    async def encode(
        self, plan: ChunkPlan, piece: ChunkRange, source: Sourced, jobdir: JobDir, report: Any
    ) -> ChunkEnding:
        self.encoded.append(piece.index)
        if piece.index in self.fail:
            raise self.fail[piece.index]
        seconds = plan.preset.segment_seconds
        audio = piece.kind == "audio"
        count = round(piece.end / seconds + 0.49) if audio else piece.count
        rungs = ["a"] if audio else [str(r) for r in range(RUNGS)]
        files = []
        for rung in rungs:
            for k in range(piece.first_segment, piece.first_segment + count):
                path = f"cmaf/seg-{rung}-{k + 1:05d}.m4s"
                (jobdir.out / "cmaf").mkdir(parents=True, exist_ok=True)
                (jobdir.out / path).write_bytes(b"seg")
                files.append(PieceFile(path=path, playlist=f"cmaf/media_{rung}.m3u8",
                                       duration=seconds, size=3))  # fmt: skip
        return ChunkEnding(index=piece.index, files=tuple(files))

    async def stitch(
        self, plan: ChunkPlan, ended: Sequence[ChunkEnding], source: Sourced, jobdir: JobDir
    ) -> Stitched:
        self.stitched += 1
        if self.stitch_fails:
            raise self.stitch_fails.pop(0)
        names = [f.path for e in ended for f in e.files]
        (jobdir.root / "whole").mkdir(parents=True, exist_ok=True)
        (jobdir.root / "whole" / "master.m3u8").write_text("\n".join(["#EXTM3U", *names]))
        assert plan.request.output is not None
        master = output_key(plan.request.output, plan.parent, "master.m3u8")
        produced = Produced(outputs=[], encoder="libx264", playback={"hls": master})
        uploads = (Upload("master.m3u8", 0),)
        return Stitched(jobdir.root / "whole", uploads, produced, self.scratch)


class TmpWorkspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    @asynccontextmanager
    async def job_dir(self, job_id: str, reserve_bytes: int | None = None) -> AsyncIterator[JobDir]:
        root = self.root / job_id
        (root / "out").mkdir(parents=True, exist_ok=True)
        try:
            yield JobDir(root=root, source=root / "source", out=root / "out")
        finally:
            shutil.rmtree(root, ignore_errors=True)


class ChunkHarness(Harness):
    def __init__(self, tmp: Path, duration: float = 24.0, above: float = 0.0) -> None:
        super().__init__(FakePipeline())
        self.objects.existing[(INPUT, KEY)] = ObjectInfo(size=1234, etag="e1", version_id=None)
        self.queue = FlakyQueue()
        self.media = RangeMedia()
        check = SplitCheck(ChunkFanOut(self.jobs, self.queue), above, chunk_seconds=8.0)
        self.whole = ProbingPipeline(check, duration)
        runner = ChunkedRunner(
            self.whole, ChunkRun(self.objects, self.jobs, self.media, lambda: NOW)
        )
        self.dispatcher = Dispatcher(
            self.settings, self.objects, self.jobs, self.events, TmpWorkspace(tmp), runner,
            lambda: NOW, batches=BatchPorts(MemoryBatchStore(), self.queue),
        )  # fmt: skip

    def submit(
        self, message_id: str = "parent-msg", receive_count: int = 1, **extra: Any
    ) -> Outcome:
        doc = {"version": 2, "input": {"bucket": INPUT, "key": KEY}, "preset": "web-hls", **extra}
        return self.handle(json.dumps(doc), receive_count, message_id)

    def bodies(self) -> list[str]:
        """Take every message off the queue (its bodies, in the order sent)."""

        async def take() -> list[str]:
            found = []
            while deliveries := await self.queue.receive(10, 0):
                for d in deliveries:
                    found.append(d.message.body)
                    await self.queue.delete(d)
            return found

        return asyncio.run(take())

    def deliver(self, bodies: Sequence[str], together: bool = False) -> list[Outcome]:
        """Each body handled as a delivery (one after another, or all at once)."""

        async def one(i: int, body: str) -> Outcome:
            return await self.dispatcher.handle(QueueMessage(f"chunk-msg-{i}", body, 1))

        async def run() -> list[Outcome]:
            if together:
                return list(await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies))))
            return [await one(i, b) for i, b in enumerate(bodies)]

        return asyncio.run(run())

    def of_type(self, suffix: str) -> list[Any]:
        return [e for e in self.events.published if e.type.value.endswith(suffix)]
