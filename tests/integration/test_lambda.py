"""The Lambda entry point on an SQS batch: partial batch failures, over the real services."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from handlers import sqs_lambda
from infra.settings import Settings, settings_environment

from .conftest import Stack, drain_events, subscribe_queue

pytestmark = pytest.mark.integration


def sqs_record(message_id: str, body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "awsRegion": "us-east-1",
    }


def test_batch_acknowledges_finished_records(
    stack: Stack, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.settings
    stack.client("s3").upload_file(str(short_clip), settings.input_bucket, "library/a.mp4")
    events_queue = subscribe_queue(stack)
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    request = {"input": {"bucket": settings.input_bucket, "key": "library/a.mp4"}}
    event = {"Records": [sqs_record("m-ok", json.dumps(request)), sqs_record("m-bad", "nope")]}

    response = sqs_lambda.handler(event, None)

    assert response == {"batchItemFailures": []}
    by_type = {e["type"]: e for e in drain_events(stack, events_queue)}
    assert set(by_type) == {
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.progress", "ffapi.job.completed",
        "ffapi.job.failed",
    }  # fmt: skip
    assert by_type["ffapi.job.failed"]["data"]["error"]["code"] == "malformed_json"
    outputs = by_type["ffapi.job.completed"]["data"]["outputs"]
    assert {o["role"] for o in outputs} == {"video", "poster", "probe"}


def test_transient_failures_are_reported_per_record(stack: Stack, short_clip: Path) -> None:
    settings = stack.settings
    stack.client("s3").upload_file(str(short_clip), settings.input_bucket, "library/b.mp4")
    # The job store is unreachable: the job cannot be claimed, so it must come back.
    broken: Settings = settings.model_copy(update={"jobs_table": "no-such-table"})
    request = json.dumps({"input": {"bucket": settings.input_bucket, "key": "library/b.mp4"}})

    mixed = {"Records": [sqs_record("m-1", request), sqs_record("m-2", "[]")]}
    response = asyncio.run(sqs_lambda.process_batch(mixed, broken))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}

    every = {"Records": [sqs_record("m-3", request)]}
    with pytest.raises(sqs_lambda.BatchProcessingError):
        asyncio.run(sqs_lambda.process_batch(every, broken))


SCHEDULED = {
    "version": "0", "id": "5c7a4f0e-0000-4000-8000-000000000000",
    "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
    "time": "2026-12-07T13:00:00Z", "region": "us-east-1", "detail": {},
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/ffapi-SweepDeadLetters"],
}  # fmt: skip


def test_the_schedule_sweeps_the_dlq_and_announces_a_dead_lettered_job_once(
    stack: Stack, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose every invocation died (here: never even claimed) sits in the DLQ; the
    function's schedule fails it once as max_attempts and leaves the letter. (Which records
    the sweep may fail: tests/integration/test_give_up_contract.py.)"""
    settings = stack.settings
    stack.client("s3").upload_file(str(short_clip), settings.input_bucket, "library/d.mp4")
    events_queue = subscribe_queue(stack)
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    request = {"input": {"bucket": settings.input_bucket, "key": "library/d.mp4"}}
    dlq = stack.resources.dlq_url
    stack.client("sqs").send_message(QueueUrl=dlq, MessageBody=json.dumps(request))

    first = sqs_lambda.handler(SCHEDULED, None)
    again = sqs_lambda.handler(SCHEDULED, None)

    [job_id] = first["failed"]
    assert (first["letters"], first["announced"]) == (1, [])
    assert again == {"letters": 1, "failed": [], "announced": []}
    [failed] = [e for e in drain_events(stack, events_queue) if e["type"] == "ffapi.job.failed"]
    assert failed["subject"] == job_id
    assert failed["data"]["error"]["code"] == "max_attempts"
    assert failed["data"]["error"]["details"]["cause"]["code"] == "worker_lost"
    assert stack.queue_depth(dlq) == 1
