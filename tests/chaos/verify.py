"""What a finished job must look like after any chaos: one completion, and in the bucket
exactly the files its job.json lists, each whole and decodable."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.integration.conftest import Stack


def committed_outputs(stack: Stack, job_id: str) -> tuple[dict[str, Any], set[str]]:
    """(job.json, every key under the job's prefix)."""
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}job.json")["Body"].read()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return json.loads(body), {o["Key"] for o in listed}


def assert_outputs_complete(stack: Stack, job_id: str, source_seconds: float) -> None:
    committed, present = committed_outputs(stack, job_id)
    prefix = f"{stack.settings.output_prefix}/{job_id}/"
    listed = {o["key"]: o for o in committed["outputs"]}
    assert present == set(listed) | {f"{prefix}job.json"}, "a mix of attempts' files"
    s3, bucket = stack.client("s3"), stack.settings.output_bucket
    for key, output in listed.items():
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == output["size"]
        if key.endswith(".mp4"):
            assert abs(decoded_seconds(stack, key) - source_seconds) < 0.5, key


def decoded_seconds(stack: Stack, key: str) -> float:
    """Decode the whole file (an error anywhere fails) and return how long it plays."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "out.mp4"
        stack.client("s3").download_file(stack.settings.output_bucket, key, str(local))
        run = subprocess.run(
            ["ffmpeg", "-v", "error", "-xerror", "-i", f"file:{local}", "-f", "null", "-"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert run.stderr == ""
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             f"file:{local}"], capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(probe.stdout)
