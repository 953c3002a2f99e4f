"""Webhook delivery: each event POSTed to the job's own endpoints and the deployment's.

Every delivery runs in the background (``send`` returns at once): a slow or failing endpoint
never fails a job nor holds up the queue. One lane per (job, endpoint) sends that job's events
to that endpoint one at a time, in the order they were announced; lanes run side by side.

An attempt is signed afresh (Standard Webhooks headers, a new timestamp), is not redirected and
has ``timeout`` seconds. Connection errors, timeouts, 408, 425, 429 and 5xx are retried with
fully jittered exponential backoff (at least as long as a ``Retry-After``) until the event's
deadline, counted from when it was handed over; a failing event that is not final (received,
started, progress) is retried only until a later event of its job waits behind it, which
says more (the final event implies them all). Other answers are final. 410 Gone ends
delivery of that job's events to that endpoint. Each lifecycle event's outcome is appended
to the job's record (progress events only to the metrics: they would bloat the item).
A job's own endpoints and the deployment's go through separate transports (sessions, pools),
each with its destination policy: only the deployment's may reach private addresses.
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import structlog
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_base, wait_random_exponential

from core.events.cloudevent import CloudEvent, EventType
from core.events.destinations import webhook_url_problem
from core.events.webhooks import WebhookTarget, signature_headers, without_query
from core.jobs.job_record import WebhookDelivery
from core.ports import JobStore
from infra.metrics import WEBHOOK_DELIVERIES
from infra.pinned_resolver import Lookup, getaddrinfo
from infra.setting_groups import EventSettings
from infra.webhook_config import WebhookConfig
from infra.webhook_transport import (
    ForbiddenDestination,
    Transport,
    WebhookUnreachable,
    open_transport,
    retry_after,
)

log = structlog.get_logger("ffapi.webhooks")

USER_AGENT = "ffapi-webhooks/1"
CONTENT_TYPE = "application/cloudevents+json"
_RETRIED_STATUSES = frozenset({408, 425, 429})
_FINAL = frozenset({EventType.COMPLETED, EventType.FAILED})
_REMEMBERED = 10_000  # (job, endpoint) pairs kept in memory for 410 and record look-ups

Lane = tuple[str, str]  # (job id, endpoint url)


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # a final answer other than 2xx/410, or nothing to sign with
    GONE = "gone"  # 410: the endpoint wants no more of this job's events
    EXPIRED = "expired"  # still failing (or asked to wait) past the deadline
    SUPERSEDED = "superseded"  # a failing non-final event, given up for a later one
    ABANDONED = "abandoned"  # still in flight when the process stopped
    FORBIDDEN = "forbidden"  # the destination policy refuses the URL or its addresses


# The reason of a FORBIDDEN outcome starts with this; the policy's words follow.
FORBIDDEN_DESTINATION = "forbidden_destination"


@dataclass(slots=True)
class _Delivery:
    event: CloudEvent
    url: str
    secrets: tuple[SecretStr, ...]
    body: str
    deadline: float  # on the monotonic clock
    configured: bool  # one of the deployment's endpoints, not one the job named
    attempts: int = 0
    status: int | None = None  # of the last attempt
    reason: str | None = None
    outcome: DeliveryOutcome | None = None  # once final

    @property
    def endpoint(self) -> str:
        return without_query(self.url)

    def facts(self) -> dict[str, object]:
        """What logs and the job record say of it: never the query, secret or signature."""
        return {
            "job_id": self.event.subject,
            # The lane runs outside the job's log context: the job's correlation id is named.
            "correlation_id": self.event.data.get("correlation_id"),
            "event_id": self.event.id,
            "event_type": self.event.type.value, "endpoint": self.endpoint,
            "status": self.status, "attempts": self.attempts, "reason": self.reason,
        }  # fmt: skip


class _TryAgain(Exception):
    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _remember(lanes: dict[Lane, None], lane: Lane) -> None:
    """Add to a bounded set (a dict keeps insertion order: the oldest go first)."""
    lanes[lane] = None
    if len(lanes) > _REMEMBERED:
        del lanes[next(iter(lanes))]


class WebhookDispatcher:
    """The WebhookSender port. ``transport`` carries a job's own webhooks,
    ``endpoint_transport`` the deployment's endpoints (None: ``transport`` too, which then
    holds them to the job's policy). ``clock`` (monotonic) times deadlines, ``wall`` stamps
    attempts; both, ``sleep`` and ``backoff`` are seams for tests."""

    def __init__(
        self, config: WebhookConfig, transport: Transport, jobs: JobStore, *,
        endpoint_transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff: wait_base | None = None,
    ) -> None:  # fmt: skip
        self._config = config
        self._transports = {False: transport, True: endpoint_transport or transport}
        self._jobs = jobs
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._backoff = backoff or wait_random_exponential(
            multiplier=config.backoff_base, max=config.backoff_max
        )
        self._queues: dict[Lane, deque[_Delivery]] = {}
        self._tasks: dict[Lane, asyncio.Task[None]] = {}
        self._gone: dict[Lane, None] = {}
        self._consulted: dict[Lane, None] = {}  # lanes whose record was read for a 410
        self._closed = False

    def send(self, event: CloudEvent, targets: Sequence[WebhookTarget]) -> None:
        try:
            self._send(event, targets)
        except Exception as exc:  # a webhook problem is never the job's
            _log_error("webhook.not_queued", exc, job_id=event.subject, event_type=event.type)

    async def aclose(self, grace: float | None) -> None:
        """Let deliveries in flight finish for up to ``grace`` seconds (None: however long
        they take), then abandon the rest. Later ``send`` calls are abandoned at once."""
        self._closed = True
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def _send(self, event: CloudEvent, targets: Sequence[WebhookTarget]) -> None:
        now = self._clock()
        for target, secrets, configured in self._routes(targets):
            if not target.wants(event.type):
                continue
            delivery = _Delivery(
                event,
                target.url,
                secrets,
                event.to_json(),
                now + self._config.deadline,
                configured,
            )
            if self._closed:
                _abandon([delivery])
            else:
                self._enqueue((event.subject, target.url), delivery)

    def _routes(
        self, targets: Sequence[WebhookTarget]
    ) -> Iterator[tuple[WebhookTarget, tuple[SecretStr, ...], bool]]:
        for target in targets:
            yield target, self._config.secrets, False
        for endpoint in self._config.endpoints:
            yield endpoint, tuple(endpoint.secrets), True

    def _enqueue(self, lane: Lane, delivery: _Delivery) -> None:
        loop = asyncio.get_running_loop()  # outside a loop: raise before queueing anything
        self._queues.setdefault(lane, deque()).append(delivery)
        if lane not in self._tasks:
            # A fresh context: the lane outlives the message that opened it, whose ids the
            # caller's context carries; logs name the job and event explicitly instead.
            self._tasks[lane] = loop.create_task(self._drain(lane), context=contextvars.Context())

    async def _drain(self, lane: Lane) -> None:
        queue = self._queues[lane]
        try:
            while queue:
                await self._deliver(lane, queue[0])
                queue.popleft()
        except asyncio.CancelledError:
            _abandon([d for d in queue if d.outcome is None])  # not one being recorded
            raise
        finally:
            # No await between the empty check and here: a send cannot slip in unserved.
            del self._queues[lane], self._tasks[lane]

    async def _deliver(self, lane: Lane, delivery: _Delivery) -> None:
        try:
            outcome = await self._outcome(lane, delivery)
        except Exception as exc:  # a bug here must not stall the lane's later events
            _log_error("webhook.error", exc, job_id=lane[0], endpoint=delivery.endpoint)
            delivery.reason, outcome = "internal error", DeliveryOutcome.FAILED
        if outcome is DeliveryOutcome.GONE:
            _remember(self._gone, lane)
        await self._finish(delivery, outcome)

    async def _outcome(self, lane: Lane, delivery: _Delivery) -> DeliveryOutcome:
        if await self._is_gone(lane):
            delivery.reason = "the endpoint answered 410 Gone for this job"
            return DeliveryOutcome.GONE
        policy = self._config.policy(delivery.configured)
        if problem := webhook_url_problem(delivery.url, policy=policy):
            delivery.reason = f"{FORBIDDEN_DESTINATION}: {problem}"
            return DeliveryOutcome.FORBIDDEN
        if not delivery.secrets:
            delivery.reason = "no FFAPI_WEBHOOK_SECRETS to sign the job's own webhooks with"
            return DeliveryOutcome.FAILED
        retrying = AsyncRetrying(
            sleep=self._sleep, stop=self._stop(lane, delivery), wait=self._wait,
            retry=retry_if_exception_type(_TryAgain), before_sleep=_log_retry(delivery),
            reraise=True,
        )  # fmt: skip
        try:
            return await retrying(self._attempt, delivery)
        except _TryAgain as exc:
            delivery.reason = exc.reason
            return (
                DeliveryOutcome.SUPERSEDED
                if self._superseded(lane, delivery)
                else DeliveryOutcome.EXPIRED
            )

    async def _attempt(self, delivery: _Delivery) -> DeliveryOutcome:
        delivery.attempts += 1
        headers = signature_headers(
            delivery.secrets, delivery.event.id, int(self._wall()), delivery.body
        )
        headers |= {"content-type": CONTENT_TYPE, "user-agent": USER_AGENT}
        try:
            status, answer = await self._transports[delivery.configured].post(
                delivery.url, headers, delivery.body.encode(), self._config.timeout
            )
        except WebhookUnreachable as exc:
            delivery.status = None
            raise _TryAgain(f"no answer ({exc})") from None
        except ForbiddenDestination as exc:  # final: where it leads will not change by waiting
            delivery.status, delivery.reason = None, f"{FORBIDDEN_DESTINATION}: {exc}"
            return DeliveryOutcome.FORBIDDEN
        delivery.status = status
        return self._judge(status, answer, delivery)

    def _judge(
        self, status: int, answer: Mapping[str, str], delivery: _Delivery
    ) -> DeliveryOutcome:
        if 200 <= status < 300:
            return DeliveryOutcome.DELIVERED
        if status == 410:
            return DeliveryOutcome.GONE
        if status in _RETRIED_STATUSES or status >= 500:
            wait = retry_after(answer.get("retry-after"), self._wall())
            raise _TryAgain(f"HTTP {status}", wait)
        # A redirect is not followed: the endpoint's owner should configure where it leads.
        delivery.reason = f"HTTP {status}" + (
            " (redirects are not followed)" if status < 400 else ""
        )
        return DeliveryOutcome.FAILED

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        asked = failure.retry_after if isinstance(failure, _TryAgain) else 0.0
        return max(float(self._backoff(state)), asked)

    def _stop(self, lane: Lane, delivery: _Delivery) -> Callable[[RetryCallState], bool]:
        # Judged before sleeping: a wait (or a Retry-After) that ends past the deadline is
        # not waited out. The first attempt is always made, even for an event that waited
        # behind its lane's earlier ones past its deadline.
        def stop(state: RetryCallState) -> bool:
            past = self._clock() + state.upcoming_sleep > delivery.deadline
            return past or self._superseded(lane, delivery)

        return stop

    def _superseded(self, lane: Lane, delivery: _Delivery) -> bool:
        """A non-final event is stale once a later event of its job waits behind it:
        retrying it would only hold back the later one, and at last the final event, which
        a receiver needs most and which implies everything before it."""
        final = delivery.event.type in _FINAL
        return not final and len(self._queues.get(lane, ())) > 1

    async def _is_gone(self, lane: Lane) -> bool:
        if lane in self._gone:
            return True
        if lane in self._consulted:
            return False
        _remember(self._consulted, lane)
        if await self._recorded_gone(lane):
            _remember(self._gone, lane)
            return True
        return False

    async def _recorded_gone(self, lane: Lane) -> bool:
        """A 410 recorded on the job by an earlier process (``replay`` honours it too)."""
        job_id, url = lane
        try:
            record = await self._jobs.get(job_id)
        except Exception as exc:
            log.warning("webhook.record_unread", job_id=job_id, error=type(exc).__name__)
            return False
        endpoint = without_query(url)
        deliveries = record.webhooks if record is not None else ()
        return any(d.endpoint == endpoint and d.outcome == "gone" for d in deliveries)

    async def _finish(self, delivery: _Delivery, outcome: DeliveryOutcome) -> None:
        delivery.outcome = outcome
        WEBHOOK_DELIVERIES.labels(outcome.value).inc()
        event, facts = delivery.event, delivery.facts()
        emit = log.info if outcome is DeliveryOutcome.DELIVERED else log.warning
        emit(f"webhook.{outcome.value}", **facts)
        if event.type is EventType.PROGRESS:
            return
        record = WebhookDelivery(
            event_id=event.id, event_type=event.type.value, endpoint=delivery.endpoint,
            status=delivery.status, attempts=delivery.attempts, reason=delivery.reason,
            outcome=outcome.value, at=_iso(self._wall()),
        )  # fmt: skip
        try:
            await self._jobs.record_delivery(event.subject, record)
        except Exception as exc:
            log.warning("webhook.not_recorded", **facts, error=type(exc).__name__)


def _abandon(deliveries: list[_Delivery]) -> None:
    for d in deliveries:
        WEBHOOK_DELIVERIES.labels(DeliveryOutcome.ABANDONED.value).inc()
        log.warning("webhook.abandoned", **d.facts())


def _log_retry(delivery: _Delivery) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        facts = delivery.facts() | {"reason": str(failure)}
        log.info("webhook.retrying", **facts, wait=round(state.upcoming_sleep, 3))

    return before_sleep


def _log_error(name: str, exc: Exception, **facts: object) -> None:
    # The kind of error only: a traceback's locals (and some errors' text) hold the URL with
    # its query, the signed headers, the body.
    log.error(name, error=type(exc).__name__, **facts)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@asynccontextmanager
async def open_webhooks(
    settings: EventSettings, jobs: JobStore, grace: float | None, *,
    lookup: Lookup = getaddrinfo, tls: ssl.SSLContext | None = None,
) -> AsyncIterator[WebhookDispatcher]:  # fmt: skip
    """The dispatcher over two HTTP sessions (jobs' own webhooks, the deployment's endpoints:
    each its policy, its pool); on leaving, deliveries in flight get ``grace`` seconds (None:
    all the time they need) before they are abandoned. ``lookup`` and ``tls``: the
    transport's seams (``open_transport``)."""
    config = WebhookConfig.from_settings(settings)
    async with (
        open_transport(policy=config.policy(configured=False), lookup=lookup, tls=tls) as own,
        open_transport(policy=config.policy(configured=True), lookup=lookup, tls=tls) as ends,
    ):
        hooks = WebhookDispatcher(config, own, jobs, endpoint_transport=ends)
        try:
            yield hooks
        finally:
            await hooks.aclose(grace)
