"""Priority and schedule on the embedded stack (moto's server over HTTP, the real ffmpeg, the
real worker): a high job sent behind a flood of low ones starts before all of them but at most
the one the worker already had in hand (one job's time); a scheduled job, requeued and then
held, starts within a second of its ``not_before``; a job past its ``deadline`` fails once as
``deadline_passed``. Order and event times are what is judged, never how long the test took."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.jobs.job_record import JobRecord
from core.jobs.results import JobStatus
from core.models import JobRequest, S3ObjectRef
from handlers import sqs_lambda
from handlers.runtime import Runtime, open_runtime
from handlers.watcher import TERMINAL_TYPES, EventWatcher
from handlers.worker import Worker
from infra.jobstore import DynamoJobStore
from infra.settings import Settings
from tests.event_contract import check_event

from .conftest import Stack

pytestmark = pytest.mark.integration

KEY = "library/short.mp4"  # not watched: only the requests sent here make jobs


def request(settings: Settings, name: str, **fields: Any) -> str:
    """A direct job request for the short clip, its own job by its idempotency key."""
    doc = JobRequest(
        input=S3ObjectRef(bucket=settings.input_bucket, key=KEY),
        preset="mp4-720p",
        idempotency_key=f"{name}-{uuid.uuid4().hex[:8]}",
        correlation_id=name,
        **fields,
    )
    return doc.model_dump_json(exclude_none=True)


async def send(rt: Runtime, queue_name: str, body: str) -> None:
    url = (await rt.clients.sqs.get_queue_url(QueueName=queue_name))["QueueUrl"]
    await rt.clients.sqs.send_message(QueueUrl=url, MessageBody=body)


def lifecycle(watcher: EventWatcher) -> list[dict[str, Any]]:
    events = [json.loads(b) for b in watcher.received]
    return [e for e in events if e["type"] != "ffapi.job.progress"]


def started(events: list[dict[str, Any]]) -> list[str]:
    """The correlation ids (the job names) in the order their jobs started."""
    return [e["data"]["correlation_id"] for e in events if e["type"] == "ffapi.job.started"]


async def until(watcher: EventWatcher, done: Any, timeout: float = 120) -> None:
    async with asyncio.timeout(timeout):
        while not done(lifecycle(watcher)):
            await watcher.poll(wait_seconds=1)


def terminal(count: int) -> Any:
    return lambda events: sum(e["type"] in TERMINAL_TYPES for e in events) >= count


def scenario(stack: Stack, clip: Path, act: Any, settings: Settings | None = None) -> Any:
    settings = settings or stack.settings

    async def run() -> Any:
        async with open_runtime(settings) as rt:
            c = rt.clients
            await c.s3.upload_file(str(clip), settings.input_bucket, KEY)
            async with EventWatcher.subscribe(c.sqs, c.sns, stack.resources.topic_arn) as w:
                stop = asyncio.Event()
                try:
                    outcome = await act(rt, w, stop)
                finally:
                    stop.set()
        for body in w.received:  # every event held to the committed contract
            check_event(body)
        return outcome

    return asyncio.run(run())


def test_a_high_job_overtakes_a_low_flood(stack: Stack, short_clip: Path) -> None:
    settings = stack.settings.model_copy(update={"worker_concurrency": 1})
    lanes = settings.lane_names()

    async def act(
        rt: Runtime, w: EventWatcher, stop: asyncio.Event
    ) -> tuple[datetime, list[dict[str, Any]]]:
        for n in range(6):
            await send(rt, lanes["low"], request(settings, f"low-{n}", priority="low"))
        worker = asyncio.create_task(Worker(rt).run(stop))
        await until(w, lambda events: started(events) != [])
        sent_at = datetime.now(UTC)  # the flood is under way
        await send(rt, lanes["high"], request(settings, "high", priority="high"))
        await until(w, terminal(7), timeout=240)
        stop.set()
        await asyncio.wait_for(worker, 60)
        return sent_at, lifecycle(w)

    sent_at, events = scenario(stack, short_clip, act, settings)

    starts = [
        (datetime.fromisoformat(e["time"]), e["data"]["correlation_id"])
        for e in events
        if e["type"] == "ffapi.job.started"
    ]
    order = [name for _, name in sorted(starts)]
    assert sorted(order) == sorted(["high", *(f"low-{n}" for n in range(6))])
    high_at = dict((name, at) for at, name in starts)["high"]
    in_hand = [name for at, name in starts if at < sent_at]  # running, or done, when sent
    overtaking = [name for at, name in starts if sent_at <= at < high_at]
    assert in_hand  # the high job was sent behind the flood, not before it
    # At most one job's time: one low job may start first (a receive turn of the low
    # queue's, 1 in 7); every other waiting low job starts after the high one.
    assert len(overtaking) <= 1, order
    assert order.index("high") < 6


def test_a_scheduled_job_starts_within_a_second_of_its_time(stack: Stack, short_clip: Path) -> None:
    settings = stack.settings
    store_seen: list[str] = []

    async def act(rt: Runtime, w: EventWatcher, stop: asyncio.Event) -> list[dict[str, Any]]:
        worker = asyncio.create_task(Worker(rt).run(stop))
        # Past the lead (5 s) and its second: requeued once with a delay, then held.
        not_before = datetime.now(UTC) + timedelta(seconds=9)
        await send(rt, settings.jobs_queue, request(settings, "later", not_before=not_before))
        store = DynamoJobStore(rt.clients.dynamodb, settings.jobs_table)
        scheduled: list[JobRecord] = []
        async with asyncio.timeout(8):  # listed as scheduled while it waits
            while not scheduled:
                await w.poll(wait_seconds=1)  # no event comes before its time
                scheduled = await store.recent(status=JobStatus.SCHEDULED)
        store_seen.extend(r.not_before or "" for r in scheduled)
        await until(w, terminal(1))
        stop.set()
        await asyncio.wait_for(worker, 60)
        return lifecycle(w)

    events = scenario(stack, short_clip, act)

    assert [e["type"] for e in events] == [
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.completed",
    ]  # fmt: skip
    (when,) = store_seen
    not_before = datetime.fromisoformat(when)
    start = datetime.fromisoformat(events[1]["time"])  # the claim's moment (core.jobs.dispatch)
    assert timedelta(0) <= start - not_before <= timedelta(seconds=1)


def test_a_job_past_its_deadline_fails_once_as_deadline_passed(
    stack: Stack, short_clip: Path
) -> None:
    settings = stack.settings

    async def act(rt: Runtime, w: EventWatcher, stop: asyncio.Event) -> list[dict[str, Any]]:
        deadline = datetime.now(UTC) + timedelta(seconds=1)
        await send(rt, settings.jobs_queue, request(settings, "late", deadline=deadline))
        await asyncio.sleep(1.5)  # nobody took it in time
        worker = asyncio.create_task(Worker(rt).run(stop))
        await until(w, terminal(1))
        await w.poll(wait_seconds=2)  # anything more (a retry) would show by now
        stop.set()
        await asyncio.wait_for(worker, 60)
        return lifecycle(w)

    events = scenario(stack, short_clip, act)

    assert [e["type"] for e in events] == ["ffapi.job.failed"]
    error = events[0]["data"]["error"]
    assert (error["code"], error["retryable"]) == ("deadline_passed", False)
    assert stack.queue_depth(stack.resources.queue_url) == 0  # acknowledged, not retried


def test_lambda_requeues_a_job_for_later_on_the_queue_it_came_from(
    stack: Stack, short_clip: Path
) -> None:
    settings = stack.settings
    stack.client("s3").upload_file(str(short_clip), settings.input_bucket, KEY)
    sqs = stack.client("sqs")
    high_url = stack.resources.high_queue_url
    arn = sqs.get_queue_attributes(QueueUrl=high_url, AttributeNames=["QueueArn"])
    not_before = datetime.now(UTC) + timedelta(hours=2)
    body = request(settings, "tonight", priority="high", not_before=not_before)
    record = {
        "messageId": "m-later", "receiptHandle": "handle-later", "body": body,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": arn["Attributes"]["QueueArn"],
        "awsRegion": "us-east-1",
    }  # fmt: skip
    lambda_settings = settings.model_copy(
        update={"high_queue": high_url, "low_queue": stack.resources.low_queue_url}
    )

    response = asyncio.run(sqs_lambda.process_batch({"Records": [record]}, lambda_settings))

    assert response == {"batchItemFailures": []}  # acknowledged: its copy waits instead
    attrs = sqs.get_queue_attributes(
        QueueUrl=high_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesDelayed": "1"}
    assert stack.queue_depth(stack.resources.queue_url) <= 1  # only bootstrap's s3:TestEvent
