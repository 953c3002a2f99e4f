"""core.jobs.priority's idle race (core.jobs.lane_polls) on in-memory queues and fake time: an
idle worker takes a message on any queue in the round in flight; the turns still hold when
races and sequential turns mix; a poll still in flight after a race is taken by the next
receive, or handed back at once when none waits (full slots, the stop); nothing is lost."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import StorageUnavailable
from core.jobs.consumer import Consumer, ConsumerPolicy
from core.jobs.outcome import Disposition, Outcome
from core.jobs.priority import LANES, PriorityQueues, WeightedTurns, poll_order
from core.models import Priority
from core.ports import Delivery, QueueMessage
from infra.memory import MemoryQueue
from tests.unit.fake_time import FakeTime, settle

weights = st.fixed_dictionaries({lane: st.integers(1, 9) for lane in LANES})
lanes_st = st.sampled_from(LANES)


class Lanes:
    def __init__(self, time: FakeTime, given_weights: dict[Priority, int] | None = None) -> None:
        self.time = time
        self.queues: dict[Priority, MemoryQueue] = {
            lane: MemoryQueue(30, clock=time.clock, sleep=time.sleep) for lane in LANES
        }
        turns = WeightedTurns(given_weights or {"high": 4, "normal": 2, "low": 1})
        self.set = PriorityQueues(dict(self.queues), turns, lane_wait=1)

    async def idle(self) -> None:
        """A receive that finds nothing (the first one polls the queues one by one)."""
        empty = asyncio.create_task(self.set.receive(1, 20))
        await self.time.advance(3)
        assert await empty == []

    async def visible(self, lane: Priority) -> list[str]:
        """The bodies another worker would receive from the queue now (taken for 0 s)."""
        taken: list[Delivery] = []
        while batch := await self.queues[lane].receive(10, 0):
            taken += batch
        for delivery in taken:
            await self.queues[lane].release(delivery, 0)
        return [d.message.body for d in taken]


@settings(max_examples=60, deadline=None)
@given(weights, lanes_st, st.floats(0, 0.9), st.integers(0, 3))
def test_an_idle_worker_takes_a_message_on_any_queue_in_the_round_in_flight(
    given_weights: dict[Priority, int], lane: Priority, after: float, idle_rounds: int
) -> None:
    async def run() -> list[Delivery]:
        time = FakeTime()
        lanes = Lanes(time, given_weights)
        await lanes.idle()
        for _ in range(idle_rounds):  # races that found nothing: every queue answered empty
            empty = asyncio.create_task(lanes.set.receive(1, 20))
            await time.advance(1)
            assert await empty == []
        round_ = asyncio.create_task(lanes.set.receive(1, 20))
        await time.advance(after)
        await lanes.queues[lane].send("arrived")
        await settle()
        assert round_.done()  # at once: no poll of another queue had to run out first
        return await round_

    taken = asyncio.run(run())
    assert [(d.message.body, d.queue) for d in taken] == [("arrived", lane)]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("send"), lanes_st, st.integers(1, 3)),
        st.tuples(st.just("receive"), st.just("high"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(weights, ops)
def test_every_receive_is_a_turn_whether_it_races_or_not(
    given_weights: dict[Priority, int], script: list[tuple[str, Priority, int]]
) -> None:
    """Mixed sends and receives (one slot, polls of 0 s, so receives after an empty one race):
    each receive is the next turn of the weights, takes from the turn's queue when it has a
    visible message, else from the first queue in priority order that has one; a message
    answered beside it is handed back, visible at once; none is lost or left hidden."""

    async def run() -> None:
        lanes = Lanes(FakeTime(), given_weights)
        mirror = WeightedTurns(given_weights)
        waiting = dict.fromkeys(LANES, 0)  # visible messages per queue (time stands still)
        for op, lane, count in script:
            if op == "send":
                for n in range(count):
                    await lanes.queues[lane].send(f"{lane}-{waiting[lane] + n}")
                waiting[lane] += count
                continue
            expected = [q for q in poll_order(mirror.next()) if waiting[q]][:1]
            got = await lanes.set.receive(1, 0)
            await settle()  # the hand-backs done
            assert [d.queue for d in got] == expected
            for delivery in got:
                await lanes.set.delete(delivery)
                waiting[delivery.queue] -= 1  # type: ignore[index]
        await lanes.set.settle()
        for lane in LANES:  # every message not taken is visible, none held
            assert len(await lanes.visible(lane)) == waiting[lane] == lanes.queues[lane].depth()

    asyncio.run(run())


def test_a_poll_still_in_flight_after_a_race_is_taken_by_the_next_receive() -> None:
    async def run() -> Delivery:
        time = FakeTime()
        lanes = Lanes(time)
        await lanes.idle()
        first = asyncio.create_task(lanes.set.receive(2, 20))
        await lanes.queues["normal"].send("normal-0")
        (normal,) = await first  # the high and low polls are still in flight
        second = asyncio.create_task(lanes.set.receive(1, 20))
        await time.advance(0.5)
        await lanes.queues["low"].send("low-0")
        await settle()
        (low,) = await second
        assert normal.queue == "normal"
        return low

    low = asyncio.run(run())
    assert (low.queue, low.message.body, low.message.receive_count) == ("low", "low-0", 1)


def test_a_late_answer_with_no_receive_waiting_is_handed_back_at_once() -> None:
    async def run() -> None:
        time = FakeTime()
        lanes = Lanes(time)
        await lanes.idle()
        first = asyncio.create_task(lanes.set.receive(1, 20))
        await lanes.queues["normal"].send("normal-0")
        assert [d.queue for d in await first] == ["normal"]  # the slot is taken: no receive
        await time.advance(0.5)
        await lanes.queues["high"].send("high-0")  # the high poll, still in flight, takes it
        await settle()
        assert await lanes.visible("high") == ["high-0"]  # handed back, not held
        assert await lanes.visible("normal") == []  # the taken one stays hidden

    asyncio.run(run())


def test_the_stop_lets_the_polls_in_flight_answer_and_hands_back_what_they_bring() -> None:
    """A race wins on the normal queue as the worker stops: the consumer hands that message
    back, and the high and low polls it left in flight are awaited before the loop ends,
    their messages handed back too: none stays hidden for a visibility timeout."""

    async def run() -> None:
        time, stop = FakeTime(), asyncio.Event()
        lanes = Lanes(time)
        seen: list[str] = []

        async def handle(message: QueueMessage) -> Outcome:
            seen.append(message.body)
            return Outcome(Disposition.ACK)

        policy = ConsumerPolicy(
            concurrency=1, visibility=30, wait=20, backoff_base=1, drain=5, stall=60
        )
        consumer = Consumer(lanes.set, handle, policy, sleep=time.sleep, clock=time.clock)
        task = asyncio.create_task(consumer.run(stop))
        await time.advance(3.2)  # the first, sequential receive found nothing: racing now
        stop.set()
        await lanes.queues["normal"].send("normal-0")
        await time.advance(0.3)
        assert not task.done()  # the high and low polls are still in flight
        await lanes.queues["low"].send("low-0")
        await time.advance(1)
        await asyncio.wait_for(task, 5)
        assert seen == []
        assert [await lanes.visible(lane) for lane in LANES] == [[], ["normal-0"], ["low-0"]]

    asyncio.run(run())


class Flaky(MemoryQueue):
    out = False

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        if self.out:
            raise StorageUnavailable("sqs:ReceiveMessage: the queue is out")
        return await super().receive(max_messages, wait_seconds)


def test_a_race_takes_what_the_other_queues_bring_when_one_fails() -> None:
    """A failed poll does not stop the race: a message on another queue is taken; a race
    that brings nothing but a failure fails (the consumer backs off)."""

    async def run() -> None:
        time = FakeTime()
        lanes = Lanes(time)
        high = Flaky(30, clock=time.clock, sleep=time.sleep)
        lanes.queues["high"] = high
        lanes.set = PriorityQueues(
            dict(lanes.queues), WeightedTurns({"high": 4, "normal": 2, "low": 1}), lane_wait=1
        )
        await lanes.idle()
        high.out = True
        await lanes.queues["normal"].send("normal-0")
        assert [d.queue for d in await lanes.set.receive(1, 20)] == ["normal"]
        failing = asyncio.create_task(lanes.set.receive(1, 20))
        await time.advance(1)  # the low and normal polls answer empty
        with pytest.raises(StorageUnavailable):
            await failing

    asyncio.run(run())
