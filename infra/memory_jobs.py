"""The job store in memory: ``infra.jobstore.DynamoJobStore``'s conditions on a dict.

For tests (the dispatcher's, the sweep's, the webhook lanes'), and for trying the core
without AWS (a dry run; no ``ffapi`` command wires it yet). Each record is held as the
DynamoDB table holds its item, in plain Python (the JSON-encoded fields as parsed JSON), and
every write applies, or refuses, on the same condition the DynamoDB adapter sends: the claim
(new, RETRYING, SCHEDULED, WAITING, a lapsed lease, or a retryable failure), the attempt
fence on renew/progress/note_segments/complete/fail/release, the sweep's ``give_up`` (abandoned, and
carried by that letter or none), ``wait`` (only where there is no record) and
``add_dependent`` (a set, on a parent with a record), a failure before any claim (never
over a finished or running job), and ``cancel`` (a tombstone, or the flag that renew and
progress then refuse with JobCancelled).
Time is the ``clock`` given (epoch seconds).

What it does not model: lost answers and resent writes (a call here applies once and
answers; the write token that tells a resent copy from a refusal has nothing to do, so none
is kept), concurrent writers on other machines, throttling and outages, the TTL's deletion
(``expires_at`` is set as DynamoDB's is, nothing is ever deleted), and DynamoDB's integer
epoch seconds (a lease here ends at the fraction of a second it was given).
``tests/integration/test_job_store_contract.py`` holds both adapters to one contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.attempt.ledger import SegmentLedger
from core.attempt.ledger_codec import encode_ledger
from core.errors import JobCancelled
from core.events.progress import ProgressUpdate
from core.jobs.job_record import JobRecord, RecordedError, WebhookDelivery
from core.jobs.results import TERMINAL, JobResult, JobStatus
from core.models import JobRequest
from core.ports import CancelAnswer, Claim
from infra.jobstore_cancel import BEFORE_START, CANCEL_FLAG, WHILE_RUNNING
from infra.jobstore_segments import SEGMENTS, carried
from infra.memory_job_chunks import MemoryJobChunks

# A failure before any claim may be recorded over these (never over a finished or running job).
_NOT_STARTED = (JobStatus.RETRYING, JobStatus.SCHEDULED, JobStatus.WAITING)
# A record as the table holds it: attribute name -> plain value (tests read and set them
# as they would a DynamoDB item's). It never crosses the port: ``get`` hands out JobRecord.
Item = dict[str, Any]
_SUMMARY = (
    "status", "preset", "input_bucket", "input_key", "attempts", "created_at", "updated_at",
    "error", "progress", "not_before",
)  # fmt: skip


class MemoryJobStore(MemoryJobChunks):  # split jobs: infra.memory_job_chunks
    def __init__(
        self, clock: Callable[[], float] = time.time, *, keep_days: int = 0,
        records: dict[str, Item] | None = None,
    ) -> None:  # fmt: skip
        """``keep_days``: as DynamoJobStore's (a finished record's ``expires_at``)."""
        self._clock = clock
        self._keep_days = keep_days
        self.records: dict[str, Item] = records if records is not None else {}

    async def claim(
        self, job_id: str, request: JobRequest, lease_seconds: float, carrier: str
    ) -> Claim:
        now, rec = self._clock(), self.records.get(job_id)
        if rec is not None and not _claimable(rec, now):
            return _refused_claim(rec, now)
        item = self.records.setdefault(job_id, {})
        for name in ("error", "retryable", "expires_at"):
            item.pop(name, None)
        item.setdefault("created_at", _iso(now))
        item.update(
            status=JobStatus.RUNNING, lease_until=now + lease_seconds, updated_at=_iso(now),
            attempts=int(item.get("attempts", 0)) + 1, request=request.model_dump(mode="json"),
            input_bucket=request.input.bucket, input_key=request.input.key,
            preset=request.preset_name, carrier=carrier,
        )  # fmt: skip
        flagged, ledger = bool(item.get(CANCEL_FLAG)), carried(item, job_id)
        return Claim("claimed", item["attempts"], cancel_requested=flagged, segments=ledger)

    async def renew(self, job_id: str, lease_seconds: float, attempt: int) -> bool:
        lease = self._clock() + lease_seconds
        return self._fenced(job_id, attempt, cancellable=True, lease_until=lease)

    async def note_segments(self, job_id: str, ledger: SegmentLedger, attempt: int) -> bool:
        # kept as the table keeps it: the encoded bytes
        fields: Item = {SEGMENTS: encode_ledger(ledger)}
        return self._fenced(job_id, attempt, cancellable=True, **fields)

    async def complete(self, job_id: str, result: JobResult) -> bool:
        return self._fenced(
            job_id, result.attempt, ("lease_until", "error", "retryable", SEGMENTS),
            status=JobStatus.COMPLETED, result=result.model_dump(mode="json"), announced=False,
            **self._expiry(),
        )  # fmt: skip

    async def fail(
        self, job_id: str, error: RecordedError, *, final: bool, attempt: int | None
    ) -> bool:
        fields: Item = {
            "status": JobStatus.FAILED if final else JobStatus.RETRYING,
            "error": error.model_dump(mode="json", exclude_none=True),
            "retryable": error.retryable, "announced": not final,
            **(self._expiry() if final else {}),
        }  # fmt: skip
        if attempt is not None:
            return self._fenced(job_id, attempt, ("lease_until",), **fields)
        rec = self.records.get(job_id)
        if rec is not None and rec.get("status") not in _NOT_STARTED:
            return False  # before any claim: never over a finished or running job
        self._set(job_id, ("lease_until",), **fields)
        return True

    async def schedule(self, job_id: str, request: JobRequest, not_before: datetime) -> None:
        rec = self.records.get(job_id)
        if rec is not None and rec.get("status") != JobStatus.SCHEDULED:
            return  # a claimed or finished job keeps its record
        now, item = self._clock(), self.records.setdefault(job_id, {})
        item.setdefault("created_at", _iso(now))
        item.update(
            status=JobStatus.SCHEDULED, not_before=not_before.isoformat(), updated_at=_iso(now),
            request=request.model_dump(mode="json"), input_bucket=request.input.bucket,
            input_key=request.input.key, preset=request.preset_name,
        )  # fmt: skip

    async def wait(self, job_id: str, request: JobRequest) -> None:
        rec = self.records.get(job_id)
        if rec is not None and rec.get("status") != JobStatus.WAITING:
            return  # a claimed or finished job keeps its record
        now, item = self._clock(), self.records.setdefault(job_id, {})
        item.setdefault("created_at", _iso(now))
        item.update(
            status=JobStatus.WAITING, updated_at=_iso(now), request=request.model_dump(mode="json"),
            input_bucket=request.input.bucket, input_key=request.input.key,
            preset=request.preset_name,
        )  # fmt: skip

    async def add_dependent(self, parent_id: str, job_id: str) -> bool:
        if parent_id not in self.records:
            return False
        self.records[parent_id].setdefault("dependents", set()).add(job_id)
        return True

    async def give_up(
        self, job_id: str, request: JobRequest, error: RecordedError, carrier: str
    ) -> bool:
        now, rec = self._clock(), self.records.get(job_id)
        if rec is not None and not _abandoned(rec, now, carrier):
            return False
        item = self.records.setdefault(job_id, {})
        # As a claim would have recorded them, when no claim did.
        for name, value in (
            ("created_at", _iso(now)), ("attempts", 0),
            ("request", request.model_dump(mode="json")), ("input_bucket", request.input.bucket),
            ("input_key", request.input.key), ("preset", request.preset_name),
        ):  # fmt: skip
            item.setdefault(name, value)
        self._set(
            job_id, ("lease_until",), status=JobStatus.FAILED,
            error=error.model_dump(mode="json", exclude_none=True), retryable=True,
            announced=False, **self._expiry(),
        )  # fmt: skip
        return True

    async def release(self, job_id: str, attempt: int) -> bool:
        return self._fenced(job_id, attempt, ("lease_until",), status=JobStatus.RETRYING)

    async def progress(self, job_id: str, progress: ProgressUpdate, attempt: int) -> bool:
        update = progress.model_dump(mode="json")
        return self._fenced(job_id, attempt, cancellable=True, progress=update)

    async def cancel(self, job_id: str) -> CancelAnswer:
        rec = self.records.get(job_id, {})
        status, attempts = rec.get("status"), int(rec.get("attempts", 0))
        if status in TERMINAL:
            return CancelAnswer("finished", status, attempts)
        if status == JobStatus.RUNNING:
            self._set(job_id, (), **{CANCEL_FLAG: True})
            return CancelAnswer("requested", status, attempts)
        # Queued (no record) or RETRYING: a tombstone the job's next delivery finds finished.
        item = self.records.setdefault(job_id, {})
        item.setdefault("created_at", _iso(self._clock()))
        item.setdefault("attempts", 0)
        self._set(job_id, ("lease_until", CANCEL_FLAG), **self._cancelled(BEFORE_START))
        return CancelAnswer("cancelled", status, attempts)

    async def record_cancelled(self, job_id: str, attempt: int) -> bool:
        fields = self._cancelled(WHILE_RUNNING)
        return self._fenced(job_id, attempt, ("lease_until", CANCEL_FLAG), **fields)

    async def record_delivery(self, job_id: str, delivery: WebhookDelivery) -> None:
        if job_id in self.records:
            webhooks = self.records[job_id].setdefault("webhooks", [])
            webhooks.append(delivery.model_dump(mode="json"))
            self._set(job_id)

    async def mark_announced(self, job_id: str) -> None:
        # Unconditional, as DynamoDB's UpdateItem: on a job with no record it leaves a stray,
        # status-less one (JobRecord says so).
        self._set(job_id, announced=True)

    async def get(self, job_id: str) -> JobRecord | None:
        rec = self.records.get(job_id)
        if rec is None:
            return None
        return JobRecord.model_validate({**rec, "job_id": job_id, "segments": carried(rec, job_id)})

    async def recent(self, status: str | None = None, limit: int = 20) -> list[JobRecord]:
        """As DynamoJobStore's: the newest ``limit`` by creation, summarized (no request,
        result, lease or webhooks)."""
        records = [
            JobRecord.model_validate(
                {"job_id": job_id, **{k: rec[k] for k in _SUMMARY if k in rec}}
            )
            for job_id, rec in self.records.items()
            if status is None or rec.get("status") == status
        ]
        records.sort(key=lambda r: str(r.created_at or r.updated_at), reverse=True)
        return records[:limit]

    def _fenced(
        self, job_id: str, attempt: int, remove: tuple[str, ...] = (),
        *, cancellable: bool = False, **fields: Any,
    ) -> bool:  # fmt: skip
        """A write only the claim of ``attempt`` may make: False, nothing written, when the
        job is not RUNNING under that attempt (taken over, released, or finished).
        ``cancellable``: refused with JobCancelled once a cancel flagged the job."""
        rec = self.records.get(job_id)
        if rec is None or rec.get("status") != JobStatus.RUNNING or rec.get("attempts") != attempt:
            return False
        if cancellable and rec.get(CANCEL_FLAG):
            raise JobCancelled("a cancel was requested")
        self._set(job_id, remove, **fields)
        return True

    def _cancelled(self, reason: str) -> Item:
        error = RecordedError.of(JobCancelled(reason)).model_dump(mode="json", exclude_none=True)
        return {
            "status": JobStatus.CANCELLED, "error": error, "retryable": False,
            "announced": False, **self._expiry(),
        }  # fmt: skip

    def _set(self, job_id: str, remove: tuple[str, ...] = (), **fields: Any) -> None:
        item = self.records.setdefault(job_id, {})
        for name in remove:
            item.pop(name, None)
        item.update(fields, updated_at=_iso(self._clock()))

    def _expiry(self) -> Item:
        if self._keep_days <= 0:
            return {}
        return {"expires_at": int(self._clock()) + self._keep_days * 86400}


def _claimable(rec: Item, now: float) -> bool:
    status = rec.get("status")
    return (
        status == JobStatus.RETRYING
        or (status == JobStatus.RUNNING and _lapsed(rec, now))
        or (status == JobStatus.FAILED and rec.get("retryable") is True)
        or status in (JobStatus.SCHEDULED, JobStatus.WAITING)
    )


def _abandoned(rec: Item, now: float, carrier: str) -> bool:
    """The sweep's condition: nothing but this dead letter could still finish the job."""
    status = rec.get("status")
    idle = status in (JobStatus.RETRYING, JobStatus.WAITING) or (
        status == JobStatus.RUNNING and _lapsed(rec, now)
    )
    return idle and rec.get("carrier") in (None, carrier)


def _lapsed(rec: Item, now: float) -> bool:
    # A RUNNING record without a lease fails DynamoDB's `lease_until <= :now` too.
    lease = rec.get("lease_until")
    return lease is not None and float(lease) <= now


def _refused_claim(rec: Item, now: float) -> Claim:
    status = rec.get("status")
    if status in TERMINAL or status == JobStatus.SPLIT:  # SPLIT: its chunks run it
        return Claim("done", status=status, announced=bool(rec.get("announced", True)))
    remaining = max(0.0, float(rec.get("lease_until", now)) - now)
    return Claim("busy", lease_remaining=remaining, status=status, carrier=rec.get("carrier"))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
