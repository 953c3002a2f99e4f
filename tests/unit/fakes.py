"""Test doubles for the core ports: the shipped in-memory adapters (``infra.memory``,
``infra.memory_objects``, ``infra.memory_jobs``) with knobs only tests turn (pinned HEADs, a
settable clock, counters, outages), and a workspace and pipeline that do no I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from core.attempt.ledger_sink import AttemptLedger
from core.errors import FfapiError, InputTooLarge, InsufficientDisk, StorageUnavailable
from core.events.cloudevent import CloudEvent
from core.events.playable import PlayableNotice
from core.events.progress import ProgressUpdate
from core.jobs.results import JobResult, SourceInfo
from core.models import JobRequest, S3ObjectRef
from core.ports import Claim, JobDir, ObjectInfo
from core.presets import OutputPreset
from infra.memory import MemoryEvents
from infra.memory_jobs import Item, MemoryJobStore
from infra.memory_objects import MemoryObjectStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeObjects(MemoryObjectStore):
    """The shipped object store, with HEAD answers a test pins without bytes (``existing``:
    a size and an ETag as the dispatcher is to see them); a key not pinned is the store's."""

    def __init__(self, existing: dict[tuple[str, str], ObjectInfo] | None = None) -> None:
        super().__init__()
        self.existing = existing or {}

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        pinned = self.existing.get((ref.bucket, ref.key))
        return pinned if pinned is not None else await super().head(ref)


class FakeJobs(MemoryJobStore):
    """The shipped job store on a settable clock (``now``), counting renewals; a claim's
    carrier defaults to one message."""

    def __init__(self, records: dict[str, Item] | None = None, now: float = 1_000.0) -> None:
        super().__init__(lambda: self.now, records=records)
        self.now = now
        self.renewals = 0

    async def claim(
        self, job_id: str, request: JobRequest, lease_seconds: float, carrier: str = "m"
    ) -> Claim:
        return await super().claim(job_id, request, lease_seconds, carrier)

    async def renew(self, job_id: str, lease_seconds: float, attempt: int) -> bool:
        self.renewals += 1
        return await super().renew(job_id, lease_seconds, attempt)


class FakeEvents(MemoryEvents):
    """The shipped publisher, with outages to order: ``outage`` holds event types whose
    next publish fails."""

    def __init__(self) -> None:
        super().__init__()
        self.outage: set[str] = set()

    async def publish(self, event: CloudEvent) -> None:
        if event.type.value in self.outage:
            self.outage.discard(event.type.value)
            raise StorageUnavailable("sns:Publish: ServiceUnavailable")
        await super().publish(event)

    @property
    def types(self) -> list[str]:
        return [e.type.value for e in self.published]


class FakeWorkspace:
    """``free_bytes``: refuse (InsufficientDisk) a reservation above it; None: room for all."""

    def __init__(self, free_bytes: int | None = None) -> None:
        self.opened: list[str] = []
        self.reserved: list[int | None] = []
        self.free_bytes = free_bytes

    @asynccontextmanager
    async def job_dir(self, job_id: str, reserve_bytes: int | None = None) -> AsyncIterator[JobDir]:
        self.reserved.append(reserve_bytes)
        free = self.free_bytes
        if free is not None and reserve_bytes is not None and reserve_bytes > free:
            raise InsufficientDisk(f"{free} bytes free; {reserve_bytes} needed")
        self.opened.append(job_id)
        root = Path("/nonexistent") / job_id
        yield JobDir(root=root, source=root / "input" / "source", out=root / "out")


class FakePipeline:
    """Plays a script: each run pops the next outcome (an error to raise, or success)."""

    def __init__(self, *script: FfapiError | Exception | None) -> None:
        self.script = list(script)
        self.runs: list[tuple[str, int]] = []
        self.ledgers: list[AttemptLedger | None] = []  # what each run was handed
        self.max_input_bytes: int | None = None

    def admit(self, request: JobRequest, preset: OutputPreset) -> None:
        size = request.input.size
        if self.max_input_bytes is not None and size is not None and size > self.max_input_bytes:
            raise InputTooLarge(f"input is {size} bytes")

    async def run(
        self,
        job_id: str,
        request: JobRequest,
        preset: OutputPreset,
        jobdir: JobDir,
        attempt: int,
        report: Callable[[ProgressUpdate | PlayableNotice], None] | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:
        self.runs.append((job_id, attempt))
        self.ledgers.append(ledger)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        assert request.output is not None
        return JobResult(
            job_id=job_id,
            input=request.input,
            preset=request.preset_name,
            output=request.output,
            source=SourceInfo(format="mov", duration=10.0, size=1000),
            outputs=[],
            encoder="libx264",
            attempt=attempt,
            started_at=NOW,
            completed_at=NOW,
            correlation_id=request.correlation_id,
            metadata=request.metadata,
        )
