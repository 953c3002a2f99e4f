"""The container worker's own duties: drain on shutdown, count what it did."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.health import serve_health

from .conftest import Stack

pytestmark = pytest.mark.integration


def test_metrics_are_served_for_prometheus() -> None:
    async def fetch() -> str:
        async with serve_health(None, 0, host="127.0.0.1") as port:
            url = f"http://127.0.0.1:{port}/metrics"
            with await asyncio.to_thread(urllib.request.urlopen, url, timeout=10) as resp:
                return str(resp.read().decode())

    body = asyncio.run(fetch())
    assert "# TYPE ffapi_jobs_total counter" in body
    assert "# TYPE ffapi_message_seconds histogram" in body


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stopping_the_worker_lets_the_running_job_finish(stack: Stack, sample_clip: Path) -> None:
    settings = stack.settings
    completed = {"status": "COMPLETED", "preset": "mp4-720p"}  # the stack's preset
    completed_before = sample("ffapi_jobs_total", completed)
    acked_before = sample("ffapi_messages_total", {"disposition": "ack"})

    async def scenario() -> list[dict[str, object]]:
        async with open_runtime(settings) as rt:
            c = rt.clients
            async with EventWatcher.subscribe(c.sqs, c.sns, stack.resources.topic_arn) as watcher:
                await c.s3.upload_file(
                    str(sample_clip), settings.input_bucket, f"{settings.watch_prefix}drain.mp4"
                )
                stop = asyncio.Event()
                worker = asyncio.create_task(Worker(rt).run(stop))
                async with asyncio.timeout(60):
                    while not any('"ffapi.job.started"' in b for b in watcher.received):
                        await watcher.poll(wait_seconds=1)
                stop.set()  # as on SIGTERM: the job is mid-transcode
                await asyncio.wait_for(worker, 120)
                await watcher.poll(wait_seconds=1)
                return [json.loads(b) for b in watcher.received]

    events = asyncio.run(scenario())

    lifecycle = [e["type"] for e in events if e["type"] != "ffapi.job.progress"]
    assert lifecycle == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.completed"]
    assert stack.queue_depth(stack.resources.queue_url) == 0  # deleted before the exit
    assert sample("ffapi_jobs_total", completed) == completed_before + 1
    # The s3:TestEvent from bootstrap and the upload's event were both acknowledged.
    assert sample("ffapi_messages_total", {"disposition": "ack"}) == acked_before + 2


def test_stopping_during_a_long_poll_hides_no_message(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"wait_time_seconds": 5})
    sqs = stack.client("sqs")
    sqs.purge_queue(QueueUrl=stack.resources.queue_url)  # drop bootstrap's s3:TestEvent

    async def scenario() -> None:
        async with open_runtime(settings) as rt:
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            await asyncio.sleep(1.0)  # the worker is now inside a 5 s long poll
            stop.set()
            # A message arriving while that poll is still open on the server side:
            await rt.clients.sqs.send_message(
                QueueUrl=stack.resources.queue_url, MessageBody='{"Event": "s3:TestEvent"}'
            )
            await asyncio.wait_for(worker, 30)

    asyncio.run(scenario())

    attrs = sqs.get_queue_attributes(
        QueueUrl=stack.resources.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    # Visible right away for the next worker, not hidden for a visibility timeout.
    assert attrs == {
        "ApproximateNumberOfMessages": "1",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
