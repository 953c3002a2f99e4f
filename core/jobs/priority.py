"""Priority classes over SQS: a queue per class, polled by weight, the low one never starved.

SQS has no priorities, so a request's class is the queue it is sent to (``ffapi submit
--priority``): the jobs queue is ``normal``, beside it ``high`` and ``low``. A message is run
at the class of the queue it arrived on, whatever its ``priority`` field says: it is already
in hand, and forwarding it to another queue could only start it later.

Every receive is a *turn*, given to a class by smooth weighted round robin over the weights
(``FFAPI_PRIORITY_WEIGHTS``, high:normal:low, 4:2:1 by default, each at least 1). On its turn a
class's queue is polled first; when it has nothing, the other queues are polled in order of
priority (high, normal, low), so a turn is never wasted while any queue has work. A turn takes
messages from the first queue that has any.

**The guarantee.** The turns repeat every W = sum of the weights, and any W consecutive turns
hold exactly ``weight`` turns of each class. So a queue that has a visible message is polled
first, and taken from, at least once in any W consecutive turns: with one job slot (one message
a turn), at most W - 1 jobs from the other queues start before a waiting low job (6 with the
default weights), however many high jobs keep coming.

Each poll is a long poll of ``lane_wait`` seconds (1 by default): SQS answers at once when a
message is there, and unlike a short poll (which samples some of SQS's servers and may answer
empty while messages wait) it sees every message; the guarantee needs that. An idle worker
makes one receive a second (about $1 a month per worker); a message arriving at an idle worker
waits for the polls of the other queues before its own (bench/pickup.py: p95 2.9 s from an
upload to job.started, against 0.18 s with the jobs queue alone).

A delivery remembers its class (``Delivery.queue``), so the heartbeat, the settle and a
requeue each go to the queue it came from. A dead letter is sent back to its class's queue
(``ffapi dlq redrive``): the queue SQS says it came from, else :func:`stated_priority`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import get_args

from core.models import Priority
from core.ports import Delivery, Queue

LANES: tuple[Priority, ...] = get_args(Priority)  # in order of priority: high, normal, low


class WeightedTurns:
    """Smooth weighted round robin (nginx's): each turn every class gains its weight, the
    richest class takes the turn and pays the total. The sequence is periodic with period
    W = sum of the weights, each period holding ``weight`` turns of each class, spread out
    (4:2:1 gives high, normal, high, low, high, normal, high)."""

    def __init__(self, weights: Mapping[Priority, int]) -> None:
        if set(weights) != set(LANES) or min(weights.values()) < 1:
            raise ValueError("every class needs a weight of at least 1 (none is starved)")
        self._weights = {lane: weights[lane] for lane in LANES}
        self._total = sum(self._weights.values())
        self._credit = dict.fromkeys(LANES, 0)

    @property
    def period(self) -> int:
        """W: any this many consecutive turns hold each class's weight of turns."""
        return self._total

    def next(self) -> Priority:
        for lane, weight in self._weights.items():
            self._credit[lane] += weight
        turn = max(LANES, key=lambda lane: self._credit[lane])  # a tie goes to the higher class
        self._credit[turn] -= self._total
        return turn


def stated_priority(body: str) -> Priority:
    """The class a message body asks for, read leniently: a direct job request's
    ``priority``; normal for anything else (S3 events, batches, cancels, text that is not
    JSON, an unknown class), as the jobs queue is where those are sent."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return "normal"
    if not isinstance(doc, dict) or not isinstance(doc.get("input"), dict):
        return "normal"
    stated = doc.get("priority")
    return next((lane for lane in LANES if lane == stated), "normal")


def poll_order(turn: Priority) -> tuple[Priority, ...]:
    """The turn's class first, then the others in order of priority."""
    return (turn, *(lane for lane in LANES if lane != turn))


class PriorityQueues:
    """The worker's queues as one :class:`core.ports.Queue`: receives by weighted turns,
    everything else routed to the queue the delivery came from."""

    def __init__(
        self, lanes: Mapping[Priority, Queue], turns: WeightedTurns, lane_wait: int = 1
    ) -> None:
        self._lanes: dict[str, Queue] = {lane: lanes[lane] for lane in LANES}
        self._turns = turns
        self._lane_wait = lane_wait

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        wait = min(wait_seconds, self._lane_wait)
        for lane in poll_order(self._turns.next()):
            taken = await self._lanes[lane].receive(max_messages, wait)
            if taken:
                return [dataclasses.replace(d, queue=lane) for d in taken]
        return []

    async def extend(self, delivery: Delivery, seconds: int) -> None:
        await self._of(delivery).extend(delivery, seconds)

    async def release(self, delivery: Delivery, delay: int = 0) -> None:
        await self._of(delivery).release(delivery, delay)

    async def delete(self, delivery: Delivery) -> None:
        await self._of(delivery).delete(delivery)

    async def send(self, body: str) -> str:
        return await self._lanes["normal"].send(body)

    async def requeue(self, delivery: Delivery, delay: int) -> None:
        await self._of(delivery).requeue(delivery, delay)

    def _of(self, delivery: Delivery) -> Queue:
        return self._lanes.get(delivery.queue) or self._lanes["normal"]
