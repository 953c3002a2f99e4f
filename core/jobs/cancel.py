"""Cancelling a job, in whatever state it is: the worker's side of ``ffapi cancel`` and of a
cancel message (:mod:`core.jobs.cancel_request`).

The job store does the deciding, in one conditional write (``JobStore.cancel``):

- **Queued or RETRYING**: a CANCELLED tombstone. Whoever wrote it (here) announces
  ``job.cancelled`` and marks it announced; the job's own message, delivered later, finds it
  finished and is acknowledged unrun.
- **RUNNING**: a ``cancel_requested`` flag. The attempt's own fenced writes (lease renewal,
  progress) carry "no cancel requested", so the worker running it learns of it on its next
  one with no polling of its own, as :class:`core.errors.JobCancelled`; and when the cancel is
  handled in the process that runs the job, :class:`RunningAttempts` stops it at once. The
  dispatcher then cancels the attempt's task (its ffmpeg killed, its job directory removed),
  records CANCELLED fenced by its attempt, deletes whatever the job uploaded under its
  output prefix, and announces (:meth:`Cancels.stopped`). A worker that died with the flag
  set leaves it to the next claim, which does the same instead of running the job.
- **Finished**: nothing changes; the log says how it had ended.

A cancel racing the job's completion loses: ``complete`` is not held back by the flag (the
package is already published by then), and the job stays COMPLETED.
"""

from __future__ import annotations

import asyncio

import structlog

from core.errors import FfapiError
from core.jobs.cancel_request import CancelRequest
from core.jobs.results import output_key
from core.jobs.verdicts import Verdicts
from core.models import JobRequest
from core.ports import CancelAnswer, JobStore, ObjectStore

log = structlog.get_logger("ffapi.dispatch")


class RunningAttempts:
    """The attempts running in this process, by job id: a cancel handled here stops its
    attempt at once rather than at its next lease renewal."""

    def __init__(self) -> None:
        self._stops: dict[str, asyncio.Event] = {}

    def enter(self, job_id: str) -> asyncio.Event:
        """The attempt of ``job_id`` begins: the event is set when it is to stop."""
        stop = self._stops[job_id] = asyncio.Event()
        return stop

    def leave(self, job_id: str, stop: asyncio.Event) -> None:
        if self._stops.get(job_id) is stop:
            del self._stops[job_id]

    def stop(self, job_id: str) -> bool:
        """Stop the job's attempt if it runs here; whether it did."""
        stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()
        return stop is not None


class Cancels:
    def __init__(self, jobs: JobStore, verdicts: Verdicts, objects: ObjectStore) -> None:
        self._jobs = jobs
        self._verdicts = verdicts
        self._objects = objects
        self.running = RunningAttempts()

    async def handle(self, cancel: CancelRequest) -> CancelAnswer:
        """A cancel message: cancel the job, announce it if it never started, stop it here
        if it runs here."""
        job_id = cancel.job_id
        with structlog.contextvars.bound_contextvars(job_id=job_id):
            answer = await self._jobs.cancel(job_id)
            if answer.outcome == "cancelled":
                record = await self._jobs.get(job_id)
                request = record.request if record is not None else None
                await self._verdicts.cancelled(job_id, request, answer.attempt or 1)
                await self._jobs.mark_announced(job_id)
            local = answer.outcome == "requested" and self.running.stop(job_id)
            log.info("job.cancel", outcome=answer.outcome, was=answer.status, here=local)
        return answer

    async def stopped(self, job_id: str, request: JobRequest, attempt: int) -> bool:
        """The attempt stopped for a cancel (or a claim found one pending): record CANCELLED,
        fenced by ``attempt``, and announce it. False: the job is no longer this attempt's
        (taken over, or finished), and nothing is said."""
        if not await self._jobs.record_cancelled(job_id, attempt):
            return False
        await self._withdraw(job_id, request)
        await self._verdicts.cancelled(job_id, request, attempt)
        await self._jobs.mark_announced(job_id)
        log.info("job.cancelled", attempt=attempt)
        return True

    async def _withdraw(self, job_id: str, request: JobRequest) -> None:
        """Delete whatever the job's attempts uploaded (segments sent ahead; a dead worker's
        leftovers; copies to its further destinations): a cancelled job publishes nothing.
        Only once it is CANCELLED, when no attempt of it can run again. A failure here is
        logged; the cancel stands."""
        places = (*([request.output] if request.output else []), *request.destinations)
        try:
            for out in places:  # the output, then the copies (core.attempt.destinations)
                keys = await self._objects.list_keys(out.bucket, output_key(out, job_id, ""))
                if keys:
                    await self._objects.delete_keys(out.bucket, keys)
                    log.info("job.outputs_withdrawn", count=len(keys), bucket=out.bucket)
        except FfapiError as exc:  # a lifecycle rule, or an operator, has the rest
            log.warning("job.withdraw_failed", code=exc.code, reason=exc.message)
