"""core.jobs.consumer: the loop's policy on an in-memory queue and fake time (no I/O, no waits):
settling, backoff, the lease holder's hint, concurrency, the heartbeat and its withholding,
a failed receive, and the stop (releases, the drain budget)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from core.errors import StorageUnavailable
from core.jobs import pulse
from core.jobs.consumer import Consumer, ConsumerPolicy
from core.jobs.outcome import Disposition, Outcome
from core.ports import Delivery, QueueMessage
from infra.memory import MemoryQueue
from tests.unit.fake_time import FakeTime

POLICY = ConsumerPolicy(
    concurrency=2, visibility=30, wait=20, backoff_base=5.0, drain=60.0, stall=90.0
)
Handler = Callable[[QueueMessage], Awaitable[Outcome]]


class Rig:
    def __init__(self, handler: Handler, policy: ConsumerPolicy = POLICY) -> None:
        self.time = FakeTime()
        self.queue = MemoryQueue(30, clock=self.time.clock, sleep=self.time.sleep)
        self.stop = asyncio.Event()
        self.consumer = Consumer(
            self.queue,
            handler,
            policy,
            sleep=self.time.sleep,
            jitter=lambda a, b: b,
            clock=self.time.clock,
        )
        self.task = asyncio.create_task(self.consumer.run(self.stop))

    async def finish(self) -> None:
        self.stop.set()
        await self.time.advance(POLICY.wait)
        await asyncio.wait_for(self.task, 5)

    async def peek(self) -> list[Delivery]:
        """What another consumer would receive now (taken: they count as deliveries)."""
        return await self.queue.receive(10, 0)


def ack(seen: list[QueueMessage]) -> Handler:
    async def handle(message: QueueMessage) -> Outcome:
        seen.append(message)
        return Outcome(Disposition.ACK)

    return handle


def test_a_handled_message_is_deleted() -> None:
    async def run() -> list[QueueMessage]:
        seen: list[QueueMessage] = []
        rig = Rig(ack(seen))
        await rig.queue.send("one")
        await rig.time.advance(1)
        assert rig.queue.depth() == 0
        await rig.finish()
        return seen

    assert [m.body for m in asyncio.run(run())] == ["one"]


def test_a_retry_comes_back_after_its_jittered_backoff() -> None:
    async def run() -> None:
        seen: list[QueueMessage] = []

        async def retry(message: QueueMessage) -> Outcome:
            seen.append(message)
            return Outcome(Disposition.RETRY)

        rig = Rig(retry, POLICY)
        await rig.queue.send("again")
        await rig.time.advance(1)
        # first delivery: base 5 s x 2^1, the jitter at its top
        await rig.time.advance(8)
        assert [m.receive_count for m in seen] == [1]
        await rig.time.advance(2)
        assert [m.receive_count for m in seen] == [1, 2]  # then 5 x 2^2 = 20 s
        await rig.finish()

    asyncio.run(run())


def test_a_job_leased_elsewhere_comes_back_after_the_lease() -> None:
    async def run() -> None:
        async def busy(message: QueueMessage) -> Outcome:
            return Outcome(Disposition.RETRY, retry_after=42.3)

        rig = Rig(busy)
        await rig.queue.send("leased")
        await rig.time.advance(0.5)  # handled at 0: hidden until 43 (the lease, rounded up)
        rig.stop.set()  # no more polling: the message stays in the queue for us to look at
        await rig.time.advance(POLICY.wait)
        await rig.task
        await rig.time.advance(42.4 - rig.time.now)
        assert await rig.peek() == []
        await rig.time.advance(1)
        assert [d.message.body for d in await rig.peek()] == ["leased"]

    asyncio.run(run())


def test_a_handler_that_raises_hands_the_message_back() -> None:
    async def run() -> None:
        async def broken(message: QueueMessage) -> Outcome:
            raise RuntimeError("the job store is out")

        rig = Rig(broken)
        await rig.queue.send("x")
        await rig.time.advance(0.5)
        assert rig.queue.depth() == 1  # not deleted: returned with a backoff
        await rig.finish()

    asyncio.run(run())


def test_never_more_jobs_at_once_than_the_concurrency() -> None:
    async def run() -> None:
        running, peak, go = [0], [0], asyncio.Event()

        async def slow(message: QueueMessage) -> Outcome:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await go.wait()
            running[0] -= 1
            return Outcome(Disposition.ACK)

        rig = Rig(slow)
        for n in range(5):
            await rig.queue.send(str(n))
        await rig.time.advance(5)
        assert (running[0], rig.queue.depth()) == (2, 5)
        go.set()
        await rig.time.advance(5)
        assert (peak[0], rig.queue.depth()) == (2, 0)
        await rig.finish()

    asyncio.run(run())


def test_the_heartbeat_keeps_a_live_job_hidden_and_lets_a_quiet_one_go() -> None:
    async def run() -> None:
        done = asyncio.Event()
        pulses: list[pulse.Pulse] = []

        async def long_job(message: QueueMessage) -> Outcome:
            current = pulse.current()
            assert current is not None
            pulses.append(current)
            await done.wait()
            return Outcome(Disposition.ACK)

        rig = Rig(long_job, replace(POLICY, concurrency=1))  # no second poll meanwhile
        await rig.queue.send("long")
        for _ in range(12):  # 120 s of work, alive all along: never visible to anyone else
            await rig.time.advance(10)
            pulses[0].beat()
            assert await rig.peek() == []
        # silent from here: the beats stop after the stall time, the message lapses after
        # one more visibility timeout (beats come every 10 s; give it one more beat's time)
        await rig.time.advance(POLICY.stall + POLICY.visibility + 10)
        found = await rig.peek()
        assert [(d.message.body, d.message.receive_count) for d in found] == [("long", 2)]
        done.set()
        await rig.finish()

    asyncio.run(run())


class FlakyQueue(MemoryQueue):
    def __init__(self, time: FakeTime) -> None:
        super().__init__(30, clock=time.clock, sleep=time.sleep)
        self.failures = 1

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("sqs:ReceiveMessage failed")
        return await super().receive(max_messages, wait_seconds)


def test_a_failed_receive_waits_a_jittered_while_then_polls_again() -> None:
    async def run() -> list[float]:
        time = FakeTime()
        queue, stop = FlakyQueue(time), asyncio.Event()
        seen: list[QueueMessage] = []
        consumer = Consumer(
            queue, ack(seen), POLICY, sleep=time.sleep, jitter=lambda a, b: b, clock=time.clock
        )
        task = asyncio.create_task(consumer.run(stop))
        await queue.send("after the outage")
        await time.advance(4.9)
        assert seen == []  # still waiting out the 5 s
        await time.advance(0.2)
        assert [m.body for m in seen] == ["after the outage"]
        stop.set()
        await time.advance(POLICY.wait)
        await task
        return time.slept

    assert 5 in asyncio.run(run())


def test_a_stop_during_a_poll_hands_its_messages_back_unhandled() -> None:
    async def run() -> None:
        seen: list[QueueMessage] = []
        rig = Rig(ack(seen))
        await rig.time.advance(1)  # the loop is in its long poll
        rig.stop.set()
        await rig.queue.send("late")  # the poll returns it after the stop
        await rig.time.advance(1)
        await asyncio.wait_for(rig.task, 5)
        assert seen == []
        assert [(d.message.body, d.message.receive_count) for d in await rig.peek()] == [
            ("late", 2)  # visible at once, not after a visibility timeout
        ]

    asyncio.run(run())


def test_the_drain_budget_stops_a_running_job_and_releases_its_message() -> None:
    async def run() -> None:
        cancelled = asyncio.Event()

        async def endless(message: QueueMessage) -> Outcome:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
            raise AssertionError("unreachable")

        rig = Rig(endless)
        await rig.queue.send("endless")
        await rig.time.advance(1)
        rig.stop.set()
        await rig.time.advance(POLICY.drain - 1)
        assert not cancelled.is_set()  # within the budget: left to finish
        await rig.time.advance(2)
        await asyncio.wait_for(rig.task, 5)
        assert cancelled.is_set()
        assert [d.message.body for d in await rig.peek()] == ["endless"]

    asyncio.run(run())
