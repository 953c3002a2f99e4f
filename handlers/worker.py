"""The container worker: long-poll SQS, run up to N jobs at once, keep their messages invisible
while they run, and delete a message only after its outcome is recorded and announced."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import structlog

from core import pulse
from core.dispatch import Disposition, JobOutcomeStatus, Outcome
from core.errors import FfapiError
from core.jobs import JobResult
from core.keepalive import keep_alive
from handlers.runtime import Runtime
from infra.metrics import (
    DOWNLOADED_BYTES,
    ENCODE_SPEED,
    JOB_ERRORS,
    JOB_SECONDS,
    JOBS,
    JOBS_IN_FLIGHT,
    MESSAGE_SECONDS,
    MESSAGES,
    PHASE_SECONDS,
    QUEUE_LAG,
    UPLOADED_BYTES,
)
from infra.queue import Delivery

log = structlog.get_logger("ffapi.worker")


def retry_delay(outcome: Outcome, receive_count: int, base: float) -> int:
    """How long the message stays invisible before the queue delivers it again."""
    if outcome.retry_after is not None:  # another worker holds the lease: come back after it
        return int(outcome.retry_after) + 1
    # Exponential backoff with full jitter, capped at 15 minutes.
    return round(random.uniform(0, min(900, base * 2 ** min(receive_count, 10))))  # noqa: S311


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        concurrency: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        assert runtime.queue is not None, "the worker needs the jobs queue"
        self._rt = runtime
        self._queue = runtime.queue
        settings = runtime.settings
        self._concurrency = concurrency or settings.worker_concurrency
        self._visibility = settings.visibility_timeout
        self._wait = settings.wait_time_seconds
        self._backoff = settings.retry_backoff_base
        self._drain = settings.drain_seconds
        self._stall = settings.stall_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_outcome = on_outcome  # e.g. `ffapi local` printing each job's outcome

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set, then let the running jobs finish within the drain
        budget; those still running then are stopped and handed back (``_drain_budget``)."""
        log.info("worker.started", queue=self._queue.url, concurrency=self._concurrency)
        budget = asyncio.create_task(self._drain_budget(stop))
        try:
            await self._poll(stop)
        finally:
            budget.cancel()

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self._concurrency - len(self._tasks)
            if free <= 0:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            for delivery in await self._receive(free, stop):
                task = asyncio.create_task(self._process(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if self._tasks:
            log.info("worker.draining", running=len(self._tasks))
            await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("worker.stopped")

    async def _drain_budget(self, stop: asyncio.Event) -> None:
        """Counted from the signal (a long poll in flight may take part of it): ECS kills
        the task ``stopTimeout`` seconds after SIGTERM, so jobs still running by then are
        stopped by us, cleanly, rather than by SIGKILL."""
        await stop.wait()
        await asyncio.sleep(self._drain)
        if self._tasks:
            log.warning("worker.drain_expired", interrupted=len(self._tasks))
        for task in self._tasks:
            task.cancel()

    async def _receive(self, free: int, stop: asyncio.Event) -> list[Delivery]:
        poll = asyncio.create_task(self._queue.receive(free, self._wait))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # A long poll in flight is let finish, never cancelled: SQS may already have taken
        # messages for it, which would then stay hidden for a whole visibility timeout.
        try:
            deliveries = await poll
        except FfapiError as exc:
            log.warning("queue.receive_failed", code=exc.code, reason=exc.message)
            if not stop.is_set():
                await asyncio.sleep(random.uniform(1, 5))  # noqa: S311 - botocore retried
            return []
        if stop.is_set():
            for delivery in deliveries:  # stopping: hand them straight to another worker
                try:
                    await self._queue.set_visibility(delivery, 0)
                except FfapiError as exc:  # it reappears after its visibility timeout anyway
                    log.warning("queue.release_failed", code=exc.code, reason=exc.message)
            return []
        observe_queue_lag(deliveries)
        return deliveries

    async def _process(self, delivery: Delivery) -> None:
        message = delivery.message
        log.info("message.received", message_id=message.message_id,
                 receive_count=message.receive_count)  # fmt: skip
        with JOBS_IN_FLIGHT.track_inprogress():
            started = time.monotonic()
            try:
                outcome = await self._dispatch(delivery)
            except asyncio.CancelledError:  # stopping: the job was handed back; the message too
                await asyncio.shield(self._release(delivery))
                raise
            record_outcome(outcome, time.monotonic() - started)
            if self._on_outcome is not None:
                self._on_outcome(outcome)
            try:
                await self._settle(delivery, outcome)
            except FfapiError as exc:  # the message reappears after its visibility timeout
                log.warning("message.settle_failed", code=exc.code, reason=exc.message)
            MESSAGE_SECONDS.observe(time.monotonic() - started)

    async def _dispatch(self, delivery: Delivery) -> Outcome:
        with pulse.bound(pulse.Pulse()) as job:  # beaten by running ffmpeg and S3 transfers
            heartbeat = asyncio.create_task(self._heartbeat(delivery, job))
            try:
                return await self._rt.dispatcher.handle(delivery.message)
            except Exception as exc:  # the job store or SNS is out: try the message again
                log.exception("message.unhandled", message_id=delivery.message.message_id)
                JOB_ERRORS.labels(getattr(exc, "code", "internal_error")).inc()
                return Outcome(Disposition.RETRY)
            finally:
                heartbeat.cancel()

    async def _release(self, delivery: Delivery) -> None:
        """Visible again at once: another worker takes the job now, not after our
        visibility timeout."""
        try:
            await self._queue.set_visibility(delivery, 0)
            log.info("message.released", message_id=delivery.message.message_id)
        except FfapiError as exc:  # it reappears after its visibility timeout anyway
            log.warning("queue.release_failed", code=exc.code, reason=exc.message)

    async def _settle(self, delivery: Delivery, outcome: Outcome) -> None:
        MESSAGES.labels(outcome.disposition.value).inc()
        message_id = delivery.message.message_id
        if outcome.disposition is Disposition.ACK:
            await self._queue.delete(delivery)
            log.info("message.deleted", message_id=message_id)
        else:
            delay = retry_delay(outcome, delivery.message.receive_count, self._backoff)
            await self._queue.set_visibility(delivery, delay)
            log.info("message.returned", message_id=message_id, visible_in=delay)

    async def _heartbeat(self, delivery: Delivery, job: pulse.Pulse) -> None:
        """Keep a running job's message invisible, so no other worker receives it meanwhile,
        as long as the job shows life: one quiet for the stall time is let go (its lease
        too, core/dispatch.py) for a worker that is alive to take over. A failed beat is
        tried again within a second (core/keepalive.py says why).

        The first beat is immediate: the queue's own visibility timeout may be shorter than
        ours (a queue made elsewhere, passed by URL)."""

        async def beat() -> bool:
            if job.quiet_for() > self._stall:
                log.warning("heartbeat.withheld", quiet_for=round(job.quiet_for(), 1))
            else:
                await self._queue.set_visibility(delivery, self._visibility)
            return True

        await keep_alive(beat, max(1.0, self._visibility / 3), "heartbeat.failed", first=0)


# --- metrics of what the worker did (core stays free of prometheus) ---------------------------

# Outcomes in which the job did no work here: counted, not timed.
_IDLE = frozenset({JobOutcomeStatus.DUPLICATE, JobOutcomeStatus.BUSY})


def observe_queue_lag(deliveries: Iterable[Delivery]) -> None:
    now = datetime.now(UTC)
    for delivery in deliveries:
        if delivery.sent_at is not None:  # clocks differ a little: never a negative lag
            QUEUE_LAG.observe(max(0.0, (now - delivery.sent_at).total_seconds()))


def record_outcome(outcome: Outcome, handled_seconds: float) -> None:
    """Count each job by status and preset; time the ones that did work. A failure's time is
    the message's handling time (its result, with the pipeline's own clock, exists only on
    success)."""
    for job in outcome.jobs:
        preset = job.preset or "none"  # refused before a preset was resolved
        JOBS.labels(job.status, preset).inc()
        if job.error is not None and job.status is not JobOutcomeStatus.BUSY:
            JOB_ERRORS.labels(job.error.code).inc()
        if job.result is not None:
            record_result(job.result, preset)
        elif job.status not in _IDLE:
            JOB_SECONDS.labels(preset, job.status).observe(handled_seconds)


def record_result(result: JobResult, preset: str) -> None:
    seconds = (result.completed_at - result.started_at).total_seconds()
    JOB_SECONDS.labels(preset, JobOutcomeStatus.COMPLETED).observe(seconds)
    for phase, phase_seconds in result.timings.items():
        PHASE_SECONDS.labels(phase).observe(phase_seconds)
    encode = result.timings.get("encode")
    if encode and result.source.duration > 0:
        ENCODE_SPEED.labels(result.accel_tier).observe(result.source.duration / encode)
    DOWNLOADED_BYTES.inc(result.input.size or 0)
    # The files the job lists: job.json (written after the result) and media playlists are
    # not in it; rendition sizes are their init and media segments.
    uploaded = sum(o.size for o in result.outputs) + sum(r.size for r in result.renditions)
    UPLOADED_BYTES.inc(uploaded)
