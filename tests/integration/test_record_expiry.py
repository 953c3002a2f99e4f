"""A finished job's record carries its expiry (the table's TTL attribute); a running or
retrying one does not, and a claim after a redrive takes it off again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.jobs.job_record import RecordedError
from core.jobs.results import JobResult
from core.models import JobRequest, S3ObjectRef
from infra.aws import open_clients
from infra.jobstore import DynamoJobStore

from .conftest import Stack

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
DAY = 86400
REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")
ERROR = RecordedError(code="transcode_failed", retryable=True, message="ffmpeg failed")


def _result(job_id: str, attempt: int) -> JobResult:
    return JobResult.model_validate(
        {
            "job_id": job_id,
            "input": {"bucket": "in-bucket", "key": "clip.mp4"},
            "preset": "web-hls",
            "output": {"bucket": "out", "prefix": "p"},
            "source": {"format": "mov", "duration": 1.0, "size": 1},
            "timings": {},
            "attempt": attempt,
            "started_at": "2027-01-15T08:00:00Z",
            "completed_at": "2027-01-15T08:00:01Z",
            "outputs": [],
            "encoder": "libx264",
        }
    )


def test_a_finished_record_expires_after_its_days(stack: Stack) -> None:
    async def records() -> dict[str, dict[str, Any]]:
        async with open_clients(stack.settings) as clients:
            store = DynamoJobStore(
                clients.dynamodb, stack.settings.jobs_table, lambda: NOW, keep_days=30
            )
            found = {}
            for job in ("j-ttl-done", "j-ttl-failed", "j-ttl-retrying", "j-ttl-redriven"):
                claim = await store.claim(job, REQUEST, 60, "message")
                assert claim.outcome == "claimed"
            assert await store.complete("j-ttl-done", _result("j-ttl-done", 1))
            assert await store.fail("j-ttl-failed", ERROR, final=True, attempt=1)
            assert await store.fail("j-ttl-retrying", ERROR, final=False, attempt=1)
            assert await store.fail("j-ttl-redriven", ERROR, final=True, attempt=1)
            redriven = await store.claim("j-ttl-redriven", REQUEST, 60, "message-2")
            assert redriven.outcome == "claimed"  # failed retryably: a redrive takes it again
            for job in ("j-ttl-done", "j-ttl-failed", "j-ttl-retrying", "j-ttl-redriven"):
                item = await clients.dynamodb.get_item(
                    TableName=stack.settings.jobs_table, Key={"job_id": {"S": job}}
                )
                found[job] = item["Item"]
            return found

    found = asyncio.run(records())
    expiry = str(int(NOW) + 30 * DAY)
    assert found["j-ttl-done"]["expires_at"] == {"N": expiry}
    assert found["j-ttl-failed"]["expires_at"] == {"N": expiry}
    assert "expires_at" not in found["j-ttl-retrying"]
    assert "expires_at" not in found["j-ttl-redriven"]


def test_no_expiry_when_records_are_kept(stack: Stack) -> None:
    async def record() -> dict[str, Any]:
        async with open_clients(stack.settings) as clients:
            store = DynamoJobStore(clients.dynamodb, stack.settings.jobs_table, lambda: NOW)
            await store.claim("j-ttl-kept", REQUEST, 60, "message")
            assert await store.complete("j-ttl-kept", _result("j-ttl-kept", 1))
            item = await clients.dynamodb.get_item(
                TableName=stack.settings.jobs_table, Key={"job_id": {"S": "j-ttl-kept"}}
            )
            return dict(item["Item"])

    assert "expires_at" not in asyncio.run(record())
