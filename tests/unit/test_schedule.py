"""core.jobs.schedule: SQS's limits as arithmetic (a requeue's delay within 1..900 s, never past
the job's time less the lead; the last stretch held to the exact time), the request's
not_before and deadline through the dispatcher (SCHEDULED record, a requeue, a hold, one
deadline_passed), and the consumer requeueing a deferred message with a fresh receive count."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.jobs.consumer import Consumer, ConsumerPolicy
from core.jobs.dispatch import Dispatcher
from core.jobs.outcome import Disposition, Outcome
from core.jobs.results import JobStatus
from core.jobs.schedule import MAX_DELAY, Hold, Requeue, plan_wait, send_delay
from core.models import JobRequest
from core.ports import QueueMessage
from infra.memory import MemoryQueue
from tests.unit.dispatch_harness import Harness
from tests.unit.fake_time import FakeTime
from tests.unit.fakes import NOW, FakePipeline

LEAD = 5.0


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("remaining", "plan"),
    [
        (-3.0, None),  # late: start now
        (0.0, None),
        (0.25, Hold(0.25)),
        (5.9, Hold(5.9)),  # within the lead and a second: held to the exact time
        (6.0, Requeue(1)),
        (10.7, Requeue(5)),  # back at 5.7 s before its time, held from there
        (905.0, Requeue(900)),
        (2 * 3600.0, Requeue(MAX_DELAY)),  # longer than SQS delays: look again in 15 min
        (13 * 3600.0, Requeue(MAX_DELAY)),  # longer than a visibility timeout may hide it
    ],
)
def test_what_a_worker_does_with_a_message_for_later(
    remaining: float, plan: Hold | Requeue | None
) -> None:
    assert plan_wait(NOW, at(remaining), LEAD) == plan


@given(st.floats(min_value=0.001, max_value=30 * 86400), st.floats(min_value=1, max_value=60))
def test_a_requeue_is_within_sqs_and_never_past_the_time(given: float, lead: float) -> None:
    when = at(given)
    remaining = (when - NOW).total_seconds()  # as a datetime holds it: to the microsecond
    plan = plan_wait(NOW, when, lead)
    if isinstance(plan, Requeue):
        assert 1 <= plan.delay <= MAX_DELAY
        assert plan.delay <= remaining - lead  # back at least the lead before its time
    else:
        assert isinstance(plan, Hold)
        assert plan.seconds == remaining  # the exact rest, not rounded to a poll
        assert plan.seconds < lead + 1  # a hold keeps a job slot: never long


def test_a_sender_delays_within_fifteen_minutes() -> None:
    assert send_delay(NOW, None) == 0
    assert send_delay(NOW, at(3)) == 0  # the worker holds it
    assert send_delay(NOW, at(65)) == 60
    assert send_delay(NOW, at(3 * 3600)) == 900


def test_a_deadline_must_come_after_not_before() -> None:
    doc = {"input": {"bucket": "ffapi-input", "key": "a.mp4"}, "not_before": at(60).isoformat()}
    with pytest.raises(ValidationError, match="deadline must come after not_before"):
        JobRequest.model_validate(doc | {"deadline": at(60).isoformat()})
    with pytest.raises(ValidationError, match="timezone"):
        JobRequest.model_validate(doc | {"not_before": "2026-11-23T12:00:00"})


class Clock:
    """The dispatcher's wall clock, moved by its own sleeps."""

    def __init__(self) -> None:
        self.now, self.slept = NOW, list[float]()

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def scheduled(clock: Clock, harness: Harness, **fields: str) -> Outcome:
    doc = {"version": 2, "input": {"bucket": "ffapi-input", "key": "incoming/My Clip+1.mp4"}}
    harness.dispatcher = Dispatcher(
        harness.settings, harness.objects, harness.jobs, harness.events, harness.workspace,
        harness.pipeline, clock, sleep=clock.sleep,
    )  # fmt: skip
    return asyncio.run(harness.dispatcher.handle(QueueMessage("m-1", json.dumps(doc | fields))))


def test_a_job_for_later_is_recorded_scheduled_and_requeued() -> None:
    clock, harness = Clock(), Harness(FakePipeline())
    outcome = scheduled(clock, harness, not_before=at(3600).isoformat())
    assert (outcome.disposition, outcome.retry_after) == (Disposition.DEFER, 900)
    (record,) = harness.jobs.records.values()
    assert record["status"] == JobStatus.SCHEDULED
    assert datetime.fromisoformat(record["not_before"]) == at(3600)
    assert harness.pipeline.runs == []
    assert harness.events.types == []
    clock.now = at(3600)  # due: the next copy claims the SCHEDULED job like a new one
    outcome = scheduled(clock, harness, not_before=at(3600).isoformat())
    assert outcome.disposition is Disposition.ACK
    assert harness.events.types == ["ffapi.job.received", "ffapi.job.started",
                                      "ffapi.job.completed"]  # fmt: skip


def test_a_job_due_within_the_lead_is_held_to_its_exact_time() -> None:
    clock, harness = Clock(), Harness(FakePipeline())
    outcome = scheduled(clock, harness, not_before=at(3.25).isoformat())
    assert outcome.disposition is Disposition.ACK
    assert clock.slept == [3.25]
    assert len(harness.pipeline.runs) == 1


def test_a_job_past_its_deadline_fails_once_and_is_not_retried() -> None:
    clock, harness = Clock(), Harness(FakePipeline())
    clock.now = at(120)
    outcome = scheduled(clock, harness, deadline=at(60).isoformat())
    assert outcome.disposition is Disposition.ACK
    (job,) = outcome.jobs
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == ("deadline_passed", False)
    assert harness.events.types == ["ffapi.job.failed"]
    assert harness.pipeline.runs == []
    (record,) = harness.jobs.records.values()
    assert record["status"] == JobStatus.FAILED


def test_the_consumer_requeues_a_deferred_message_with_a_fresh_receive_count() -> None:
    async def run() -> list[tuple[str, int]]:
        time, stop = FakeTime(), asyncio.Event()
        queue = MemoryQueue(30, clock=time.clock, sleep=time.sleep)
        seen: list[tuple[str, int]] = []

        async def handle(message: QueueMessage) -> Outcome:
            seen.append((message.message_id, message.receive_count))
            if len(seen) < 3:
                return Outcome(Disposition.DEFER, retry_after=900)
            return Outcome(Disposition.ACK)

        policy = ConsumerPolicy(
            concurrency=1, visibility=30, wait=20, backoff_base=1, drain=10, stall=60
        )
        consumer = Consumer(queue, handle, policy, sleep=time.sleep, clock=time.clock)
        task = asyncio.create_task(consumer.run(stop))
        await queue.send("later")
        await time.advance(899)
        assert len(seen) == 1
        assert queue.depth() == 1  # the copy, hidden
        await time.advance(2 * 900)
        stop.set()
        await time.advance(20)
        await asyncio.wait_for(task, 5)
        assert queue.depth() == 0
        return seen

    seen = asyncio.run(run())
    assert [count for _, count in seen] == [1, 1, 1]  # never nearer the DLQ
    assert len({message_id for message_id, _ in seen}) == 3
