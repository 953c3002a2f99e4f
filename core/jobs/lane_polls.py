"""An idle worker's race: every priority queue long-polled at once, the first answer taken.

A long poll cannot be called off: SQS may already have taken messages for it, and those
would stay hidden a whole visibility timeout. So a poll that has not answered when the race
is won stays in flight, here, at most one per queue, and its answer has exactly one taker:

- the next race, which waits on the polls still in flight beside new ones for the other
  queues (the consumer races again at once while it has a free slot, so that is where a
  late answer usually goes);
- else, when it answers with no race waiting (every slot taken, or the worker stopping), the
  message is handed back at once (visibility 0) rather than held: a job this worker cannot
  start now is another worker's. It spends one of the message's receives (a chance at the
  DLQ threshold), which is why each poll asks for one message only: at most one message
  per queue is in hand, and a late one needs a message on another queue within a poll's
  wait of the first.

Messages answered together beyond the slots asked for are handed back the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping, Sequence

import structlog

from core.errors import FfapiError
from core.models import Priority
from core.ports import Delivery, Queue

log = structlog.get_logger("ffapi.worker")


class LanePolls:
    """The long polls in flight, one per queue at most, and the race over them."""

    def __init__(self, lanes: Mapping[Priority, Queue]) -> None:
        self._lanes: dict[str, Queue] = {lane: queue for lane, queue in lanes.items()}
        self._polls: dict[Priority, asyncio.Task[list[Delivery]]] = {}
        self._racing = False  # a race waits on every poll in self._polls: their answers are its
        self._returns: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> bool:
        return bool(self._polls)

    async def race(self, order: Sequence[Priority], max_messages: int, wait: int) -> list[Delivery]:
        """Long-poll every queue at once (those with a poll in flight: that poll), back as
        soon as one answers with a message, or empty when all answered empty. Answers that
        came together are taken in ``order``, up to ``max_messages``; the rest handed back."""
        for lane in order:
            if lane not in self._polls:
                self._polls[lane] = self._start(lane, wait)
        self._racing = True
        try:
            answers = await self._first_answers()
        finally:
            self._racing = False
        taken = [d for lane in order for d in answers.get(lane, [])]
        for extra in taken[max_messages:]:
            self._hand_back(extra)
        return taken[:max_messages]

    async def settle(self) -> None:
        """Stopping: let the polls in flight answer, and hand back what they bring."""
        while self._polls or self._returns:
            await asyncio.gather(*self._polls.values(), *self._returns, return_exceptions=True)
            for lane, poll in list(self._polls.items()):  # answered, and no race took them
                self._answered_late(lane, poll)

    def _start(self, lane: Priority, wait: int) -> asyncio.Task[list[Delivery]]:
        poll = asyncio.create_task(self._lanes[lane].receive(1, wait))
        poll.add_done_callback(functools.partial(self._answered_late, lane))
        return poll

    async def _first_answers(self) -> dict[Priority, list[Delivery]]:
        answers: dict[Priority, list[Delivery]] = {}
        failed: list[BaseException] = []
        while self._polls and not any(answers.values()):
            await asyncio.wait(self._polls.values(), return_when=asyncio.FIRST_COMPLETED)
            done = [(lane, poll) for lane, poll in self._polls.items() if poll.done()]
            for lane, poll in done:
                del self._polls[lane]  # taken off in the step that reads it: one taker
                if (exc := poll.exception()) is not None:
                    failed.append(exc)
                else:
                    answers[lane] = _tagged(lane, poll.result())
        if failed and not any(answers.values()):
            raise failed[0]  # the consumer backs off as after any failed receive
        for exc in failed:  # the others answered: the failed queue is polled again next turn
            log.warning("queue.receive_failed", reason=str(exc))
        return answers

    def _answered_late(self, lane: Priority, poll: asyncio.Task[list[Delivery]]) -> None:
        if self._racing or self._polls.get(lane) is not poll or not poll.done():
            return  # a race waits on it (and takes it), or already took it
        del self._polls[lane]
        if poll.cancelled():
            return
        if (exc := poll.exception()) is not None:
            log.warning("queue.receive_failed", lane=lane, reason=str(exc))
            return
        for delivery in _tagged(lane, poll.result()):
            self._hand_back(delivery)

    def _hand_back(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._release(delivery))
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    async def _release(self, delivery: Delivery) -> None:
        try:
            await self._lanes[delivery.queue].release(delivery, 0)
            log.info("message.handed_back", message_id=delivery.message.message_id,
                     lane=delivery.queue)  # fmt: skip
        except FfapiError as exc:  # it reappears after its visibility timeout anyway
            log.warning("queue.release_failed", code=exc.code, reason=exc.message)


def _tagged(lane: Priority, deliveries: list[Delivery]) -> list[Delivery]:
    return [dataclasses.replace(d, queue=lane) for d in deliveries]
