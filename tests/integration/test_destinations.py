"""A job with two destinations on the embedded stack (moto's server over HTTP, real ffmpeg):
a web-hls package committed at its output and copied to a second bucket; both packages are
the same files (their job.json names what is there, every key under its own prefix), both
play from their master playlist (read with the m3u8 library, decoded by ffmpeg), and the
completed event and the job record list both destinations."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import m3u8
import pytest

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration


def download(stack: Stack, bucket: str, prefix: str, dest: Path) -> set[str]:
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    for obj in listed:
        local = dest / obj["Key"].removeprefix(prefix)
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["Key"], str(local))
    return {obj["Key"] for obj in listed}


def decoded_frames(master: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(master.resolve())],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    return int(out.strip().split()[0])


def test_a_job_commits_one_package_to_each_destination(
    stack: Stack, short_clip: Path, tmp_path: Path
) -> None:
    s3, sqs = stack.client("s3"), stack.client("sqs")
    archive = f"archive-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=archive)
    settings = stack.settings.model_copy(update={"allowed_output_buckets": [archive]})
    s3.upload_file(str(short_clip), settings.input_bucket, "library/talk.mp4")
    request = {
        "version": 2,
        "input": {"bucket": settings.input_bucket, "key": "library/talk.mp4"},
        "preset": "web-hls",
        "destinations": [{"bucket": archive, "prefix": "outputs/vod"}],
    }
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(request))
    scenario = run_worker(stack, settings=settings, timeout=300)
    [completed] = scenario.of_type("completed")
    job_id, data = completed["subject"], completed["data"]
    places = [
        (settings.output_bucket, f"{settings.output_prefix}/{job_id}/"),
        (archive, f"outputs/vod/{job_id}/"),
    ]
    assert [(d["bucket"], d["marker"]) for d in data["destinations"]] == [
        (bucket, f"{prefix}job.json") for bucket, prefix in places
    ]
    frames, packages = [], []
    for (bucket, prefix), said in zip(places, data["destinations"], strict=True):
        local = tmp_path / bucket
        stored = download(stack, bucket, prefix, local)
        result: dict[str, Any] = json.loads((local / "job.json").read_text())
        assert result["output"]["bucket"] == bucket
        # what job.json lists is there, every key under this prefix
        assert {o["key"] for o in result["outputs"]} <= stored
        packages.append({k.removeprefix(prefix) for k in stored})
        assert result["destinations"] == data["destinations"]
        master_key = result["playback"]["hls"]
        assert master_key.startswith(prefix)
        assert said["playback"]["hls"] == master_key
        master = m3u8.load(str(local / master_key.removeprefix(prefix)))
        assert master.is_variant
        assert len(master.playlists) == len(result["renditions"]) - sum(
            r["kind"] == "audio" for r in result["renditions"]
        )
        frames.append(decoded_frames(local / master_key.removeprefix(prefix)))
    assert packages[0] == packages[1]  # the same files, segments and all
    assert packages[0] == packages[1]  # the same files, segments and all
    assert frames[0] == frames[1] > 0  # the same picture in both
    record = job_record(stack, job_id)
    assert json.loads(record["result"]["S"])["destinations"] == data["destinations"]


def test_a_destination_not_yet_writable_retries_the_job_without_encoding_again(
    stack: Stack, short_clip: Path
) -> None:
    """The first attempt commits the output, then its copy fails (the destination bucket does
    not exist yet): the job is RETRYING, not completed. Once the bucket exists, the next
    delivery adopts the output's commit (nothing is encoded again) and finishes the copy."""
    s3, sqs = stack.client("s3"), stack.client("sqs")
    archive = f"archive-{uuid.uuid4().hex[:10]}"
    # deliveries enough for the copies failing while the bucket is missing (the retries come
    # back within a second or two: their count is not this test's business)
    settings = stack.settings.model_copy(
        update={"allowed_output_buckets": [archive], "preset": "mp4-480p", "max_receive_count": 8}
    )
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=stack.resources.dlq_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 8}
    sqs.set_queue_attributes(
        QueueUrl=stack.resources.queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)}
    )
    s3.upload_file(str(short_clip), settings.input_bucket, "library/late.mp4")
    request = {
        "input": {"bucket": settings.input_bucket, "key": "library/late.mp4"},
        "destinations": [{"bucket": archive, "prefix": "outputs"}],
    }
    sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(request))
    job_ids: list[str] = []

    def retrying() -> bool:
        table = stack.client("dynamodb")
        items = table.scan(TableName=settings.jobs_table)["Items"]
        job_ids[:] = [i["job_id"]["S"] for i in items if i["status"]["S"] == "RETRYING"]
        return bool(job_ids)

    first = run_worker(stack, settings=settings, terminal=0, settle=120, until=retrying)
    assert first.of_type("completed") == []
    [job_id] = job_ids
    assert "storage_unavailable" in job_record(stack, job_id)["error"]["S"]
    primary = f"{settings.output_prefix}/{job_id}/job.json"
    committed = json.loads(s3.get_object(Bucket=settings.output_bucket, Key=primary)["Body"].read())
    assert committed["attempt"] == 1

    s3.create_bucket(Bucket=archive)
    [completed] = run_worker(stack, settings=settings, timeout=120).of_type("completed")
    data = completed["data"]
    assert data["attempt"] >= 2
    # adopted: the output's job.json of attempt 1 stands, its times those of that encode
    encoded = (committed["started_at"], committed["completed_at"], committed["timings"])
    assert (data["started_at"], data["completed_at"], data["timings"]) == encoded
    copy = json.loads(
        s3.get_object(Bucket=archive, Key=f"outputs/{job_id}/job.json")["Body"].read()
    )
    assert (copy["started_at"], copy["completed_at"], copy["timings"]) == encoded
    assert copy["output"] == {"bucket": archive, "prefix": "outputs"}
    [video] = [o for o in copy["outputs"] if o["key"].endswith(".mp4")]
    body = s3.get_object(Bucket=archive, Key=video["key"])["Body"].read()
    assert len(body) == video["size"] > 0
