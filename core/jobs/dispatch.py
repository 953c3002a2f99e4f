"""From one queue message to a decision: acknowledge it, or let the queue deliver it again.

The worker's whole contract with SQS, shared by the container loop and the Lambda handler:
a message is acknowledged only after its outcome is recorded and announced. For each request
it carries: intake (:mod:`core.jobs.intake`; a body that is no job is announced once as
``job.failed`` under ``m-`` + its hash), identity (:mod:`core.jobs.identity`), the claim,
the attempt inside the scale-in guard (:mod:`core.jobs.scale_in`), then record, announce,
mark announced. A job found done is a duplicate (an unannounced outcome is announced first),
and so is one leased under another message; one leased under this message is BUSY (a
container worker first waits a lapsing lease out, :mod:`core.jobs.lease_wait`). A lease
taken over stops the attempt, which announces nothing (SUPERSEDED); a worker stopping
releases its claim. A cancel (:mod:`core.jobs.cancel`) stops the attempt as a takeover does,
and records and announces CANCELLED. A transient failure on the last delivery is recorded
FAILED (retryable by a DLQ redrive) and announced as ``max_attempts``; a failure before any
claim never overwrites a finished job. :meth:`Dispatcher.replay` sends a finished job's
final event again.
A batch message is fanned out, and a batch job's ending counted, by :mod:`core.jobs.batches`;
a long job's chunk sub-jobs are run, counted and announced as their parent by
:mod:`core.jobs.chunks` (a split parent's attempt ends SPLIT, acknowledged).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime

import structlog

from core.attempt.ledger import SegmentLedger
from core.attempt.ledger_sink import attempt_ledger
from core.attempt.pipeline import JobRunner
from core.errors import AttemptsExhausted, DeadlinePassed, FfapiError, JobBusy, as_ffapi_error
from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.events.reporting import ProgressReporter
from core.jobs.batches import Batches, BatchPorts
from core.jobs.cancel import Cancels
from core.jobs.cancel_request import CancelRequest
from core.jobs.chunk_fanout import ChunkFanOut
from core.jobs.chunk_model import JobSplit
from core.jobs.chunks import Chunks, QuietChunks
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.identity import named_request, pin_request
from core.jobs.intake import normalize
from core.jobs.job_record import RecordedError
from core.jobs.keepalive import Sleep
from core.jobs.lease_keeper import LeaseKeeper
from core.jobs.lease_wait import claim_after_lease
from core.jobs.outcome import Disposition, JobOutcome, JobOutcomeStatus, Outcome
from core.jobs.results import JobResult, JobStatus, derive_job_id
from core.jobs.scale_in import ScaleInGuard
from core.jobs.schedule import Schedule
from core.jobs.verdicts import Verdicts, request_data
from core.models import JobRequest
from core.ports import (
    CancelAnswer,
    Claim,
    EventPublisher,
    JobStore,
    ObjectStore,
    QueueMessage,
    WebhookSender,
    Workspace,
)
from core.presets import OutputPreset, PresetCatalog

log = structlog.get_logger("ffapi.dispatch")


# Outcomes that leave the message on the queue: a delivery of it will finish the job.
_COME_BACK = {JobOutcomeStatus.RETRYING, JobOutcomeStatus.BUSY, JobOutcomeStatus.SUPERSEDED}


class Dispatcher:
    def __init__(
        self,
        settings: DispatchSettings,
        objects: ObjectStore,
        jobs: JobStore,
        events: EventPublisher,
        workspace: Workspace,
        pipeline: JobRunner,
        now: Callable[[], datetime],
        hooks: WebhookSender | None = None,
        scale_in: ScaleInGuard | None = None,
        sleep: Sleep = asyncio.sleep,
        batches: BatchPorts | None = None,
    ) -> None:
        self._settings = settings
        self._scale_in = scale_in or ScaleInGuard(None, settings.lease_seconds)  # scale_in.py
        self._objects = objects
        self._jobs = jobs
        self._announcer = QuietChunks(events, hooks)  # a chunk says nothing: core.jobs.chunks
        self._verdicts = Verdicts(self._announcer, jobs, now)
        self._cancels = Cancels(jobs, self._verdicts, objects)  # core.jobs.cancel
        self._lease = LeaseKeeper(
            jobs, settings.lease_seconds, settings.stall_seconds, self._cancels.running.stop
        )
        self._workspace = workspace
        self._pipeline = pipeline
        self._now = now
        self._sleep = sleep
        self._batches = Batches(  # core.jobs.batches: fan-out, endings, dependents
            batches, objects, jobs, self._verdicts, self._announcer, settings.in_force, now
        )  # fmt: skip
        self._schedule = Schedule(jobs, now, sleep, settings.schedule_lead)
        self._chunks = Chunks(
            jobs, objects, self._announcer, self._verdicts, now, self._batches.job_ended
        )
        self._fan_out = ChunkFanOut(jobs, batches.queue) if batches is not None else None

    async def handle(self, message: QueueMessage) -> Outcome:
        with structlog.contextvars.bound_contextvars(message_id=message.message_id):
            return await self._handle(message)

    async def _handle(self, message: QueueMessage) -> Outcome:
        config = self._settings.in_force()  # one configuration for the whole message
        try:
            intake = normalize(message.body, config.intake)
            if intake.batch is not None:
                await self._batches.submit(intake.batch, config)
                return Outcome()
            chunks = [await self._chunks.request(c) for c in intake.chunks]  # core.jobs.chunks
        except FfapiError as exc:
            if exc.retryable:  # a batch's record or fan-out: its next delivery goes on
                raise
            # It can never become a job: announce once under an id derived from the body.
            job_id = "m-" + hashlib.sha256(message.body.encode()).hexdigest()[:24]
            log.warning("message.rejected", code=exc.code, reason=exc.message)
            # Attempt 1 always: a redelivery of the same body re-sends the same event id.
            await self._verdicts.failure(
                job_id, None, RecordedError.of(exc), attempt=1, correlation_id=message.message_id
            )
            return Outcome(jobs=[JobOutcome(job_id, JobOutcomeStatus.FAILED, exc)])
        outcome = Outcome(ignored=intake.ignored)
        for reason in intake.ignored:
            log.info("message.ignored", reason=reason)
        for cancel in intake.cancels:
            said = await self.cancel(cancel)
            done = said.outcome == "finished"
            status = JobOutcomeStatus.DUPLICATE if done else JobOutcomeStatus.CANCELLED
            outcome.jobs.append(JobOutcome(cancel.job_id, status))
        for request in (*intake.requests, *chunks):
            job = await self._handle_request(request, message, config.catalog)
            outcome.jobs.append(job)
            if job.status in _COME_BACK:
                outcome.disposition = Disposition.RETRY
                if job.retry_after is not None:
                    outcome.retry_after = max(outcome.retry_after or 0.0, job.retry_after)
            elif job.status is JobOutcomeStatus.SCHEDULED:
                outcome.disposition, outcome.retry_after = Disposition.DEFER, job.retry_after
        return outcome

    async def _handle_request(
        self, request: JobRequest, message: QueueMessage, catalog: PresetCatalog
    ) -> JobOutcome:
        receive_count = message.receive_count
        preset = None
        # A request without a correlation id is traced by the message that carried it.
        correlation_id = request.correlation_id or message.message_id
        request = request.model_copy(update={"correlation_id": correlation_id})
        try:
            request, preset = named_request(catalog, request)
            request, preset = await pin_request(self._objects, catalog, request, preset)
            ready = await self._batches.waits.ready(derive_job_id(request, preset), request)
        except FfapiError as exc:
            if exc.retryable:
                raise
            return await self._fail(derive_job_id(request, preset), request, exc, receive_count)
        if ready is None:  # waits for jobs it names by id (core.jobs.job_deps)
            return JobOutcome(derive_job_id(request, preset), JobOutcomeStatus.WAITING)
        request = ready  # its input resolved from the job it comes from, if any
        job_id = derive_job_id(request, preset)
        with structlog.contextvars.bound_contextvars(
            job_id=job_id, correlation_id=request.correlation_id
        ):
            try:  # core.jobs.schedule: not before its not_before, never after its deadline
                if (delay := await self._schedule.wait(job_id, request)) is not None:
                    return JobOutcome(job_id, JobOutcomeStatus.SCHEDULED, retry_after=delay)
            except DeadlinePassed as exc:
                return await self._fail(job_id, request, exc, receive_count)
            lease, carrier = self._settings.lease_seconds, message.message_id
            claim = await claim_after_lease(  # a dead worker's lease is waited out here
                await self._jobs.claim(job_id, request, lease, carrier), carrier,
                self._settings.busy_wait_seconds,
                lambda: self._jobs.claim(job_id, request, lease, carrier), self._sleep,
            )  # fmt: skip
            if claim.outcome == "done":
                return await self._duplicate(job_id, request, claim)
            if claim.outcome == "busy" and claim.carrier not in (None, message.message_id):
                # Another message carries this job and stays queued until its outcome is
                # recorded: this duplicate can go (a long job would otherwise push it to the DLQ).
                log.info("job.duplicate", reason="running under another message")
                return JobOutcome(job_id, JobOutcomeStatus.DUPLICATE)
            if claim.outcome == "busy":
                log.info("job.busy", lease_remaining=claim.lease_remaining)
                busy = JobBusy(f"job is leased by another worker for {claim.lease_remaining:.0f}s")
                return JobOutcome(
                    job_id, JobOutcomeStatus.BUSY, busy, retry_after=claim.lease_remaining
                )
            if claim.cancel_requested:  # cancelled while an earlier attempt ran: not run
                return await self._cancelled(job_id, request, claim.attempt)
            async with self._scale_in.job():
                return await self._run_claimed(
                    job_id, request, preset, claim.attempt, receive_count, claim.segments
                )

    async def _split_again(self, job_id: str, request: JobRequest) -> JobOutcome:
        """A parent found SPLIT: its chunks are sent unless they all went out."""
        if self._fan_out is not None:
            await self._fan_out.send(job_id)
        return JobOutcome(job_id, JobOutcomeStatus.SPLIT, preset=request.preset_name)

    async def _duplicate(self, job_id: str, request: JobRequest, claim: Claim) -> JobOutcome:
        if claim.status == JobStatus.SPLIT:  # a redelivered parent (core.jobs.chunk_fanout)
            return await self._split_again(job_id, request)
        log.info("job.duplicate", status=claim.status, announced=claim.announced)
        if not claim.announced:  # recorded, then the announcement failed: finish it
            await self.reannounce(job_id, request)
        await self._ended(request, job_id, claim.status)
        return JobOutcome(job_id, JobOutcomeStatus.DUPLICATE)

    async def _run_claimed(
        self,
        job_id: str,
        request: JobRequest,
        preset: OutputPreset,
        attempt: int,
        receive_count: int,
        segments: SegmentLedger | None = None,
    ) -> JobOutcome:
        log.info("job.started", attempt=attempt, preset=request.preset_name)
        stop = self._cancels.running.enter(job_id)  # set by a cancel (core.jobs.cancel)
        work = asyncio.create_task(self._attempt(job_id, request, preset, attempt, segments))
        lease = asyncio.create_task(self._lease.keep(job_id, attempt))  # ends only if lost
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, lease, stopped}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # we are being cancelled: the attempt must not run on alone
            work.cancel()
            await self._lease.release(job_id, attempt, work)
            raise
        finally:
            lease.cancel()
            stopped.cancel()
            self._cancels.running.leave(job_id, stop)
        if not work.done():  # taken over or cancelled: stop our ffmpeg
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if stop.is_set():
                return await self._cancelled(job_id, request, attempt)
            return self._superseded(job_id)
        try:
            result = work.result()
        except JobSplit:  # its chunks go on as jobs of their own (core.jobs.chunk_fanout)
            return JobOutcome(job_id, JobOutcomeStatus.SPLIT, preset=request.preset_name)
        except Exception as exc:  # every failure becomes a coded error; none escapes unrecorded
            if stop.is_set():  # a cancel stopped it (the ledger's write refused): CANCELLED
                return await self._cancelled(job_id, request, attempt)
            error = as_ffapi_error(exc)
            return await self._fail(job_id, request, error, receive_count, attempt)
        # Record, announce, then mark announced: a crash in between leaves a record that the
        # next delivery of this job finds unannounced, and it announces (same event id).
        if not await self._jobs.complete(job_id, result):
            return self._superseded(job_id)
        await self._announcer.announce(
            job_event(EventType.COMPLETED, job_id, self._now(), result.event_data(), attempt),
            request.webhooks,
        )
        await self._ended(request, job_id, JobStatus.COMPLETED)
        await self._jobs.mark_announced(job_id)
        log.info("job.completed", timings=result.timings)
        return JobOutcome(
            job_id, JobOutcomeStatus.COMPLETED, preset=request.preset_name, result=result
        )

    async def _attempt(
        self, job_id: str, request: JobRequest, preset: OutputPreset, attempt: int,
        segments: SegmentLedger | None = None,
    ) -> JobResult:  # fmt: skip
        started, at = request_data(request, attempt), self._now()  # the claim's moment
        if attempt == 1:  # the job is accepted: announced once, before its first attempt
            received = job_event(EventType.RECEIVED, job_id, at, started, attempt)
            await self._announcer.announce(received, request.webhooks)
        await self._announcer.announce(
            job_event(EventType.STARTED, job_id, at, started, attempt), request.webhooks
        )
        context = {"preset": request.preset_name, "correlation_id": request.correlation_id}

        async def announce(event: CloudEvent) -> None:
            await self._announcer.announce(event, request.webhooks)

        report = ProgressReporter(
            job_id, attempt, context, self._jobs, announce, self._now,
            on_cancel=lambda: self._cancels.running.stop(job_id),
        )  # fmt: skip
        stop = lambda: self._cancels.running.stop(job_id)  # noqa: E731
        ledger = attempt_ledger(self._jobs, job_id, attempt, segments, stop,  # resume_run.py
                                self._settings.ledger_seconds)  # fmt: skip
        try:
            self._pipeline.admit(request, preset)
            async with self._workspace.job_dir(job_id, request.job_bytes()) as jobdir:
                result = await self._pipeline.run(
                    job_id, request, preset, jobdir, attempt, report, ledger=ledger
                )
        except BaseException:
            report.cancel()  # a failed job's progress is moot; it must not outlive the attempt
            raise
        await report.flush()  # every progress event goes out before the completion event
        return result

    async def _cancelled(self, job_id: str, request: JobRequest, attempt: int) -> JobOutcome:
        if not await self._cancels.stopped(job_id, request, attempt):
            return self._superseded(job_id)
        await self._ended(request, job_id, JobStatus.CANCELLED)
        return JobOutcome(job_id, JobOutcomeStatus.CANCELLED, preset=request.preset_name)

    def _superseded(self, job_id: str) -> JobOutcome:
        log.warning("lease.lost", reason="another worker took the job over; its result stands")
        lease = float(self._settings.lease_seconds)
        return JobOutcome(job_id, JobOutcomeStatus.SUPERSEDED, retry_after=lease)

    async def _fail(
        self,
        job_id: str,
        request: JobRequest,
        error: FfapiError,
        receive_count: int,
        attempt: int | None = None,
    ) -> JobOutcome:
        # A transient failure on the queue's last delivery is announced too: the message then
        # moves to the DLQ, and subscribers learn the job did not finish.
        final = not error.retryable or receive_count >= self._settings.max_receive_count
        log.warning("job.failed", code=error.code, retryable=error.retryable, final=final,
                    reason=error.message)  # fmt: skip
        if final and error.retryable:  # out of deliveries: said once, with the last cause
            error = AttemptsExhausted.after(error, attempt or receive_count)
        if not await self._jobs.fail(job_id, RecordedError.of(error), final=final, attempt=attempt):
            if attempt is not None:
                return self._superseded(job_id)
            log.info("job.duplicate", reason="finished or running elsewhere; not failing it")
            return JobOutcome(job_id, JobOutcomeStatus.DUPLICATE)
        if final:
            await self._verdicts.failure(job_id, request, RecordedError.of(error), attempt or 1)
            await self._ended(request, job_id, JobStatus.FAILED)
            await self._jobs.mark_announced(job_id)
        status = JobOutcomeStatus.RETRYING if error.retryable else JobOutcomeStatus.FAILED
        return JobOutcome(job_id, status, error, preset=request.preset_name)

    async def reannounce(self, job_id: str, request: JobRequest) -> bool:
        """Announce a finished job's outcome from its record, then mark it announced (also
        the dead-letter sweep's, core.jobs.dlq_sweep); False when it is not finished."""
        announced = await self._verdicts.reannounce(job_id, request)
        if announced:  # the sweep's dead letter of a batch job ends it in its batch too
            await self._ended(request, job_id, None)
        return announced

    async def _ended(self, request: JobRequest, job_id: str, status: str | None) -> None:
        """A job's ending passed on: a chunk's to its parent, any job's to its batch."""
        await self._chunks.ended(request, job_id, status)
        await self._batches.job_ended(request, job_id, status)

    async def cancel(self, cancel: CancelRequest) -> CancelAnswer:
        """Cancel a job from outside the queue (``ffapi cancel``), as a cancel message would;
        a split job's chunks with it (core.jobs.chunks)."""
        answer = await self._cancels.handle(cancel)
        await self._chunks.cancelled(cancel.job_id, answer, self._cancels.running.stop)
        return answer

    async def replay(self, job_id: str) -> CloudEvent | None:
        """Send a finished job's final event again under its original id; None: no such
        finished job."""
        return await self._verdicts.replay(job_id)
