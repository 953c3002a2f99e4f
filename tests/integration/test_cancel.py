"""Cancelling a running web-hls job mid-encode, on the embedded stack with the real ffmpeg:
by a cancel message the worker running it takes itself (stopped at once, through its
registry of running attempts), and by ``ffapi cancel`` writing the table (the worker learns
it at its next lease renewal, with no polling of its own). Either way: no ffmpeg left,
its job directory gone, nothing under the job's output prefix, exactly one
``job.cancelled`` on the topic, the record CANCELLED, and both messages gone from the queue.
A job that completed before the cancel stays completed, and the command says so; one
cancelled while still queued is acknowledged unrun when its message comes."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.jobs.results import JobStatus
from handlers import cli
from handlers.runtime import Runtime, open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.ffmpeg import make_sample_clip
from infra.settings import Settings
from tests.event_contract import check_event

from .conftest import Stack, drain_events, job_record, run_worker, subscribe_queue

pytestmark = pytest.mark.integration

Cancel = Callable[[Runtime, str], Awaitable[None]]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that a web-hls encode is still running when the cancel comes."""
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    return asyncio.run(make_sample_clip(path, seconds=20))


def ffmpeg_in(directory: Path) -> list[int]:
    """The ffmpeg processes working under ``directory`` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if (
            argv
            and Path(argv[0].decode()).name == "ffmpeg"
            and str(directory).encode() in b" ".join(argv)
        ):
            found.append(int(proc.name))
    return found


def wait_for_ffmpeg(work: Path) -> None:
    while not ffmpeg_in(work):
        time.sleep(0.2)


async def running_job(rt: Runtime, work: Path) -> str:
    """The job id once its encode has started."""
    await asyncio.to_thread(wait_for_ffmpeg, work)
    [record] = await rt.jobs.recent(JobStatus.RUNNING)
    return record.job_id


async def cancel_mid_encode(stack: Stack, settings: Settings, cancel: Cancel) -> dict[str, Any]:
    """Run a worker on the uploaded clip, cancel its job once ffmpeg runs, and report what
    was left when ``job.cancelled`` arrived and what the topic said until the worker stopped."""
    work = settings.temp_dir
    assert work is not None
    async with open_runtime(settings) as rt:
        clients = rt.clients
        async with EventWatcher.subscribe(clients.sqs, clients.sns, stack.resources.topic_arn) as w:
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            try:
                job_id = await asyncio.wait_for(running_job(rt, work), 120)
                await cancel(rt, job_id)
                async with asyncio.timeout(120):
                    while not any(
                        json.loads(b)["type"] == "ffapi.job.cancelled" for b in w.received
                    ):
                        await w.poll(wait_seconds=1)
                left = {"ffmpeg": ffmpeg_in(work), "dirs": sorted(p.name for p in work.iterdir())}
                for _ in range(3):  # anything more the worker might say
                    await w.poll(wait_seconds=1)
            finally:
                stop.set()
                await worker
            events = [check_event(b) for b in w.received]
    return {"job_id": job_id, "events": events, **left}


def check_cancelled(stack: Stack, seen: dict[str, Any]) -> None:
    job_id = seen["job_id"]
    assert seen["ffmpeg"] == []  # killed, not orphaned
    assert seen["dirs"] == []  # its job directory removed
    types = [e["type"] for e in seen["events"] if e["subject"] == job_id]
    assert types.count("ffapi.job.cancelled") == 1
    assert "ffapi.job.completed" not in types
    assert "ffapi.job.failed" not in types
    [cancelled] = [e for e in seen["events"] if e["type"] == "ffapi.job.cancelled"]
    assert (cancelled["subject"], cancelled["data"]["status"]) == (job_id, "CANCELLED")
    assert cancelled["data"]["input"]["key"] == f"{stack.settings.watch_prefix}long.mp4"
    published = stack.client("s3").list_objects_v2(
        Bucket=stack.settings.output_bucket, Prefix=f"{stack.settings.output_prefix}/{job_id}/"
    )
    assert published["KeyCount"] == 0  # no job.json, no segment, no playlist
    assert job_record(stack, job_id)["status"]["S"] == "CANCELLED"
    assert stack.queue_depth(stack.resources.queue_url) == 0  # the job's and the cancel's


def test_a_cancel_message_stops_the_running_encode_it_reaches(
    ffapi_env: Stack, long_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    settings = stack.settings.model_copy(update={"preset": "web-hls"})
    stack.client("s3").upload_file(
        str(long_clip), settings.input_bucket, f"{settings.watch_prefix}long.mp4"
    )
    said: list[int] = []

    async def send_cancel(rt: Runtime, job_id: str) -> None:  # the message, on the jobs queue
        said.append(await asyncio.to_thread(cli.main, ["cancel", job_id, "--via-queue"]))

    seen = asyncio.run(cancel_mid_encode(stack, settings, send_cancel))

    assert said == [0]
    assert f"sent       cancel for {seen['job_id']}" in capsys.readouterr().out
    check_cancelled(stack, seen)


def test_ffapi_cancel_reaches_the_running_encode_through_its_lease_renewal(
    ffapi_env: Stack, long_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    # The shortest lease the settings allow (10 s): renewed every 3.3 s.
    settings = stack.settings.model_copy(update={"preset": "web-hls", "visibility_timeout": 10})
    stack.client("s3").upload_file(
        str(long_clip), settings.input_bucket, f"{settings.watch_prefix}long.mp4"
    )
    said: list[int] = []

    async def run_command(rt: Runtime, job_id: str) -> None:
        said.append(await asyncio.to_thread(cli.main, ["cancel", job_id]))

    seen = asyncio.run(cancel_mid_encode(stack, settings, run_command))

    assert said == [0]
    assert f"cancelling {seen['job_id']} (running" in capsys.readouterr().out
    check_cancelled(stack, seen)
    assert cli.main(["cancel", seen["job_id"]]) == 0  # twice: harmless, and nothing said
    assert f"cancelled  {seen['job_id']} (already)" in capsys.readouterr().out


def test_a_job_completed_before_the_cancel_stays_completed(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    stack.client("s3").upload_file(
        str(short_clip), stack.settings.input_bucket, f"{stack.settings.watch_prefix}s.mp4"
    )
    [completed] = run_worker(stack).of_type("completed")
    capsys.readouterr()

    assert cli.main(["cancel", completed["subject"]]) == 1
    assert "had already completed" in capsys.readouterr().out
    assert job_record(stack, completed["subject"])["status"]["S"] == "COMPLETED"


def test_a_queued_job_cancelled_before_any_worker_took_it_never_runs(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    events = subscribe_queue(stack)
    assert cli.main(["submit", str(short_clip)]) == 0
    [job_id] = re.findall(r"job\s+(j-[0-9a-f]{24})", capsys.readouterr().out)

    assert cli.main(["cancel", job_id]) == 0
    assert f"cancelled  {job_id} (not started: it will not run)" in capsys.readouterr().out
    queue = stack.resources.queue_url
    scenario = run_worker(stack, terminal=0, settle=30, until=lambda: stack.queue_depth(queue) == 0)

    assert stack.queue_depth(queue) == 0  # its message taken and acknowledged, unrun
    assert scenario.events == []  # no received, no started: the worker never began it
    [cancelled] = drain_events(stack, events)
    assert (cancelled["type"], cancelled["subject"]) == ("ffapi.job.cancelled", job_id)
    assert cancelled["data"]["input"] is None  # no worker had read its request
    assert job_record(stack, job_id)["status"]["S"] == "CANCELLED"
    published = stack.client("s3").list_objects_v2(Bucket=stack.settings.output_bucket)
    assert published["KeyCount"] == 0
