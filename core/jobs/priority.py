"""Priority classes over SQS: a queue per class, polled by weight, the low one never starved.

SQS has no priorities, so a request's class is the queue it is sent to (``ffapi submit
--priority``): the jobs queue is ``normal``, beside it ``high`` and ``low``. A message is run
at the class of the queue it arrived on, whatever its ``priority`` field says: it is already
in hand, and forwarding it to another queue could only start it later.

Every receive is a *turn*, given to a class by smooth weighted round robin over the weights
(``FFAPI_PRIORITY_WEIGHTS``, high:normal:low, 4:2:1 by default, each at least 1). On its turn a
class's queue is polled first; when it has nothing, the other queues are polled in order of
priority (high, normal, low), so a turn is not wasted while any queue has work. A turn takes
messages from the first queue that has any.

**The guarantee.** The turns repeat every W = sum of the weights, and any W consecutive turns
hold exactly ``weight`` turns of each class. So a queue that has a visible message is polled
first, and taken from, at least once in any W consecutive turns: with one job slot (one message
a turn), at most W - 1 jobs from the other queues start before a waiting low job (6 with the
default weights), however many high jobs keep coming.

While messages flow, a turn's queues are polled short, one after another (``WaitTimeSeconds``
0: each answers at once, empty or not). A long poll of the turn's own queue would see every
message where a short one samples some of SQS's servers, but on an empty queue it holds the
turn for its whole second: with work on one queue only, 5 of every 7 job starts waited a
second for an empty class (measured: a second between each chunk of a split job and the next
on one worker). A short poll that misses a waiting message takes one turn from its class,
no more: the next period's turn polls it again, and the guarantee holds as exactly as SQS's
sampling lets it (exactly, on the emulators). A receive that finds nothing anywhere is
followed by a race of long polls, which sees every message.

**Idle: a race.** Polled one after another, an empty queue holds the receive for its whole
long poll, so a message arriving at an idle worker waited for the polls of the others (p95
2.9 s from an upload to job.started). So once a receive has found nothing, the next ones
race (``core.jobs.lane_polls``): every queue long-polled at once, one message each, the
receive back as soon as one answers. A race is a turn like the others: answers that came
together are taken in the turn's poll order, and a queue whose long poll is in flight has
nothing visible at that moment (SQS would have answered), exactly when a sequential turn
passes it by. The polls still in flight are never cancelled (SQS may have taken messages for
them): the next receive races on them, and one that answers when no receive is waiting (the
slots are full; the worker stopping, the consumer calls :meth:`PriorityQueues.settle`) hands
its message back at once. While messages flow (the last receive took some, no race poll in
flight) receives poll one queue at a time, as above: a race over a backlog on several queues
would take from each and hand most back, each hand-back a receive spent toward the DLQ.
An idle worker makes three receives per ``lane_wait`` (about $3 a month per worker).
From an upload to job.started, 50 uploads (bench/pickup.py): p95 0.26 s, as with the jobs
queue alone (0.28 s); it was 2.9 s when an idle worker polled the queues one by one.

A delivery remembers its class (``Delivery.queue``), so the heartbeat, the settle and a
requeue each go to the queue it came from. A dead letter is sent back to its class's queue
(``ffapi dlq redrive``): the queue SQS says it came from, else :func:`stated_priority`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import get_args

from core.jobs.lane_polls import LanePolls
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
    all queues raced while idle, everything else routed to the queue the delivery came from."""

    def __init__(
        self, lanes: Mapping[Priority, Queue], turns: WeightedTurns, lane_wait: int = 1
    ) -> None:
        self._lanes: dict[str, Queue] = {lane: lanes[lane] for lane in LANES}
        self._turns = turns
        self._lane_wait = lane_wait
        self._polls = LanePolls(lanes)
        # Not idle at the start: a worker started on a backlog takes it by turns, not by a
        # race that would answer on every queue at once.
        self._idle = False

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        wait = min(wait_seconds, self._lane_wait)
        order = poll_order(self._turns.next())
        if self._idle or self._polls.in_flight:
            taken = await self._polls.race(order, max_messages, wait)
        else:
            taken = await self._in_turn(order, max_messages)
        self._idle = not taken
        return taken

    async def settle(self) -> None:
        """Stopping: the polls still in flight answer, and what they bring is handed back."""
        await self._polls.settle()

    async def _in_turn(self, order: tuple[Priority, ...], max_messages: int) -> list[Delivery]:
        """The turn's queue, then the others, polled short: a busy worker never waits on an
        empty class, and a receive that finds nothing is followed by a race of long polls."""
        for lane in order:
            taken = await self._lanes[lane].receive(max_messages, 0)
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
