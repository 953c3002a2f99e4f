"""A job's terminal event: said once when the job ends, said again from its record.

The dispatcher announces a failure (and :mod:`core.jobs.cancel` a cancellation) here as it
records it; a duplicate delivery that finds an outcome recorded but never announced (the
worker died in between), the dead-letter sweep and ``ffapi replay`` announce it from the
job's record. Event ids are derived from the job and
attempt (:func:`core.events.contract.job_event`), so a repeat carries the first one's id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from core.events.announce import Announcer
from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.jobs.job_record import JobRecord, RecordedError
from core.jobs.results import JobStatus
from core.models import JobRequest
from core.ports import JobStore

log = structlog.get_logger("ffapi.dispatch")


class Verdicts:
    def __init__(self, announcer: Announcer, jobs: JobStore, now: Callable[[], datetime]) -> None:
        self._announcer = announcer
        self._jobs = jobs
        self._now = now

    async def failure(
        self, job_id: str, request: JobRequest | None, error: RecordedError, attempt: int,
        correlation_id: str | None = None,
    ) -> CloudEvent:  # fmt: skip
        """Announce ``job.failed``; without a request (a body that is no job), the
        message's id stands in for the correlation id."""
        data: dict[str, object] = (
            request_data(request, attempt)
            if request
            else {"input": None, "attempt": attempt, "correlation_id": correlation_id}
        )
        data.update(status="FAILED", error=error.event_error())
        event = job_event(EventType.FAILED, job_id, self._now(), data, attempt)
        await self._announcer.announce(event, request.webhooks if request else ())
        return event

    async def reannounce(self, job_id: str, request: JobRequest) -> bool:
        """Announce a finished job's outcome from its record, then mark it announced; False
        when it is not finished."""
        record = await self._jobs.get(job_id)
        if record is None or await self.from_record(job_id, record, request) is None:
            return False
        await self._jobs.mark_announced(job_id)
        log.info("job.reannounced", status=record.status)
        return True

    async def replay(self, job_id: str) -> CloudEvent | None:
        """Send a finished job's final event again, to the topic and to its webhooks, under
        its original id (receivers de-duplicate on it). None: no such finished job."""
        record = await self._jobs.get(job_id)
        if record is None:
            return None
        with structlog.contextvars.bound_contextvars(job_id=job_id):
            event = await self.from_record(job_id, record, record.request)
            log.info("job.replayed", status=record.status, announced=event is not None)
        return event

    async def from_record(
        self, job_id: str, record: JobRecord, request: JobRequest | None
    ) -> CloudEvent | None:
        """The terminal event of a finished job, from its record; None when it is not
        finished."""
        attempt = record.attempts or 1
        targets = request.webhooks if request else ()
        if record.status == JobStatus.COMPLETED and record.result is not None:
            data = record.result.event_data()
            event = job_event(EventType.COMPLETED, job_id, self._now(), data, attempt)
            await self._announcer.announce(event, targets)
            return event
        if record.status == JobStatus.FAILED and record.error is not None:
            return await self.failure(job_id, request, record.error, attempt)
        if record.status == JobStatus.CANCELLED:  # said as first said: from what it recorded
            return await self.cancelled(job_id, record.request, attempt)
        return None

    async def cancelled(self, job_id: str, request: JobRequest | None, attempt: int) -> CloudEvent:
        """Announce ``job.cancelled``; without a request (cancelled while queued: no worker
        read it), the event names no input."""
        data: dict[str, object] = (
            request_data(request, attempt) if request else {"input": None, "attempt": attempt}
        )
        event = job_event(
            EventType.CANCELLED, job_id, self._now(), {**data, "status": "CANCELLED"}, attempt
        )
        await self._announcer.announce(event, request.webhooks if request else ())
        return event


def request_data(request: JobRequest, attempt: int) -> dict[str, object]:
    """What every event of a job says about its request."""
    return {
        "input": request.input.model_dump(mode="json"),
        "preset": request.preset_name,
        "output": request.output.model_dump(mode="json") if request.output else None,
        "correlation_id": request.correlation_id,
        "metadata": request.metadata,
        "attempt": attempt,
    }
