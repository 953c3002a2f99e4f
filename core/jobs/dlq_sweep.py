"""The dead-letter sweep: a job whose message was dead-lettered unannounced is failed, once.

A worker killed on every delivery (kill -9, the OOM killer) never reaches the dispatcher's
last-delivery failure (:mod:`core.jobs.dispatch`): SQS moves the message to the DLQ and nobody
says ``job.failed``. So each container worker sweeps the DLQ every
``FFAPI_DLQ_SWEEP_SECONDS``. A letter's jobs are identified as the dispatcher identifies them
(:mod:`core.jobs.intake`, :mod:`core.jobs.identity`, :func:`core.jobs.results.derive_job_id`); the
job store's conditional ``give_up`` makes a job FAILED (``max_attempts``, cause ``worker_lost``)
only when no live delivery can still finish it: no record, RETRYING, or RUNNING with a lapsed
lease, last carried by this very letter. The one sweeper whose write applies announces, then
marks the record announced; an outcome recorded and never announced (its announcer died) is
announced from the record, under the same event id, as a redelivery would.

Letters stay in the DLQ: ``ffapi dlq redrive`` sends them back, and the claim takes a
retryably FAILED job again. A letter that is no job (a refused body), or whose input can no
longer be pinned (deleted or replaced since), is left alone and said in the log: its job id
cannot be derived as the dispatcher derived it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from core.errors import AttemptsExhausted, FfapiError, WorkerLost
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.identity import named_request, pin_request
from core.jobs.intake import normalize
from core.jobs.job_record import RecordedError
from core.jobs.results import derive_job_id
from core.models import JobRequest
from core.ports import DeadLetterQueue, JobStore, ObjectStore, QueueMessage

log = structlog.get_logger("ffapi.dlq_sweep")

# Announce a finished job's outcome from its record and mark it announced; False when the
# record is not finished (Dispatcher.reannounce).
Reannounce = Callable[[str, JobRequest], Awaitable[bool]]

LETTERS_PER_PASS = 100  # a pass holds what it read for 30 s (infra.dead_letters): keep it short


@dataclass(slots=True)
class SweepReport:
    letters: int = 0
    failed: list[str] = field(default_factory=list)  # given up, and announced, by this pass
    announced: list[str] = field(default_factory=list)  # recorded earlier, announced now
    skipped: int = 0  # no job, or one whose identity cannot be pinned now


class DeadLetterSweep:
    def __init__(
        self,
        settings: DispatchSettings,
        objects: ObjectStore,
        jobs: JobStore,
        letters: DeadLetterQueue,
        reannounce: Reannounce,
        *,
        limit: int = LETTERS_PER_PASS,
    ) -> None:
        self._settings = settings
        self._objects = objects
        self._jobs = jobs
        self._letters = letters
        self._reannounce = reannounce
        self._limit = limit

    async def run(self, stop: asyncio.Event, every: float) -> None:
        """A pass now and every ``every`` seconds until ``stop``; a failed pass is logged
        (the next one tries again), never raised: the sweep must not stop the worker."""
        while not stop.is_set():
            try:
                await self.sweep()
            except FfapiError as exc:
                log.warning("dlq.sweep_failed", code=exc.code, reason=exc.message)
            except Exception:  # a bug here must not take the worker's jobs down with it
                log.exception("dlq.sweep_failed", code="internal_error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def sweep(self) -> SweepReport:
        report = SweepReport()

        async def visit(letter: QueueMessage) -> None:
            report.letters += 1
            with structlog.contextvars.bound_contextvars(message_id=letter.message_id):
                await self._letter(letter, report)

        await self._letters.visit(self._limit, visit)
        if report.failed or report.announced:
            log.info(
                "dlq.swept",
                letters=report.letters,
                failed=len(report.failed),
                announced=len(report.announced),
                skipped=report.skipped,
            )
        return report

    async def _letter(self, letter: QueueMessage, report: SweepReport) -> None:
        try:
            requests = normalize(letter.body, self._settings.in_force().intake).requests
        except FfapiError as exc:  # the dispatcher announced it (m- id) and deleted it
            log.info("dlq.letter_skipped", code=exc.code)
            report.skipped += 1
            return
        for request in requests:
            try:
                job_id, pinned = await self._identify(request, letter)
            except FfapiError as exc:  # a retryable one (S3 down) is tried on the next pass
                log.info("dlq.letter_skipped", code=exc.code, retryable=exc.retryable)
                report.skipped += 1
                continue
            with structlog.contextvars.bound_contextvars(job_id=job_id):
                await self._settle(job_id, pinned, letter.message_id, report)

    async def _identify(self, request: JobRequest, letter: QueueMessage) -> tuple[str, JobRequest]:
        """The job id and request exactly as the dispatcher made them for this message."""
        catalog = self._settings.in_force().catalog
        correlation_id = request.correlation_id or letter.message_id
        request = request.model_copy(update={"correlation_id": correlation_id})
        request, preset = named_request(catalog, request)
        request, preset = await pin_request(self._objects, catalog, request, preset)
        return derive_job_id(request, preset), request

    async def _settle(
        self, job_id: str, request: JobRequest, carrier: str, report: SweepReport
    ) -> None:
        record = await self._jobs.get(job_id)
        if record is not None and record.finished:
            if not record.announced and await self._reannounce(job_id, request):
                report.announced.append(job_id)
            return
        cause = WorkerLost(
            "no attempt recorded an outcome: each worker that took the job stopped before it could"
        )
        error = AttemptsExhausted.after(cause, record.attempts if record else 0)
        if not await self._jobs.give_up(job_id, request, RecordedError.of(error), carrier):
            log.info("dlq.job_held", reason="leased, or carried by another message")
            return
        log.warning(
            "job.failed",
            code=error.code,
            cause=cause.code,
            final=True,
            reason=error.message,
            via="dlq_sweep",
        )
        if await self._reannounce(job_id, request):
            report.failed.append(job_id)
