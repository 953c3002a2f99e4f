"""The container worker's own duties: drain on shutdown, count what it did."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker

from .conftest import Stack

pytestmark = pytest.mark.integration


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stopping_the_worker_lets_the_running_job_finish(stack: Stack, sample_clip: Path) -> None:
    settings = stack.settings
    completed_before = sample("ffapi_jobs_total", {"status": "COMPLETED"})
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

    assert [e["type"] for e in events] == ["ffapi.job.started", "ffapi.job.completed"]
    assert stack.queue_depth(stack.resources.queue_url) == 0  # deleted before the exit
    assert sample("ffapi_jobs_total", {"status": "COMPLETED"}) == completed_before + 1
    # The s3:TestEvent from bootstrap and the upload's event were both acknowledged.
    assert sample("ffapi_messages_total", {"disposition": "ack"}) == acked_before + 2
