"""In-memory implementations of the core ports, for unit tests of the dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import (
    FfapiError,
    InputNotFound,
    InputTooLarge,
    InsufficientDisk,
    StorageUnavailable,
)
from core.events.cloudevent import CloudEvent
from core.events.progress import ProgressUpdate
from core.jobs.job_record import JobRecord, RecordedError, WebhookDelivery
from core.jobs.results import TERMINAL, JobResult, JobStatus, SourceInfo
from core.models import JobRequest, S3ObjectRef
from core.ports import Claim, JobDir, ObjectInfo
from core.presets import OutputPreset

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeObjects:
    def __init__(self, existing: dict[tuple[str, str], ObjectInfo] | None = None) -> None:
        self.existing = existing or {}

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        try:
            return self.existing[(ref.bucket, ref.key)]
        except KeyError:
            raise InputNotFound(f"s3://{ref.bucket}/{ref.key} does not exist") from None

    # The pipeline is faked: the dispatcher only HEADs. The rest is the port's, unused here.

    async def download(self, ref: S3ObjectRef, dest: Path) -> None:
        raise AssertionError("not used")

    async def upload_file(
        self, path: Path, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> None:
        raise AssertionError("not used")

    async def put_bytes(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> int:
        raise AssertionError("not used")

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> bool:
        raise AssertionError("not used")

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        raise AssertionError("not used")

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        raise AssertionError("not used")

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        raise AssertionError("not used")


@dataclass
class FakeJobs:
    """The claim rules of infra.jobstore.DynamoJobStore, on a dict and a settable clock."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: float = 1_000.0
    renewals: int = 0

    async def claim(
        self, job_id: str, request: JobRequest, lease_seconds: float, carrier: str = "m"
    ) -> Claim:
        rec = self.records.get(job_id)
        claimable = (
            rec is None
            or rec["status"] == JobStatus.RETRYING
            or (rec["status"] == JobStatus.RUNNING and rec["lease_until"] < self.now)
            or (rec["status"] == JobStatus.FAILED and rec.get("retryable"))
        )
        if not claimable:
            assert rec is not None
            if rec["status"] in TERMINAL:
                return Claim("done", status=rec["status"], announced=rec.get("announced", True))
            return Claim(
                "busy", lease_remaining=rec["lease_until"] - self.now, carrier=rec.get("carrier")
            )
        attempts = (rec or {}).get("attempts", 0) + 1
        self.records[job_id] = {
            "status": JobStatus.RUNNING,
            "lease_until": self.now + lease_seconds,
            "attempts": attempts,
            "request": request.model_dump(mode="json"),
            "carrier": carrier,
        }
        return Claim("claimed", attempt=attempts)

    def _holds(self, job_id: str, attempt: int) -> bool:
        rec = self.records.get(job_id) or {}
        return rec.get("status") == JobStatus.RUNNING and rec.get("attempts") == attempt

    async def renew(self, job_id: str, lease_seconds: float, attempt: int) -> bool:
        self.renewals += 1
        if not self._holds(job_id, attempt):
            return False
        self.records[job_id]["lease_until"] = self.now + lease_seconds
        return True

    async def complete(self, job_id: str, result: JobResult) -> bool:
        if not self._holds(job_id, result.attempt):
            return False
        self.records[job_id].update(
            status=JobStatus.COMPLETED, result=result.model_dump(mode="json"), announced=False
        )
        return True

    async def fail(
        self, job_id: str, error: RecordedError, *, final: bool, attempt: int | None
    ) -> bool:
        if attempt is not None and not self._holds(job_id, attempt):
            return False
        current = self.records.get(job_id)
        if attempt is None and current and current["status"] != JobStatus.RETRYING:
            return False
        rec = self.records.setdefault(job_id, {"attempts": 0})
        rec.update(
            status=JobStatus.FAILED if final else JobStatus.RETRYING,
            error=error.event_error(),
            retryable=error.retryable,
            lease_until=0,
            announced=not final,
        )
        return True

    async def give_up(
        self, job_id: str, request: JobRequest, error: RecordedError, carrier: str
    ) -> bool:
        rec = self.records.get(job_id)
        abandoned = rec is None or (
            (
                rec["status"] == JobStatus.RETRYING
                or (rec["status"] == JobStatus.RUNNING and rec["lease_until"] <= self.now)
            )
            and rec.get("carrier") in (None, carrier)
        )
        if not abandoned:
            return False
        rec = self.records.setdefault(
            job_id, {"attempts": 0, "request": request.model_dump(mode="json")}
        )
        rec.update(
            status=JobStatus.FAILED,
            error=error.event_error(),
            retryable=True,
            lease_until=0,
            announced=False,
        )
        return True

    async def release(self, job_id: str, attempt: int) -> bool:
        if not self._holds(job_id, attempt):
            return False
        self.records[job_id].update(status=JobStatus.RETRYING, lease_until=0)
        return True

    async def progress(self, job_id: str, progress: ProgressUpdate, attempt: int) -> bool:
        if not self._holds(job_id, attempt):
            return False
        self.records[job_id]["progress"] = progress.model_dump(mode="json")
        return True

    async def record_delivery(self, job_id: str, delivery: WebhookDelivery) -> None:
        if job_id in self.records:
            self.records[job_id].setdefault("webhooks", []).append(delivery.model_dump())

    async def mark_announced(self, job_id: str) -> None:
        self.records[job_id]["announced"] = True

    async def get(self, job_id: str) -> JobRecord | None:
        rec = self.records.get(job_id)
        return JobRecord.model_validate({**rec, "job_id": job_id}) if rec is not None else None


@dataclass
class FakeEvents:
    published: list[CloudEvent] = field(default_factory=list)
    outage: set[str] = field(default_factory=set)  # event types whose next publish fails

    async def publish(self, event: CloudEvent) -> None:
        if event.type.value in self.outage:
            self.outage.discard(event.type.value)
            raise StorageUnavailable("sns:Publish: ServiceUnavailable")
        self.published.append(event)

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
        report: Callable[[ProgressUpdate], None] | None = None,
    ) -> JobResult:
        self.runs.append((job_id, attempt))
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
