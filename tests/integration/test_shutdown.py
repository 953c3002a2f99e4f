"""SIGTERM mid-encode: the worker stops within its drain budget, kills its ffmpeg, hands the
job and its message back, and another worker finishes the job with one completion."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from handlers.runtime import open_runtime
from handlers.worker import Worker
from infra.ffmpeg import make_sample_clip

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that a web-hls encode is still running when the worker is stopped."""
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    return asyncio.run(make_sample_clip(path, seconds=20))


def ffmpeg_in(directory: Path) -> list[str]:
    """Command lines of the ffmpeg processes working under ``directory``."""
    found = subprocess.run(
        ["pgrep", "-af", f"ffmpeg .*{directory}"], capture_output=True, text=True, check=False
    )
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def wait_for_ffmpeg(work: Path) -> None:
    while not ffmpeg_in(work):  # the encode has started
        time.sleep(0.2)


async def stop_mid_encode(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"preset": "web-hls", "drain_seconds": 0.5})
    work = settings.temp_dir
    assert work is not None
    async with open_runtime(settings) as rt:
        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(rt).run(stop))
        await asyncio.wait_for(asyncio.to_thread(wait_for_ffmpeg, work), 120)
        stop.set()  # what SIGTERM does (handlers/service.py)
        async with asyncio.timeout(30):  # the budget, plus killing and handing back
            await worker


def test_sigterm_mid_encode_hands_the_job_back_and_another_worker_finishes_it(
    stack: Stack, long_clip: Path
) -> None:
    s3, settings = stack.client("s3"), stack.settings
    s3.upload_file(str(long_clip), settings.input_bucket, f"{settings.watch_prefix}long.mp4")

    asyncio.run(stop_mid_encode(stack))

    assert settings.temp_dir is not None
    assert ffmpeg_in(settings.temp_dir) == []  # killed, not orphaned
    assert list(settings.temp_dir.iterdir()) == []  # its job directory removed
    sqs = stack.client("sqs")
    attrs = sqs.get_queue_attributes(
        QueueUrl=stack.resources.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    # Visible again at once, not after the visibility timeout.
    assert attrs == {
        "ApproximateNumberOfMessages": "1",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }

    # Another worker picks it up at once and finishes it.
    finish = settings.model_copy(update={"preset": "web-hls"})
    scenario = run_worker(stack, settings=finish, timeout=300)

    [completed] = scenario.of_type("completed")
    job_id = completed["subject"]
    assert completed["data"]["attempt"] == 2
    assert [e["data"]["attempt"] for e in scenario.of_type("started")] == [2]
    assert scenario.of_type("failed") == []
    record = job_record(stack, job_id)
    assert record["status"]["S"] == "COMPLETED"
    assert record["attempts"]["N"] == "2"
    assert stack.queue_depth(stack.resources.queue_url) == 0
