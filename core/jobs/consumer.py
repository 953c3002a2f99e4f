"""The consumer loop: take messages from the jobs queue, handle up to N at once, keep each
hidden while its job shows life, and settle it only after its outcome is recorded.

The policy, over the ``Queue`` port:

- **Receive.** A long poll for as many messages as there are free slots. A failed receive
  (botocore already retried it) waits 1-5 s, jittered, before the next: a fleet that lost
  the queue together does not come back together.
- **Heartbeat.** A running job's message is kept hidden every third of the visibility
  timeout, the first beat at once (the queue's own timeout may be shorter than ours). A job
  quiet for the stall time (no ffmpeg progress, no transfer: ``core.jobs.pulse``) is no longer
  kept: its message reappears for a worker that is alive. A failed beat is tried again
  within a second (``core.jobs.keepalive``).
- **Settle.** ACK deletes the message; RETRY hands it back after the lease holder's hint
  (another worker holds the job) or an exponential backoff with full jitter, capped at 15
  minutes. A handler that raises is a RETRY: the job store or SNS was out.
- **Stop.** A long poll in flight is let finish (SQS may have taken messages for it, which
  would stay hidden a whole visibility timeout); what it brings after the stop is released
  at once, and so is what the priority queues' polls still in flight bring
  (``core.jobs.lane_polls``). Running jobs get the drain budget, counted from the stop;
  those still running then are cancelled (the dispatcher hands the job back) and their
  messages released.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import structlog

from core.errors import FfapiError
from core.jobs import pulse
from core.jobs.keepalive import Sleep, keep_alive
from core.jobs.outcome import Disposition, Outcome
from core.ports import Delivery, Queue, QueueMessage

log = structlog.get_logger("ffapi.worker")

Handler = Callable[[QueueMessage], Awaitable[Outcome]]
Jitter = Callable[[float, float], float]  # a uniform draw in [a, b]
MAX_RETRY_DELAY = 900  # seconds: SQS's own ceiling for a delay is 15 minutes too


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    concurrency: int
    visibility: int  # seconds a beat keeps a message hidden
    wait: int  # long-poll seconds
    backoff_base: float  # seconds, doubled per delivery for a retry
    drain: float  # seconds running jobs get after a stop
    stall: float  # seconds of silence after which a job's message is let go


@runtime_checkable
class PollsInFlight(Protocol):
    """A queue that may still have receives in flight after one returned (the priority
    queues' race): they are let answer at the stop, and their messages handed back."""

    async def settle(self) -> None: ...


class ConsumerObserver(Protocol):
    """What the loop reports as it goes (metrics, a CLI printing outcomes)."""

    def received(self, deliveries: Sequence[Delivery]) -> None: ...

    def started(self, delivery: Delivery) -> None: ...

    def handled(self, delivery: Delivery, outcome: Outcome, seconds: float) -> None: ...

    def finished(self, delivery: Delivery, seconds: float) -> None:
        """Settled or handed back: the message is no longer this worker's."""
        ...


class Unobserved:
    def received(self, deliveries: Sequence[Delivery]) -> None:
        pass

    def started(self, delivery: Delivery) -> None:
        pass

    def handled(self, delivery: Delivery, outcome: Outcome, seconds: float) -> None:
        pass

    def finished(self, delivery: Delivery, seconds: float) -> None:
        pass


def retry_delay(outcome: Outcome, receive_count: int, base: float, jitter: Jitter) -> int:
    """How long a returned message stays hidden before the queue delivers it again."""
    if outcome.retry_after is not None:  # another worker holds the lease: come back after it
        return int(outcome.retry_after) + 1
    return round(jitter(0, min(MAX_RETRY_DELAY, base * 2 ** min(receive_count, 10))))


class Consumer:
    def __init__(
        self, queue: Queue, handle: Handler, policy: ConsumerPolicy, *,
        observer: ConsumerObserver | None = None, sleep: Sleep = asyncio.sleep,
        jitter: Jitter = random.uniform,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._queue, self._handle, self._policy = queue, handle, policy
        self._observer = observer or Unobserved()
        self._sleep, self._jitter, self._clock = sleep, jitter, clock
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set, then let the running jobs finish within the drain
        budget; those still running then are stopped and handed back."""
        log.info("worker.started", concurrency=self._policy.concurrency)
        budget = asyncio.create_task(self._drain_budget(stop))
        try:
            await self._poll(stop)
        finally:
            budget.cancel()

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self._policy.concurrency - len(self._tasks)
            if free <= 0:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            for delivery in await self._receive(free, stop):
                task = asyncio.create_task(self._process(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if isinstance(self._queue, PollsInFlight):
            await self._queue.settle()
        if self._tasks:
            log.info("worker.draining", running=len(self._tasks))
            await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("worker.stopped")

    async def _drain_budget(self, stop: asyncio.Event) -> None:
        """Counted from the stop (a long poll in flight may take part of it): ECS kills the
        task ``stopTimeout`` seconds after SIGTERM, so jobs still running by then are
        stopped by us, cleanly, rather than by SIGKILL."""
        await stop.wait()
        await self._sleep(self._policy.drain)
        if self._tasks:
            log.warning("worker.drain_expired", interrupted=len(self._tasks))
        for task in self._tasks:
            task.cancel()

    async def _receive(self, free: int, stop: asyncio.Event) -> list[Delivery]:
        poll = asyncio.create_task(self._queue.receive(free, self._policy.wait))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        try:
            deliveries = await poll  # let finish, never cancelled (see the module)
        except FfapiError as exc:
            log.warning("queue.receive_failed", code=exc.code, reason=exc.message)
            if not stop.is_set():
                await self._sleep(self._jitter(1, 5))
            return []
        if stop.is_set():
            for delivery in deliveries:  # stopping: straight to another worker
                await self._release(delivery)
            return []
        self._observer.received(deliveries)
        return deliveries

    async def _process(self, delivery: Delivery) -> None:
        message = delivery.message
        log.info("message.received", message_id=message.message_id,
                 receive_count=message.receive_count)  # fmt: skip
        started = self._clock()
        self._observer.started(delivery)
        try:
            try:
                outcome = await self._dispatch(delivery)
            except asyncio.CancelledError:  # stopping: the job was handed back; the message too
                await asyncio.shield(self._release(delivery))
                raise
            self._observer.handled(delivery, outcome, self._clock() - started)
            try:
                await self._settle(delivery, outcome)
            except FfapiError as exc:  # the message reappears after its visibility timeout
                log.warning("message.settle_failed", code=exc.code, reason=exc.message)
        finally:
            self._observer.finished(delivery, self._clock() - started)

    async def _dispatch(self, delivery: Delivery) -> Outcome:
        with pulse.bound(pulse.Pulse(self._clock)) as job:  # beaten by ffmpeg, S3 transfers
            heartbeat = asyncio.create_task(self._heartbeat(delivery, job))
            try:
                return await self._handle(delivery.message)
            except Exception:  # the job store or SNS is out: try the message again
                log.exception("message.unhandled", message_id=delivery.message.message_id)
                return Outcome(Disposition.RETRY)
            finally:
                heartbeat.cancel()

    async def _release(self, delivery: Delivery) -> None:
        """Visible again at once: another worker takes the job now, not after our
        visibility timeout."""
        try:
            await self._queue.release(delivery)
            log.info("message.released", message_id=delivery.message.message_id)
        except FfapiError as exc:  # it reappears after its visibility timeout anyway
            log.warning("queue.release_failed", code=exc.code, reason=exc.message)

    async def _settle(self, delivery: Delivery, outcome: Outcome) -> None:
        message_id = delivery.message.message_id
        if outcome.disposition is Disposition.ACK:
            await self._queue.delete(delivery)
            log.info("message.deleted", message_id=message_id)
            return
        if outcome.disposition is Disposition.DEFER:  # core.jobs.schedule: due later
            await self._queue.requeue(delivery, int(outcome.retry_after or 0))
            log.info("message.requeued", message_id=message_id, delay=outcome.retry_after)
            return
        delay = retry_delay(
            outcome, delivery.message.receive_count, self._policy.backoff_base, self._jitter
        )
        await self._queue.release(delivery, delay)
        log.info("message.returned", message_id=message_id, visible_in=delay)

    async def _heartbeat(self, delivery: Delivery, job: pulse.Pulse) -> None:
        visibility, stall = self._policy.visibility, self._policy.stall

        async def beat() -> bool:
            if job.quiet_for() > stall:
                log.warning("heartbeat.withheld", quiet_for=round(job.quiet_for(), 1))
            else:
                await self._queue.extend(delivery, visibility)
            return True

        await keep_alive(beat, max(1.0, visibility / 3), "heartbeat.failed", first=0,
                         sleep=self._sleep)  # fmt: skip
