"""Jobs waiting for jobs named by id, on the embedded stack (moto's server over HTTP, the
real ffmpeg, our worker): a standalone dependent sent while its parent is queued (scheduled
seconds ahead, so that it has a record and has not ended) waits, is started by the
parent's completion and runs on its output; one whose parent fails ends as
``dependency_failed`` without running."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.jobs.results import derive_job_id
from core.models import JobRequest
from core.ports import QueueMessage
from handlers import cli
from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from tests.event_contract import check_event

from .conftest import Stack
from .test_batches import duration, job, of_type, upload_inputs

pytestmark = pytest.mark.integration

PRESET = "mp4-480p"


def item(stack: Stack, job_id: str) -> dict[str, Any] | None:
    found = stack.client("dynamodb").get_item(
        TableName=stack.settings.jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )
    got: dict[str, Any] | None = found.get("Item")
    return got


def run(stack: Stack, parents: list[dict[str, Any]], dependents: list[dict[str, Any]],
        ends: int) -> list[dict[str, Any]]:  # fmt: skip
    """Send ``parents``; once each has a record, send ``dependents``; run the worker until
    ``ends`` jobs completed or failed and the queue is empty. Every event, checked."""
    ids = [derive_job_id(JobRequest.model_validate(p), None) for p in parents]

    async def scenario() -> list[str]:
        async with open_runtime(stack.settings) as rt:
            c, url = rt.clients, stack.resources.queue_url
            async with EventWatcher.subscribe(c.sqs, c.sns, stack.resources.topic_arn) as w:
                stop = asyncio.Event()
                worker = asyncio.create_task(Worker(rt).run(stop))
                try:
                    async with asyncio.timeout(240):
                        for body in parents:
                            await c.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
                        while not all([await asyncio.to_thread(item, stack, i) for i in ids]):
                            await w.poll(wait_seconds=1)  # accepted: SCHEDULED, due later
                        for body in dependents:
                            await c.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
                        while sum(_ended(b) for b in w.received) < ends:
                            await w.poll(wait_seconds=1)
                        while await asyncio.to_thread(stack.queue_depth, url):
                            await w.poll(wait_seconds=1)
                        await w.poll(wait_seconds=2)  # anything a last message announced
                finally:
                    stop.set()
                    await worker
                return list(w.received)

    return [check_event(b) for b in asyncio.run(scenario())]


def _ended(body: str) -> bool:
    return '"ffapi.job.completed"' in body or '"ffapi.job.failed"' in body


def test_a_dependent_waits_for_its_parent_by_id_and_runs_on_its_output(
    stack: Stack, short_clip: Path, tmp_path: Path
) -> None:
    upload_inputs(stack, short_clip, ["parent"])
    soon = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    good = job(stack, "parent", idempotency_key="deps-good", not_before=soon)
    bad = job(stack, "bad", idempotency_key="deps-bad", not_before=soon)
    good_id, bad_id = (derive_job_id(JobRequest.model_validate(p), None) for p in (good, bad))
    on_output = {"version": 2, "preset": PRESET, "input": {"from": good_id, "output": "mp4"}}
    orphan = job(stack, "parent", after=[bad_id])

    events = run(stack, [good, bad], [on_output, orphan], ends=4)

    completed = {e["subject"]: e["data"] for e in of_type(events, "ffapi.job.completed")}
    failed = {e["subject"]: e["data"] for e in of_type(events, "ffapi.job.failed")}
    [child_id] = [i for i in completed if i != good_id]
    [orphan_id] = [i for i in failed if i != bad_id]
    # Exactly one completion each; the child ran on the parent's MP4.
    assert Counter(e["subject"] for e in of_type(events, "ffapi.job.completed")) == {
        good_id: 1, child_id: 1,
    }  # fmt: skip
    [parent_mp4] = [o for o in completed[good_id]["outputs"] if o["key"].endswith(".mp4")]
    child = completed[child_id]
    assert (child["input"]["bucket"], child["input"]["key"]) == (
        stack.settings.output_bucket, parent_mp4["key"],
    )  # fmt: skip
    [child_mp4] = [o for o in child["outputs"] if o["key"].endswith(".mp4")]
    s3 = stack.client("s3")
    for name, key in (("parent.mp4", parent_mp4["key"]), ("child.mp4", child_mp4["key"])):
        s3.download_file(stack.settings.output_bucket, key, str(tmp_path / name))
    assert duration(tmp_path / "child.mp4") == pytest.approx(
        duration(tmp_path / "parent.mp4"), abs=0.2
    )
    # It arrived while the parent had not ended: it was registered on the parent's record.
    parent_item = item(stack, good_id)
    assert parent_item is not None
    assert parent_item["dependents"]["SS"] == [child_id]
    # The orphan: one failure, dependency_failed, never started.
    assert failed[bad_id]["error"]["code"] == "invalid_media"
    assert failed[orphan_id]["error"]["code"] == "dependency_failed"
    assert sum(e["subject"] == orphan_id for e in of_type(events, "ffapi.job.failed")) == 1
    assert not any(e["subject"] == orphan_id for e in of_type(events, "ffapi.job.started"))
    bad_item = item(stack, bad_id)
    assert bad_item is not None
    assert bad_item["dependents"]["SS"] == [orphan_id]


def test_ffapi_jobs_lists_a_waiting_job(
    ffapi_env: Stack, short_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    upload_inputs(stack, short_clip, ["other"])
    running = job(stack, "parent", idempotency_key="deps-listed")
    parent_id = derive_job_id(JobRequest.model_validate(running), None)
    waiting = job(stack, "other", after=[parent_id])

    async def arrive() -> str:
        async with open_runtime(stack.settings) as rt:
            request = JobRequest.model_validate(running)
            await rt.jobs.claim(parent_id, request, 300, "m-parent")  # a worker runs it
            message = QueueMessage("m-dependent", json.dumps(waiting), 1)
            [outcome] = (await rt.dispatcher.handle(message)).jobs
            assert outcome.status == "WAITING"
            return outcome.job_id

    dependent_id = asyncio.run(arrive())
    assert cli.main(["jobs", "--status", "waiting"]) == 0
    listed = capsys.readouterr().out
    assert dependent_id in listed
    assert "WAITING" in listed
    assert parent_id not in listed  # RUNNING, not waiting
