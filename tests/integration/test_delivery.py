"""Delivery semantics over the real queue: duplicates, permanent and transient failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.errors import InputChanged
from core.models import S3ObjectRef
from infra.aws import open_clients
from infra.storage import S3ObjectStore

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration


def test_requests_under_one_idempotency_key_run_one_job(stack: Stack, short_clip: Path) -> None:
    s3, sqs, settings = stack.client("s3"), stack.client("sqs"), stack.settings
    s3.upload_file(str(short_clip), settings.input_bucket, "library/keyed.mp4")
    first = {
        "input": {"bucket": settings.input_bucket, "key": "library/keyed.mp4"},
        "preset": "mp4-480p",
        "idempotency_key": "order-4711",
    }
    # Re-sent by a client that timed out, and this time asking for another preset.
    resent = {**first, "preset": "mp4-720p"}
    for body in (first, resent):
        sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(body))

    scenario = run_worker(
        stack, settle=10.0, until=lambda: stack.queue_depth(stack.resources.queue_url) == 0
    )

    assert len(scenario.of_type("received")) == 1
    assert len(scenario.of_type("started")) == 1
    [completed] = scenario.of_type("completed")  # as the request that claimed it first asked
    assert completed["data"]["preset"] in ("mp4-480p", "mp4-720p")
    assert stack.queue_depth(stack.resources.queue_url) == 0


def test_the_same_upload_announced_twice_runs_one_job(stack: Stack, short_clip: Path) -> None:
    s3, settings = stack.client("s3"), stack.settings
    key = f"{settings.watch_prefix}twice.mp4"
    s3.upload_file(str(short_clip), settings.input_bucket, key)
    s3.upload_file(str(short_clip), settings.input_bucket, key)  # same bytes, same ETag

    # The second notification finds the job running under the first, or done: dropped either way.
    scenario = run_worker(
        stack, settle=10.0, until=lambda: stack.queue_depth(stack.resources.queue_url) == 0
    )

    assert len(scenario.of_type("started")) == 1
    assert len(scenario.of_type("completed")) == 1
    record = job_record(stack, scenario.of_type("completed")[0]["subject"])
    assert record["status"]["S"] == "COMPLETED"
    assert record["attempts"]["N"] == "1"
    assert stack.queue_depth(stack.resources.queue_url) == 0


def test_direct_request_keeps_its_preset_destination_and_metadata(
    stack: Stack, short_clip: Path
) -> None:
    s3, sqs, settings = stack.client("s3"), stack.client("sqs"), stack.settings
    prefix = settings.output_prefix  # a request may name a folder below it, never outside
    s3.upload_file(str(short_clip), settings.input_bucket, "library/talk.mp4")
    request = {
        "version": 1,
        "input": {"bucket": settings.input_bucket, "key": "library/talk.mp4"},
        "preset": "mp4-480p",
        "output": {"bucket": settings.output_bucket, "prefix": f"{prefix}/renditions/2026"},
        "correlation_id": "order-4711",
        "metadata": {"tenant": "acme"},
    }
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(request))

    scenario = run_worker(stack)

    [done] = scenario.of_type("completed")
    data = done["data"]
    assert data["preset"] == "mp4-480p"
    assert data["correlation_id"] == "order-4711"
    assert data["metadata"] == {"tenant": "acme"}
    video = next(o for o in data["outputs"] if o["role"] == "video")
    assert video["key"] == f"{prefix}/renditions/2026/{done['subject']}/video.mp4"
    assert (video["width"], video["height"]) == (320, 180)  # never upscaled to 480p
    job_json = f"{prefix}/renditions/2026/{done['subject']}/job.json"
    s3.head_object(Bucket=settings.output_bucket, Key=job_json)


def test_request_for_a_missing_object_fails_permanently(stack: Stack) -> None:
    sqs, settings = stack.client("sqs"), stack.settings
    request = {"input": {"bucket": settings.input_bucket, "key": "library/gone.mp4"}}
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(request))

    scenario = run_worker(stack, settle=2.0)

    [failed] = scenario.of_type("failed")
    assert failed["data"]["error"]["code"] == "input_not_found"
    assert failed["data"]["error"]["retryable"] is False
    assert scenario.of_type("started") == []  # it never became a running job
    assert stack.queue_depth(stack.resources.queue_url) == 0
    assert stack.queue_depth(stack.resources.dlq_url) == 0


def test_a_version_never_issued_fails_permanently(stack: Stack, short_clip: Path) -> None:
    """S3 answers 400 to a version id it never issued (found by the security suite: it was
    retried as storage_unavailable into the DLQ, unannounced)."""
    s3, sqs, settings = stack.client("s3"), stack.client("sqs"), stack.settings
    s3.upload_file(str(short_clip), settings.input_bucket, "library/versioned.mp4")
    ref = {
        "bucket": settings.input_bucket,
        "key": "library/versioned.mp4",
        "version_id": "not.a.version~id",
    }
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps({"input": ref}))

    scenario = run_worker(stack, settle=2.0)

    [failed] = scenario.of_type("failed")
    assert failed["data"]["error"]["code"] == "input_not_found"
    assert failed["data"]["error"]["retryable"] is False
    assert stack.queue_depth(stack.resources.queue_url) == 0
    assert stack.queue_depth(stack.resources.dlq_url) == 0


def test_malformed_message_is_announced_once_and_dropped(stack: Stack) -> None:
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody='{"input": {"bucket": ')

    scenario = run_worker(stack, settle=2.0)

    [failed] = scenario.events
    assert failed["type"] == "ffapi.job.failed"
    assert failed["subject"].startswith("m-")
    assert failed["data"]["error"]["code"] == "malformed_json"
    assert failed["data"]["error"]["retryable"] is False
    assert stack.queue_depth(stack.resources.queue_url) == 0
    assert stack.queue_depth(stack.resources.dlq_url) == 0


def test_transient_failure_is_retried_then_dead_lettered(stack: Stack, short_clip: Path) -> None:
    s3, settings = stack.client("s3"), stack.settings
    s3.upload_file(str(short_clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")
    # The destination bucket does not exist: every upload fails, as in an S3 outage.
    broken = settings.model_copy(update={"output_bucket": f"{settings.output_bucket}-missing"})

    scenario = run_worker(
        stack,
        settings=broken,
        settle=20.0,
        until=lambda: stack.queue_depth(stack.resources.dlq_url) == 1,
    )

    # Tried max_receive_count times, announced once on the last try, then kept in the DLQ.
    assert len(scenario.of_type("started")) == settings.max_receive_count
    [failed] = scenario.of_type("failed")
    error = failed["data"]["error"]
    assert (error["code"], error["retryable"]) == ("max_attempts", True)
    assert error["details"]["cause"]["code"] == "storage_unavailable"
    assert error["details"]["attempts"] == settings.max_receive_count
    record = job_record(stack, failed["subject"])
    assert record["status"]["S"] == "FAILED"
    assert record["attempts"]["N"] == str(settings.max_receive_count)
    assert stack.queue_depth(stack.resources.dlq_url) == 1
    assert stack.queue_depth(stack.resources.queue_url) == 0


def test_a_late_duplicate_after_the_upload_was_deleted_changes_nothing(
    stack: Stack, short_clip: Path
) -> None:
    s3, sqs, settings = stack.client("s3"), stack.client("sqs"), stack.settings
    key = f"{settings.watch_prefix}late.mp4"
    s3.upload_file(str(short_clip), settings.input_bucket, key)
    [done] = run_worker(stack).of_type("completed")
    etag = s3.head_object(Bucket=settings.input_bucket, Key=key)["ETag"].strip('"')
    s3.delete_object(Bucket=settings.input_bucket, Key=key)  # the client cleans up
    late = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": settings.input_bucket},
                    "object": {"key": "incoming/late.mp4", "eTag": etag, "size": 1},
                },
            }
        ]
    }
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(late))

    scenario = run_worker(stack, terminal=0, settle=3.0)

    assert scenario.events == []  # no job.failed for a job that completed
    assert job_record(stack, done["subject"])["status"]["S"] == "COMPLETED"
    assert stack.queue_depth(stack.resources.queue_url) == 0


def test_an_input_overwritten_after_its_head_is_not_downloaded(
    stack: Stack, tmp_path: Path
) -> None:
    """The download is pinned to the ETag the HEAD saw: a larger object put there since
    (beyond the size checked and the disk reserved) is refused by S3, not fetched."""
    bucket = stack.settings.input_bucket
    s3 = stack.client("s3")
    s3.put_object(Bucket=bucket, Key="library/swap.mp4", Body=b"small")

    async def swap_then_download() -> bytes:
        async with open_clients(stack.settings) as clients:
            store = S3ObjectStore(clients.s3)
            ref = S3ObjectRef(bucket=bucket, key="library/swap.mp4")
            info = await store.head(ref)
            pinned = ref.model_copy(update={"etag": info.etag, "size": info.size})
            s3.put_object(Bucket=bucket, Key="library/swap.mp4", Body=b"x" * 100_000)
            with pytest.raises(InputChanged):
                await store.download(pinned, tmp_path / "stale")
            fresh = await store.head(ref)
            await store.download(ref.model_copy(update={"etag": fresh.etag}), tmp_path / "new")
            return (tmp_path / "new").read_bytes()

    assert asyncio.run(swap_then_download()) == b"x" * 100_000
    stale = tmp_path / "stale"
    assert not stale.exists() or stale.stat().st_size == 0  # opened, never written
