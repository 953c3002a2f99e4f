"""What the dispatcher makes of a message: each job's outcome, and what the queue is to do
with the message (:class:`Disposition`). The consumer, the Lambda handler and the CLI read
them; :mod:`core.jobs.dispatch` decides them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.errors import FfapiError
from core.jobs.results import JobResult


class Disposition(StrEnum):
    ACK = "ack"  # done with it: delete from the queue
    RETRY = "retry"  # leave it: the queue delivers it again (and moves it to the DLQ after N)
    DEFER = "defer"  # not due: a fresh copy, delayed retry_after seconds (core.jobs.schedule)


class JobOutcomeStatus(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # permanently (a transient failure stays RETRYING, even on the last try)
    RETRYING = "RETRYING"  # transient failure: the message comes back
    DUPLICATE = "DUPLICATE"  # already completed or failed: nothing to do
    BUSY = "BUSY"  # another delivery holds the lease: come back after it
    SUPERSEDED = "SUPERSEDED"  # our lease lapsed and another worker took the job over
    SCHEDULED = "SCHEDULED"  # not due yet: its message is requeued (core.jobs.schedule)
    CANCELLED = "CANCELLED"  # a cancel ended it (or asked it to end: core.jobs.cancel)
    WAITING = "WAITING"  # for the jobs it names by id, recorded so (core.jobs.job_deps)
    SPLIT = "SPLIT"  # goes on as chunk sub-jobs (core.jobs.chunks); its message is done


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: str
    status: JobOutcomeStatus
    error: FfapiError | None = None
    retry_after: float | None = None
    preset: str | None = None  # the effective preset, once resolved
    result: JobResult | None = None  # when COMPLETED: what the job made, and how long it took


@dataclass(slots=True)
class Outcome:
    disposition: Disposition = Disposition.ACK
    retry_after: float | None = None  # seconds, a hint for the queue's visibility timeout
    jobs: list[JobOutcome] = field(default_factory=list)
    ignored: tuple[str, ...] = ()
