"""Batches on the embedded stack (moto's server over HTTP, the real ffmpeg, our worker): a
batch of five with one bad input ends in one ``batch.completed``; the batch sent again
creates nothing; a dependent job runs on its parent's output, and one whose parent failed
fails as ``dependency_failed``; a cycle is refused at submission."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from handlers import sqs_lambda
from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from tests.event_contract import check_event

from .conftest import Stack

pytestmark = pytest.mark.integration

PRESET = "mp4-480p"


def upload_inputs(stack: Stack, clip: Path, names: list[str]) -> None:
    """The clip under each name (outside the watched prefix: only the batch starts jobs), and
    ``bad.mp4``: a text file."""
    s3, bucket = stack.client("s3"), stack.settings.input_bucket
    for name in names:
        s3.upload_file(str(clip), bucket, f"batch/{name}.mp4")
    s3.put_object(Bucket=bucket, Key="batch/bad.mp4", Body=b"not a video, a text file\n")


def job(stack: Stack, key: str, **extra: Any) -> dict[str, Any]:
    ref = {"bucket": stack.settings.input_bucket, "key": f"batch/{key}.mp4"}
    return {"version": 2, "input": ref, "preset": PRESET, **extra}


def run_batches(
    stack: Stack, bodies: list[dict[str, Any]], batches: int, then: tuple[dict[str, Any], ...] = ()
) -> list[dict[str, Any]]:
    """Send ``bodies``, run the worker until ``batches`` batch.completed arrived; then send
    ``then`` and run until the jobs queue is empty again. Every event, checked against its
    schema."""

    async def scenario() -> list[str]:
        async with open_runtime(stack.settings) as rt:
            c, url = rt.clients, stack.resources.queue_url
            async with EventWatcher.subscribe(c.sqs, c.sns, stack.resources.topic_arn) as w:
                for body in bodies:
                    await c.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
                stop = asyncio.Event()
                worker = asyncio.create_task(Worker(rt).run(stop))
                try:
                    async with asyncio.timeout(240):
                        while sum('"ffapi.batch.completed"' in b for b in w.received) < batches:
                            await w.poll(wait_seconds=1)
                        for body in then:
                            await c.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
                        await w.poll(wait_seconds=2)
                        while await asyncio.to_thread(stack.queue_depth, url):
                            await w.poll(wait_seconds=1)
                        await w.poll(wait_seconds=2)  # anything a last message announced
                finally:
                    stop.set()
                    await worker
                return list(w.received)

    return [check_event(b) for b in asyncio.run(scenario())]


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_ and e["type"] != "ffapi.job.progress"]


def table_items(stack: Stack) -> list[str]:
    items = stack.client("dynamodb").scan(TableName=stack.settings.jobs_table)["Items"]
    return sorted(i["job_id"]["S"] for i in items)


def test_a_batch_of_five_with_one_bad_input_ends_in_one_batch_completed(
    stack: Stack, short_clip: Path
) -> None:
    upload_inputs(stack, short_clip, ["one", "two", "three", "four"])
    five = {
        "version": 2,
        "batch": {
            "id": "five",
            "jobs": [job(stack, k) for k in ("one", "two", "bad", "three", "four")],
        },
    }
    cycle = {
        "version": 2,
        "batch": {
            "id": "loop",
            "jobs": [
                job(stack, "one", name="x", after=["y"]),
                job(stack, "two", name="y", after=["x"]),
            ],
        },
    }
    events = run_batches(stack, [five, cycle], batches=1)
    [done] = of_type(events, "ffapi.batch.completed")
    data = done["data"]
    assert (data["total"], data["completed"], data["failed"], data["cancelled"]) == (5, 4, 1, 0)
    completed = of_type(events, "ffapi.job.completed")
    assert sorted(e["subject"] for e in completed) == sorted(
        j["job_id"] for j in data["jobs"] if j["status"] == "COMPLETED"
    )
    failures = {e["subject"]: e["data"]["error"] for e in of_type(events, "ffapi.job.failed")}
    [bad] = [j["job_id"] for j in data["jobs"] if j["status"] == "FAILED"]
    assert failures[bad]["code"] == "invalid_media"
    # The cycle was refused at submission: one failure naming it, no job, no record.
    [refusal] = [f for job_id, f in failures.items() if job_id.startswith("m-")]
    assert refusal["code"] == "invalid_request"
    assert "batch.jobs[0].after: a cycle" in refusal["message"]
    items = table_items(stack)
    assert len(items) == 6  # five jobs and one batch record

    # Sent again: nothing new is created, run or announced.
    again = run_batches(stack, [], batches=0, then=(five,))
    assert [e for e in again if e["type"] != "ffapi.job.progress"] == []
    assert table_items(stack) == items


def duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return float(json.loads(out)["format"]["duration"])


def test_a_dependent_runs_on_its_parents_output_and_another_fails_with_its_parent(
    stack: Stack, short_clip: Path, tmp_path: Path
) -> None:
    upload_inputs(stack, short_clip, ["source"])
    chain = {
        "version": 2,
        "batch_manifest": {"bucket": stack.settings.input_bucket, "key": "batch/chain.json"},
    }
    doc = {
        "id": "chain",
        "jobs": [
            job(stack, "source", name="encode"),
            {"version": 2, "name": "again", "preset": PRESET,
             "input": {"from": "encode", "output": "mp4"}},
            job(stack, "bad", name="broken"),
            job(stack, "source", name="orphan", after=["broken"]),
        ],
    }  # fmt: skip
    stack.client("s3").put_object(
        Bucket=stack.settings.input_bucket, Key="batch/chain.json", Body=json.dumps(doc).encode()
    )
    events = run_batches(stack, [chain], batches=1)
    [done] = of_type(events, "ffapi.batch.completed")
    by_name = {j["name"]: j for j in done["data"]["jobs"]}
    assert {n: j["status"] for n, j in by_name.items()} == {
        "encode": "COMPLETED", "again": "COMPLETED", "broken": "FAILED", "orphan": "FAILED",
    }  # fmt: skip
    completed = {e["subject"]: e["data"] for e in of_type(events, "ffapi.job.completed")}
    parent, child = completed[by_name["encode"]["job_id"]], completed[by_name["again"]["job_id"]]
    [parent_mp4] = [o for o in parent["outputs"] if o["key"].endswith(".mp4")]
    assert child["input"]["key"] == parent_mp4["key"]  # its parent's output, as its input
    assert child["input"]["bucket"] == stack.settings.output_bucket
    [child_mp4] = [o for o in child["outputs"] if o["key"].endswith(".mp4")]
    local = tmp_path / "child.mp4"
    stack.client("s3").download_file(stack.settings.output_bucket, child_mp4["key"], str(local))
    assert duration(local) == pytest.approx(duration(short_clip), abs=0.2)
    failures = {e["subject"]: e["data"]["error"] for e in of_type(events, "ffapi.job.failed")}
    orphan = by_name["orphan"]["job_id"]
    assert failures[orphan]["code"] == "dependency_failed"
    assert failures[orphan]["retryable"] is False
    assert sum(e["subject"] == orphan for e in of_type(events, "ffapi.job.failed")) == 1
    assert not any(e["subject"] == orphan for e in of_type(events, "ffapi.job.started"))


def test_lambda_fans_a_batch_out_onto_the_jobs_queue(stack: Stack) -> None:
    """Lambda holds no queue of its own (the event source mapping reads it): the fan-out
    sends on the queue its settings name."""
    sqs, url = stack.client("sqs"), stack.resources.queue_url
    sqs.purge_queue(QueueUrl=url)  # bootstrap's s3:TestEvent
    body = {
        "version": 2,
        "batch": {"id": "from-lambda", "jobs": [job(stack, "a"), job(stack, "b")]},
    }
    record = {
        "messageId": "m-batch", "receiptHandle": "handle", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
    }  # fmt: skip

    response = asyncio.run(sqs_lambda.process_batch({"Records": [record]}, stack.settings))

    assert response == {"batchItemFailures": []}
    sent = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    jobs = sorted(
        (json.loads(m["Body"]) for m in sent["Messages"]), key=lambda j: j["input"]["key"]
    )
    assert [(j["input"]["key"], j["batch"]["index"]) for j in jobs] == [
        ("batch/a.mp4", 0), ("batch/b.mp4", 1),
    ]  # fmt: skip
    assert [j["idempotency_key"] for j in jobs] == ["from-lambda/0", "from-lambda/1"]
