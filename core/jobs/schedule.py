"""A request's ``not_before`` and ``deadline``: not started before the one, never after the other.

SQS can hide a message for a while, within limits: ``DelaySeconds`` at most 900 s when it is
sent, a visibility timeout at most 12 h from its receipt. And every receipt counts toward the
queue's ``maxReceiveCount``: a message hidden again and again by visibility would reach the DLQ
(or leave its job fewer retries) while it waits. So a job that is not due yet is **requeued**:
a fresh copy of its message is sent to the queue it came from with ``DelaySeconds`` = the wait
less the lead, at most 900 s, and the received copy is deleted (``Queue.requeue``). Each copy
starts its receive count afresh; a wait of a day is 96 copies, a few requests each (cents a
year). A copy deleted late (the delete failed) is a duplicate that the claim turns away.

The last stretch is held, not polled: a message received less than ``lead`` + 1 s before its
time (5 s by default: more than a busy worker's receive takes) is kept hidden by the
heartbeat while the worker sleeps the exact remaining time, then the job is claimed and
started, within a second of ``not_before`` rather than at the next poll.

While it waits the job has a record, ``SCHEDULED`` with its time (``ffapi jobs`` lists it),
written once by the first worker to requeue it; a claim takes a SCHEDULED job as a new one.
A job that reaches a worker at or after its ``deadline`` (a backlog, a wait for a lease) fails
as ``deadline_passed``: one ``job.failed``, never retried. The deadline is checked before every
attempt: a retry after the deadline fails too, rather than deliver late.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from core.errors import DeadlinePassed
from core.jobs.keepalive import Sleep
from core.models import JobRequest
from core.ports import JobStore

log = structlog.get_logger("ffapi.schedule")

MAX_DELAY = 900  # seconds: SQS's ceiling on DelaySeconds
DEFAULT_LEAD = 5.0  # seconds before its time a scheduled message comes back to be held


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep the message and sleep this many seconds: the job is due within the lead."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Requeue:
    """Send a fresh copy hidden this many seconds (0 < delay <= 900), delete this one."""

    delay: int


def plan_wait(now: datetime, not_before: datetime | None, lead: float) -> Hold | Requeue | None:
    """What a worker does with a message for ``not_before`` received at ``now``: nothing (it
    is due), hold it (due within ``lead`` + 1 s), or requeue it to come back ``lead`` seconds
    before its time (or after 900 s, the most SQS delays a message, to look again)."""
    if not_before is None:
        return None
    remaining = (not_before - now).total_seconds()
    if remaining <= 0:
        return None
    if remaining < lead + 1:
        return Hold(remaining)
    return Requeue(min(MAX_DELAY, math.floor(remaining - lead)))


def send_delay(now: datetime, not_before: datetime | None, lead: float = DEFAULT_LEAD) -> int:
    """``DelaySeconds`` for a sender (``ffapi submit``): the message arrives ``lead`` seconds
    before its time when that is within 15 minutes, else in 15 minutes (and is requeued)."""
    plan = plan_wait(now, not_before, lead)
    return plan.delay if isinstance(plan, Requeue) else 0


class Schedule:
    """The dispatcher's gate before a claim (``core.jobs.dispatch``)."""

    def __init__(
        self, jobs: JobStore, now: Callable[[], datetime], sleep: Sleep, lead: float
    ) -> None:
        self._jobs, self._now, self._sleep, self._lead = jobs, now, sleep, lead

    async def wait(self, job_id: str, request: JobRequest) -> int | None:
        """None: start the job now (after holding it until its time, if that is close). A
        number: requeue the message with that delay. Raise DeadlinePassed when the job can
        no longer start in time."""
        plan = plan_wait(self._now(), request.not_before, self._lead)
        if isinstance(plan, Requeue):
            self._check_deadline(request)
            assert request.not_before is not None  # a plan needs a time
            await self._jobs.schedule(job_id, request, request.not_before)
            log.info("job.scheduled", not_before=request.not_before.isoformat(),
                     requeued_for=plan.delay)  # fmt: skip
            return plan.delay
        if isinstance(plan, Hold):
            log.info("job.held", seconds=round(plan.seconds, 3))
            await self._sleep(plan.seconds)
        self._check_deadline(request)
        return None

    def _check_deadline(self, request: JobRequest) -> None:
        now = self._now()
        if request.deadline is not None and now >= request.deadline:
            raise DeadlinePassed(
                f"deadline {request.deadline.isoformat()} passed before the job could start "
                f"(at {now.isoformat(timespec='seconds')})"
            )
