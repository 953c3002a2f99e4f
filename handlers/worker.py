"""The container worker: the core's consumer loop over SQS, with the service's metrics.

:class:`core.jobs.consumer.Consumer` runs on the SQS queue with the service's settings; what it
reports is observed here as Prometheus metrics (core never imports prometheus). Beside it,
the dead-letter sweep (:mod:`core.jobs.dlq_sweep`) runs every ``FFAPI_DLQ_SWEEP_SECONDS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import structlog

from core.jobs.consumer import Consumer
from core.jobs.outcome import JobOutcomeStatus, Outcome
from core.jobs.results import JobResult
from core.ports import Delivery
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

log = structlog.get_logger("ffapi.worker")


class Worker:
    """The consumer loop (``core.jobs.consumer``) on the runtime's queue and dispatcher, its
    settings and Prometheus metrics."""

    def __init__(
        self,
        runtime: Runtime,
        concurrency: int | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        reload: asyncio.Event | None = None,
    ) -> None:
        assert runtime.queue is not None, "the worker needs the jobs queue"
        policy = runtime.settings.consumer_policy(concurrency)
        self._url = runtime.queue.url
        self._sweep, self._sweep_every = runtime.sweep, runtime.settings.dlq_sweep_seconds
        self._config = runtime.config  # checked on a timer, and when ``reload`` is set (SIGHUP)
        self._reload = reload or asyncio.Event()
        self._consumer = Consumer(
            runtime.lanes or runtime.queue,
            runtime.dispatcher.handle,
            policy,
            observer=Metrics(on_outcome),
        )

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker.queue", queue=self._url)
        beside = []
        if self._sweep is not None:
            beside.append(asyncio.create_task(self._sweep.run(stop, self._sweep_every)))
        if self._config is not None:
            beside.append(asyncio.create_task(self._config.run(stop, self._reload)))
        try:
            await self._consumer.run(stop)
        finally:  # a sweep under way is cut short: its letters are visible again in 30 s
            for task in beside:
                task.cancel()
            await asyncio.gather(*beside, return_exceptions=True)


class Metrics:
    """The loop's reports as Prometheus metrics; ``on_outcome``: e.g. ``ffapi local``
    printing each job's outcome."""

    def __init__(self, on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self._on_outcome = on_outcome

    def received(self, deliveries: Sequence[Delivery]) -> None:
        observe_queue_lag(deliveries)

    def started(self, delivery: Delivery) -> None:
        JOBS_IN_FLIGHT.inc()

    def handled(self, delivery: Delivery, outcome: Outcome, seconds: float) -> None:
        record_outcome(outcome, seconds)
        MESSAGES.labels(outcome.disposition.value).inc()
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    def finished(self, delivery: Delivery, seconds: float) -> None:
        JOBS_IN_FLIGHT.dec()
        MESSAGE_SECONDS.observe(seconds)


# --- metrics of what the worker did (core stays free of prometheus) ---------------------------

# Outcomes in which the job did no work here: counted, not timed (a scheduled job requeued, a
# dependent recorded waiting).
_IDLE = frozenset(
    {
        JobOutcomeStatus.DUPLICATE, JobOutcomeStatus.BUSY, JobOutcomeStatus.SCHEDULED,
        JobOutcomeStatus.WAITING,
    }
)  # fmt: skip


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
