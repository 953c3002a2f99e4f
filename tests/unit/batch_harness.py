"""The dispatcher of ``dispatch_harness`` with batches on: the in-memory batch store and jobs
queue, and a pipeline that writes an MP4 for each job (an input named ``bad`` fails as
invalid media), so that a dependent's ``input.from`` reads a real object of the store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.attempt.ledger_sink import AttemptLedger
from core.errors import InvalidMedia, StorageUnavailable
from core.jobs.batches import BatchPorts
from core.jobs.dispatch import Dispatcher
from core.jobs.outcome import Outcome
from core.jobs.results import JobResult, OutputFile, SourceInfo, output_key
from core.models import JobRequest, Priority
from core.ports import JobDir, ObjectInfo, QueueMessage
from core.presets import OutputPreset
from infra.memory import MemoryQueue
from infra.memory_batches import MemoryBatchStore

from .dispatch_harness import Harness
from .fakes import NOW, FakeObjects, FakePipeline

INPUT = "ffapi-input"


class MediaPipeline(FakePipeline):
    """Writes ``<job>/video.mp4`` for every job; fails an input whose key holds ``bad``."""

    def __init__(self, objects: FakeObjects) -> None:
        super().__init__()
        self.objects = objects
        self.inputs: dict[str, str] = {}  # job id -> the input key it ran on

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Callable[..., None] | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        self.runs.append((job_id, attempt))
        self.inputs[job_id] = request.input.key
        if "bad" in request.input.key:
            raise InvalidMedia("not media")
        assert request.output is not None
        key = output_key(request.output, job_id, "video.mp4")
        size = await self.objects.put_bytes(
            b"mp4" * 100, request.output.bucket, key, "video/mp4", None
        )
        return JobResult(
            job_id=job_id, input=request.input, preset=request.preset_name,
            output=request.output, source=SourceInfo(format="mov", duration=2.0, size=1000),
            outputs=[OutputFile(key=key, role="video", content_type="video/mp4", size=size)],
            encoder="libx264", attempt=attempt, started_at=NOW, completed_at=NOW,
        )  # fmt: skip


class FlakyQueue(MemoryQueue):
    """Its ``fail_after``-th send and those after it fail (a worker dying mid-fan-out)."""

    def __init__(self) -> None:
        super().__init__(visibility_timeout=0)
        self.fail_after: int | None = None
        self.sent = 0
        self.lanes: list[str] = []  # each job's priority class, in the order sent

    async def send_job(self, body: str, priority: Priority) -> str:
        self.lanes.append(priority)
        return await self.send(body)

    async def send(self, body: str) -> str:
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise StorageUnavailable("sqs:SendMessage: ServiceUnavailable")
        self.sent += 1
        return await super().send(body)


class BatchHarness(Harness):
    def __init__(self) -> None:
        super().__init__(FakePipeline())
        for name in ("a", "b", "c", "d", "bad"):
            info = ObjectInfo(size=1234, etag=None, version_id=None)
            self.objects.existing[(INPUT, f"incoming/{name}.mp4")] = info
        self.batches, self.queue = MemoryBatchStore(), FlakyQueue()
        self.media = MediaPipeline(self.objects)
        self.dispatcher = Dispatcher(
            self.settings, self.objects, self.jobs, self.events, self.workspace, self.media,
            lambda: NOW, batches=BatchPorts(self.batches, self.queue),
        )  # fmt: skip

    def send(
        self, doc: dict[str, Any], message_id: str = "batch-1", receive_count: int = 1
    ) -> Outcome:
        return self.handle(json.dumps(doc), receive_count, message_id)

    def drain(self) -> list[Outcome]:
        """Handle every message on the jobs queue (the jobs the batch sent, and those their
        endings sent), as a worker would, until it is empty."""

        async def run() -> list[Outcome]:
            outcomes = []
            while deliveries := await self.queue.receive(10, 0):
                for d in deliveries:
                    outcomes.append(await self.dispatcher.handle(d.message))
                    await self.queue.delete(d)
            return outcomes

        return asyncio.run(run())

    def of_type(self, suffix: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events.published if e.type.value.endswith(suffix)]

    def resend(self, body: str) -> Outcome:
        return asyncio.run(self.dispatcher.handle(QueueMessage("again", body, 1)))


def job(name: str | None, key: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": 2, "input": {"bucket": INPUT, "key": f"incoming/{key}.mp4"}}
    if name is not None:
        doc["name"] = name
    return {**doc, **extra}


def batch(batch_id: str, *jobs: dict[str, Any]) -> dict[str, Any]:
    return {"version": 2, "batch": {"id": batch_id, "jobs": list(jobs)}}


EVENTS = Path(__file__).parents[2] / "events"
