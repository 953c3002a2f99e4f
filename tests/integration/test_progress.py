"""Progress of a real encode: ffmpeg's ``-progress`` reports -> throttled ``ffapi.job.progress``
events on the topic and the job record, monotonic, ending at 100 % before the completion."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from .conftest import Stack, job_record, run_worker

pytestmark = pytest.mark.integration


def test_a_ladder_encode_reports_monotonic_throttled_progress_to_100(
    stack: Stack, sample_clip: Path
) -> None:
    settings = stack.settings.model_copy(
        update={"preset": "web-hls", "progress_interval": 0.5, "progress_step": 10.0}
    )
    key = f"{settings.watch_prefix}progress.mp4"
    stack.client("s3").upload_file(str(sample_clip), settings.input_bucket, key)

    scenario = run_worker(stack, settings=settings, settle=2.0)

    [completed] = scenario.of_type("completed")
    job_id = completed["subject"]
    progress = sorted(scenario.progress, key=lambda e: e["time"])
    assert len(progress) >= 3, [e["data"]["progress"] for e in progress]  # a 10 s ladder
    assert all(e["subject"] == job_id for e in progress)
    assert len({e["id"] for e in progress}) == len(progress)  # one id per report
    reports = [e["data"]["progress"] for e in progress]
    percents = [r["percent"] for r in reports]
    assert percents == sorted(set(percents))  # strictly rising
    assert percents[-1] == 100.0
    assert all(r["phase"] == "encode" for r in reports)
    # throttled: 10 percent and half a second apart at least (the end always goes out)
    times = [datetime.fromisoformat(e["time"]) for e in progress]
    steps = list(pairwise(zip(percents[:-1], times[:-1], strict=True)))
    for (a, ta), (b, tb) in steps:
        assert b - a >= 10.0
        assert (tb - ta).total_seconds() >= 0.45
    assert reports[-1]["eta_seconds"] == 0.0
    assert all(r["speed"] is None or r["speed"] > 0 for r in reports)
    assert any(r["eta_seconds"] for r in reports[:-1])  # a time left while it ran
    # all of it before the completion, and the preset and attempt in every one
    assert max(times) <= datetime.fromisoformat(completed["time"])
    assert {(e["data"]["preset"], e["data"]["attempt"]) for e in progress} == {("web-hls", 1)}
    # the record keeps the last report
    record = job_record(stack, job_id)
    assert json.loads(record["progress"]["S"])["percent"] == 100.0


def test_a_short_encode_under_the_default_throttle_says_little(
    stack: Stack, short_clip: Path
) -> None:
    key = f"{stack.settings.watch_prefix}short.mp4"
    stack.client("s3").upload_file(str(short_clip), stack.settings.input_bucket, key)

    scenario = run_worker(stack, settle=2.0)

    assert [e["type"] for e in scenario.events] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
    ]
    percents = sorted(e["data"]["progress"]["percent"] for e in scenario.progress)
    assert 1 <= len(percents) <= 2  # the first report (if any came) and the end, 5 s apart
    assert percents[-1] == 100.0
