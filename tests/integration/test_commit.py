"""The commit marker on the real stack: a retried job adopts a committed result without
encoding again, and replaces an unfinished attempt's files without leaving a mix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from infra.aws import open_clients
from infra.storage import S3ObjectStore

from .conftest import Stack, run_worker

pytestmark = pytest.mark.integration


def first_run(stack: Stack, clip: Path) -> dict[str, object]:
    s3, settings = stack.client("s3"), stack.settings
    s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")
    [completed] = run_worker(stack).of_type("completed")
    return completed


def forget_the_outcome(stack: Stack, job_id: str) -> None:
    """As if the worker died after committing job.json but before recording the outcome;
    the upload is announced again (S3 redelivers, or a client re-uploads the same bytes)."""
    ddb, settings = stack.client("dynamodb"), stack.settings
    ddb.delete_item(TableName=settings.jobs_table, Key={"job_id": {"S": job_id}})


def keys(stack: Stack, prefix: str) -> set[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.settings.output_bucket, Prefix=prefix)
    return {o["Key"] for o in listed.get("Contents", [])}


def test_a_committed_job_is_adopted_not_encoded_again(stack: Stack, short_clip: Path) -> None:
    completed = first_run(stack, short_clip)
    data = completed["data"]
    assert isinstance(data, dict)
    job_id = str(completed["subject"])
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    before = {
        k: stack.client("s3").head_object(Bucket=stack.settings.output_bucket, Key=k)["ETag"]
        for k in keys(stack, prefix)
    }
    forget_the_outcome(stack, job_id)

    again = first_run(stack, short_clip)

    assert again["subject"] == job_id
    adopted = again["data"]
    assert isinstance(adopted, dict)
    # The first attempt's result, timings and all: nothing ran again.
    assert {k: v for k, v in adopted.items() if k != "attempt"} == {
        k: v for k, v in data.items() if k != "attempt"
    }
    after = {
        k: stack.client("s3").head_object(Bucket=stack.settings.output_bucket, Key=k)["ETag"]
        for k in keys(stack, prefix)
    }
    assert after == before  # not one object rewritten


def test_a_retry_replaces_an_unfinished_attempts_files(stack: Stack, short_clip: Path) -> None:
    completed = first_run(stack, short_clip)
    job_id = str(completed["subject"])
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    # An earlier attempt that died before committing: no job.json, and a file this run will
    # not write (a GPU run's extra output, a rung a refit drops).
    s3.delete_object(Bucket=bucket, Key=f"{prefix}job.json")
    s3.put_object(Bucket=bucket, Key=f"{prefix}thumbnails/stale-0042.jpg", Body=b"old")
    forget_the_outcome(stack, job_id)

    again = first_run(stack, short_clip)

    present = keys(stack, prefix)
    assert f"{prefix}thumbnails/stale-0042.jpg" not in present
    committed = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}job.json")["Body"].read())
    listed = {o["key"] for o in committed["outputs"]}
    assert present == listed | {f"{prefix}job.json"}  # exactly the files job.json lists
    data = again["data"]
    assert isinstance(data, dict)
    assert data["started_at"] != completed["data"]["started_at"]  # type: ignore[index]


def test_the_marker_is_a_conditional_write_on_s3(stack: Stack) -> None:
    async def twice() -> tuple[bool, bool, bytes | None]:
        async with open_clients(stack.settings) as clients:
            store = S3ObjectStore(clients.s3)
            bucket = stack.settings.output_bucket
            first = await store.put_new(b"one", bucket, "m/job.json", "application/json", None)
            second = await store.put_new(b"two", bucket, "m/job.json", "application/json", None)
            return first, second, await store.get_bytes(bucket, "m/job.json", 100)

    assert asyncio.run(twice()) == (True, False, b"one")
