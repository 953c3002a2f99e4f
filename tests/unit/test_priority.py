"""core.jobs.priority: the weighted turns and their guarantee (any W consecutive turns hold each
class's weight of turns), the queues polled by turn over in-memory queues, each delivery settled
on the queue it came from, and the consumer loop on them never starving the low queue."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.jobs.consumer import Consumer, ConsumerPolicy
from core.jobs.outcome import Disposition, Outcome
from core.jobs.priority import LANES, PriorityQueues, WeightedTurns, poll_order
from core.models import Priority
from core.ports import QueueMessage
from infra.memory import MemoryQueue
from tests.unit.fake_time import FakeTime

weights = st.fixed_dictionaries({lane: st.integers(1, 9) for lane in LANES})


@given(weights, st.integers(0, 200))
def test_any_period_of_consecutive_turns_holds_each_class_weight_times(
    given_weights: dict[Priority, int], start: int
) -> None:
    turns = WeightedTurns(given_weights)
    sequence = [turns.next() for _ in range(start + 3 * turns.period)]
    for offset in range(start, start + 2 * turns.period):  # every window, wherever it starts
        window = Counter(sequence[offset : offset + turns.period])
        assert window == Counter(given_weights)


def test_the_default_weights_spread_the_turns_out() -> None:
    turns = WeightedTurns({"high": 4, "normal": 2, "low": 1})
    assert [turns.next() for _ in range(7)] == [
        "high", "normal", "high", "low", "high", "normal", "high",
    ]  # fmt: skip


@pytest.mark.parametrize("bad", [{"high": 4, "normal": 2, "low": 0}, {"high": 1, "normal": 1}])
def test_a_class_without_turns_is_refused(bad: dict[Priority, int]) -> None:
    with pytest.raises(ValueError, match="none is starved"):
        WeightedTurns(bad)


def test_a_turn_polls_its_class_first_then_by_priority() -> None:
    assert poll_order("low") == ("low", "high", "normal")
    assert poll_order("normal") == ("normal", "high", "low")
    assert poll_order("high") == ("high", "normal", "low")


class Lanes:
    def __init__(self, time: FakeTime, default: tuple[int, int, int] = (4, 2, 1)) -> None:
        self.queues: dict[Priority, MemoryQueue] = {
            lane: MemoryQueue(30, clock=time.clock, sleep=time.sleep) for lane in LANES
        }
        high, normal, low = default
        turns = WeightedTurns({"high": high, "normal": normal, "low": low})
        self.set = PriorityQueues(dict(self.queues), turns, lane_wait=1)

    async def fill(self, lane: Priority, count: int) -> None:
        for n in range(count):
            await self.queues[lane].send(f"{lane}-{n}")


def test_a_low_message_is_taken_within_one_period_of_a_high_flood() -> None:
    async def run() -> list[str]:
        lanes = Lanes(FakeTime())
        await lanes.fill("high", 40)
        await lanes.fill("normal", 40)
        await lanes.fill("low", 3)
        taken = []
        for _ in range(21):
            (delivery,) = await lanes.set.receive(1, 0)
            taken.append(delivery.queue)
            await lanes.set.delete(delivery)
        return taken

    taken = asyncio.run(run())
    lows = [i for i, lane in enumerate(taken) if lane == "low"]
    assert lows == [3, 10, 17]  # one in every 7 turns, each after at most 6 others
    assert Counter(taken) == {"high": 12, "normal": 6, "low": 3}


def test_an_empty_class_gives_its_turn_away_by_priority() -> None:
    async def run() -> list[str]:
        lanes = Lanes(FakeTime())
        await lanes.fill("normal", 2)
        await lanes.fill("low", 2)
        taken = []
        for _ in range(4):
            (delivery,) = await lanes.set.receive(1, 0)
            taken.append(delivery.message.body)
            await lanes.set.delete(delivery)
        return taken

    # turns high, normal, high, low: high's turns go to normal, then to low
    assert asyncio.run(run()) == ["normal-0", "normal-1", "low-0", "low-1"]


def test_a_busy_worker_never_waits_on_an_empty_class() -> None:
    """Work on one queue only: the turns of the empty classes (5 of 7) pass it on at once,
    no long poll of an empty queue first (time here moves only when told: one would hang)."""

    async def run() -> tuple[list[str], list[float]]:
        time = FakeTime()
        lanes = Lanes(time)
        await lanes.fill("normal", 7)
        taken = []
        for _ in range(7):
            (delivery,) = await asyncio.wait_for(lanes.set.receive(1, 1), 5)
            taken.append(delivery.message.body)
            await lanes.set.delete(delivery)
        return taken, time.slept

    taken, slept = asyncio.run(run())
    assert taken == [f"normal-{n}" for n in range(7)]
    assert [s for s in slept if s > 0] == []


def test_each_delivery_is_settled_on_the_queue_it_came_from() -> None:
    async def run() -> None:
        time = FakeTime()
        lanes = Lanes(time)
        await lanes.fill("low", 1)
        await lanes.fill("high", 1)
        (high,) = await lanes.set.receive(1, 0)
        (low,) = await lanes.set.receive(1, 0)
        assert (high.queue, low.queue) == ("high", "low")
        await lanes.set.extend(low, 100)
        await lanes.set.release(high, 0)
        assert [d.queue for d in await lanes.set.receive(1, 0)] == ["high"]  # released at once
        await time.advance(60)  # past the visibility timeout, within the extension
        assert await lanes.queues["low"].receive(1, 0) == []
        await lanes.set.requeue(low, 10)  # a fresh copy on the low queue, this one deleted
        await time.advance(10)
        (copy,) = await lanes.queues["low"].receive(1, 0)
        assert (copy.message.body, copy.message.receive_count) == ("low-0", 1)
        assert lanes.queues["normal"].depth() == 0

    asyncio.run(run())


def test_the_consumer_never_starves_the_low_queue() -> None:
    """One slot, a flood of high and normal jobs, and low jobs waiting: between two low jobs
    at most 6 others run, and every message is deleted from its own queue."""

    async def run() -> list[str]:
        time, stop = FakeTime(), asyncio.Event()
        lanes = Lanes(time)
        await lanes.fill("high", 20)
        await lanes.fill("normal", 10)
        await lanes.fill("low", 4)
        order: list[str] = []

        async def handle(message: QueueMessage) -> Outcome:
            order.append(message.body.split("-")[0])
            await time.sleep(3)  # the job's work
            return Outcome(Disposition.ACK)

        policy = ConsumerPolicy(
            concurrency=1, visibility=30, wait=1, backoff_base=1, drain=10, stall=60
        )
        consumer = Consumer(lanes.set, handle, policy, sleep=time.sleep, clock=time.clock)
        task = asyncio.create_task(consumer.run(stop))
        await time.advance(34 * 3 + 1)
        stop.set()
        await time.advance(5)
        await asyncio.wait_for(task, 5)
        assert [q.depth() for q in lanes.queues.values()] == [0, 0, 0]
        return order

    order = asyncio.run(run())
    assert len(order) == 34
    lows = [i for i, lane in enumerate(order) if lane == "low"]
    assert lows[0] <= 6
    assert all(b - a <= 7 for a, b in itertools.pairwise(lows))


def test_the_heartbeat_and_the_stop_act_on_the_queue_a_delivery_came_from() -> None:
    """A long low job: its message stays hidden past the visibility timeout (the beats reach
    the low queue); stopped past the drain budget, it is handed back to the low queue at once."""

    async def run() -> None:
        time, stop = FakeTime(), asyncio.Event()
        lanes = Lanes(time)
        await lanes.fill("low", 1)
        began = asyncio.Event()

        async def long_job(message: QueueMessage) -> Outcome:
            began.set()
            await asyncio.Event().wait()  # runs until cancelled
            return Outcome(Disposition.ACK)

        policy = ConsumerPolicy(
            concurrency=1, visibility=30, wait=1, backoff_base=1, drain=5, stall=600
        )
        consumer = Consumer(lanes.set, long_job, policy, sleep=time.sleep, clock=time.clock)
        task = asyncio.create_task(consumer.run(stop))
        await time.advance(3)  # a turn of high's: 1 s polls of the empty high and normal queues
        assert began.is_set()
        await time.advance(95)  # three visibility timeouts
        assert await lanes.queues["low"].receive(1, 0) == []  # still hidden: beaten
        stop.set()
        await time.advance(10)  # past the drain budget: cancelled and handed back
        await asyncio.wait_for(task, 5)
        (back,) = await lanes.queues["low"].receive(1, 0)
        assert (back.message.body, back.message.receive_count) == ("low-0", 2)

    asyncio.run(run())
