"""In-memory adapters, shipped with the worker as httpx ships ``MockTransport``: the ports'
semantics without a network, for tests and for trying the core on its own (a dry run; no
``ffapi`` command wires them yet). Here the queue and the event publisher; the object store
is ``infra.memory_objects``, the job store ``infra.memory_jobs``.

``MemoryQueue`` is SQS's standard queue as the worker relies on it: at-least-once, a
receipt hides a message for a visibility timeout that its holder extends or shortens, each
receipt counts toward the message's receive count, a long poll returns as soon as a message
is visible. It is held to the same contract tests as ``infra.queue.SqsQueue``
(``tests/integration/test_queue_contract.py``). Time comes from the clock and sleep given
(a test's fake time, or the real one).

``MemoryEvents`` keeps what was published, in order, where SNS hands it to subscribers: no
attributes for filter policies, no fan-out, no outage (``tests/integration/
test_events_contract.py`` reads both back).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import StorageUnavailable
from core.events.cloudevent import CloudEvent
from core.ports import Delivery, QueueMessage

_MAX_VISIBILITY = 43200
_MAX_DELAY = 900


@dataclass(slots=True)
class _Held:
    message_id: str
    body: str
    sent_at: datetime
    visible_at: float = 0.0
    receive_count: int = 0
    receipt: str | None = None  # the latest delivery's: only it settles the message


class MemoryQueue:
    def __init__(
        self, visibility_timeout: int = 30, *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.visibility_timeout = visibility_timeout
        self._clock, self._sleep = clock, sleep
        self._messages: dict[str, _Held] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()

    async def send(self, body: str) -> str:
        message_id = f"m-{next(self._ids)}"
        self._messages[message_id] = _Held(message_id, body, datetime.now(UTC), self._clock())
        self._arrived.set()
        return message_id

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        """A long poll: back as soon as a message is visible (sent, released, or its
        visibility timeout over), or empty after ``wait_seconds``."""
        deadline = self._clock() + wait_seconds
        while not (taken := self._take(max_messages)) and self._clock() < deadline:
            await self._wait_until(min([deadline, *self._hidden_until()]))
        return taken

    async def _wait_until(self, when: float) -> None:
        self._arrived.clear()
        arrival = asyncio.create_task(self._arrived.wait())
        timeout = asyncio.ensure_future(self._sleep(max(0.0, when - self._clock())))
        try:
            await asyncio.wait({arrival, timeout}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrival.cancel()
            timeout.cancel()

    def _hidden_until(self) -> list[float]:
        now = self._clock()
        return [m.visible_at for m in self._messages.values() if m.visible_at > now]

    async def extend(self, delivery: Delivery, seconds: int) -> None:
        self._set_visibility(delivery, seconds)

    async def release(self, delivery: Delivery, delay: int = 0) -> None:
        self._set_visibility(delivery, delay)
        if delay <= 0:
            self._arrived.set()

    async def requeue(self, delivery: Delivery, delay: int) -> None:
        """A fresh copy hidden ``delay`` seconds (SQS's DelaySeconds, at most 900), then this
        receipt deleted."""
        copy = await self.send(delivery.message.body)
        self._messages[copy].visible_at = self._clock() + max(0, min(_MAX_DELAY, delay))
        await self.delete(delivery)

    async def delete(self, delivery: Delivery) -> None:
        held = self._holding(delivery)
        if held is not None:
            del self._messages[held.message_id]

    def depth(self) -> int:
        """Messages not yet deleted, visible or not."""
        return len(self._messages)

    def _take(self, max_messages: int) -> list[Delivery]:
        now = self._clock()
        visible = [m for m in self._messages.values() if m.visible_at <= now]
        taken = []
        for held in visible[: max(1, min(10, max_messages))]:
            held.receive_count += 1
            held.receipt = uuid.uuid4().hex
            held.visible_at = now + self.visibility_timeout
            message = QueueMessage(held.message_id, held.body, held.receive_count)
            taken.append(Delivery(message, held.receipt, held.sent_at))
        return taken

    def _holding(self, delivery: Delivery) -> _Held | None:
        held = self._messages.get(delivery.message.message_id)
        return held if held is not None and held.receipt == delivery.receipt_handle else None

    def _set_visibility(self, delivery: Delivery, seconds: int) -> None:
        if delivery.message.message_id not in self._messages:  # as SQS answers it
            raise StorageUnavailable("memory queue: the receipt handle is invalid (deleted)")
        held = self._holding(delivery)
        if held is not None:
            held.visible_at = self._clock() + max(0, min(_MAX_VISIBILITY, seconds))


class MemoryEvents:
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []

    async def publish(self, event: CloudEvent) -> None:
        self.published.append(event)
