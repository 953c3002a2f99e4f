"""`ffapi prune` on the embedded stack (moto's server over HTTP), after a real job: with the
default rule keeping outputs 30 days and uploads 14, "now" moved forward (``--now``) deletes
the upload past 14 days and the job's package past 30, whole; a dry run deletes nothing; what
lies outside the rule's prefixes is never touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handlers import cli

from .conftest import Stack, run_worker

pytestmark = pytest.mark.integration


def keys(stack: Stack, bucket: str) -> set[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return {obj["Key"] for obj in listed}


def prune(*args: str) -> int:
    return cli.main(["prune", *args])


def test_prune_deletes_what_the_rule_keeps_no_longer(
    ffapi_env: Stack, short_clip: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    stack, s3 = ffapi_env, ffapi_env.client("s3")
    settings = stack.settings
    monkeypatch.setenv("FFAPI_OUTPUT_RETENTION_DAYS", "30")
    monkeypatch.setenv("FFAPI_INPUT_RETENTION_DAYS", "14")
    upload = f"{settings.watch_prefix}clip.mp4"
    s3.upload_file(str(short_clip), settings.input_bucket, upload)
    [completed] = run_worker(stack).of_type("completed")
    package = f"{settings.output_prefix}/{completed['subject']}/"
    made = {o["key"] for o in completed["data"]["outputs"]} | {f"{package}job.json"}
    # beside the rule's prefixes, and under the output prefix outside any job's folder
    strays = {
        (settings.output_bucket, "elsewhere/j-other/job.json"),
        (settings.output_bucket, f"{settings.output_prefix}/notes.txt"),
        (settings.input_bucket, f"{settings.submit_prefix}other.mp4"),
    }
    for bucket, key in strays:
        s3.put_object(Bucket=bucket, Key=key, Body=b"not the rule's")
    outputs_before = keys(stack, settings.output_bucket)
    assert made <= outputs_before
    today = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    capsys.readouterr()

    assert prune("--now", today.isoformat()) == 0  # everything is new
    assert "0 packages and 0 uploads deleted" in capsys.readouterr().out
    assert keys(stack, settings.output_bucket) == outputs_before

    later = (today + timedelta(days=31)).isoformat()
    assert prune("--dry-run", "--now", later) == 0
    dry = capsys.readouterr().out
    assert f"would delete  s3://{settings.output_bucket}/{package}  {len(made)} files" in dry
    assert f"would delete  s3://{settings.input_bucket}/{upload}  1 file" in dry
    assert "1 packages and 1 uploads would be deleted" in dry
    assert keys(stack, settings.output_bucket) == outputs_before
    assert upload in keys(stack, settings.input_bucket)

    assert prune("--now", (today + timedelta(days=15)).isoformat()) == 0  # the upload only
    assert upload not in keys(stack, settings.input_bucket)
    assert keys(stack, settings.output_bucket) == outputs_before

    assert prune("--now", later) == 0
    assert f"deleted       s3://{settings.output_bucket}/{package}" in capsys.readouterr().out
    assert keys(stack, settings.output_bucket) == {
        k for b, k in strays if b == settings.output_bucket
    }
    assert keys(stack, settings.input_bucket) == {f"{settings.submit_prefix}other.mp4"}


def test_without_a_retention_prune_deletes_nothing(
    ffapi_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ffapi_env
    key = f"{stack.settings.output_prefix}/j-old/job.json"
    stack.client("s3").put_object(Bucket=stack.settings.output_bucket, Key=key, Body=b"{}")
    assert prune("--now", "2100-01-01T00:00:00") == 0
    assert "nothing to prune" in capsys.readouterr().out
    assert keys(stack, stack.settings.output_bucket) == {key}
