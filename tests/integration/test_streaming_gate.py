"""The QC gate and the user's presets file, through the real worker and the moto server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import m3u8
import pytest

from handlers.plan import PlanOptions, run_plan
from infra.ffmpeg import FfmpegMedia

from .conftest import Stack, job_record, run_worker
from .sources import make_source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source("hd-720p", tmp_path_factory.mktemp("gate"), 6.0)


def test_a_package_that_fails_qc_fails_the_job_and_publishes_nothing(
    stack: Stack, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment lost between the encode and the upload (a full disk, a bug) is caught by the
    gate: one job.failed with qc_failed and the report, no retry, and not one object under
    the job's prefix, so no player ever sees a half package."""
    encode = FfmpegMedia.transcode

    async def lose_a_segment(
        self: FfmpegMedia, argv: Sequence[str], cwd: Path, timeout: float, *rest: Any
    ) -> None:
        await encode(self, argv, cwd, timeout, *rest)
        if "dash" in argv:  # the job's encode (not the storyboard sheets, not the probe's)
            (cwd / "out" / "cmaf" / "seg-1-00002.m4s").unlink()

    monkeypatch.setattr(FfmpegMedia, "transcode", lose_a_segment)
    s3, settings = stack.client("s3"), stack.settings.model_copy(update={"preset": "web-hls"})
    s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")

    scenario = run_worker(stack, settings=settings, settle=2.0)

    assert [e["type"] for e in scenario.events] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.failed",
    ]
    failed = scenario.of_type("failed")[0]
    error = failed["data"]["error"]
    assert error["code"] == "qc_failed"
    assert error["retryable"] is False
    checks = {c["name"]: c for c in error["details"]["qc"]["checks"]}
    assert not checks["references"]["passed"]
    assert "seg-1-00002.m4s" in checks["references"]["detail"]
    listing = s3.list_objects_v2(
        Bucket=settings.output_bucket, Prefix=f"{settings.output_prefix}/{failed['subject']}/"
    )
    assert listing.get("KeyCount", 0) == 0
    assert job_record(stack, failed["subject"])["status"] == {"S": "FAILED"}


def test_a_steps_job_whose_package_fails_qc_leaves_nothing_it_sent_ahead(
    stack: Stack, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frames and the preview are final when the pass ends and go up while the package
    is checked; when the package then fails QC they are withdrawn with its segments."""
    encode = FfmpegMedia.transcode

    async def lose_a_segment(
        self: FfmpegMedia, argv: Sequence[str], cwd: Path, timeout: float, *rest: Any
    ) -> None:
        await encode(self, argv, cwd, timeout, *rest)
        if "dash" in argv:  # the steps job's main pass
            (cwd / "out" / "encode" / "cmaf" / "seg-1-00002.m4s").unlink()

    monkeypatch.setattr(FfmpegMedia, "transcode", lose_a_segment)
    s3, settings = stack.client("s3"), stack.settings
    s3.upload_file(str(clip), settings.input_bucket, "library/gate.mp4")
    body = json.dumps(
        {
            "version": 2,
            "input": {"bucket": settings.input_bucket, "key": "library/gate.mp4"},
            "steps": [
                {"op": "encode", "preset": "web-hls"},
                {"op": "frames", "every": 2.0, "width": 160},
                {"op": "preview", "format": "gif", "duration": 1.0, "fps": 5, "width": 160},
            ],
        }
    )
    stack.client("sqs").send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)

    scenario = run_worker(stack, settle=2.0)

    (failed,) = scenario.of_type("failed")
    assert failed["data"]["error"]["code"] == "qc_failed"
    listing = s3.list_objects_v2(
        Bucket=settings.output_bucket, Prefix=f"{settings.output_prefix}/{failed['subject']}/"
    )
    assert listing.get("KeyCount", 0) == 0, [o["Key"] for o in listing.get("Contents", [])]


def test_a_presets_file_adds_and_replaces_presets(stack: Stack, clip: Path, tmp_path: Path) -> None:
    presets = tmp_path / "presets.toml"
    presets.write_text(
        'default = "small"\n'
        "[presets.small]\n"
        'kind = "cmaf"\n'
        "segment_seconds = 2\n"
        'ladder = [{ name = "240p", short_side = 240, video_kbps = 400, maxrate_kbps = 440,'
        " bufsize_kbps = 600 }]\n"
        'audio = [{ name = "aac-64k", bitrate_kbps = 64 }]\n'
    )
    settings = stack.settings.model_copy(update={"preset": None, "presets_file": presets})
    s3 = stack.client("s3")
    s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")

    scenario = run_worker(stack, settings=settings)

    (done,) = scenario.of_type("completed")
    data = done["data"]
    assert data["preset"] == "small"
    assert [(r["name"], r["width"], r["height"]) for r in data["renditions"]] == [
        ("240p", 416, 234),  # 16:9 in whole steps of 32x18 (Apple's own 416x234)
        ("aac-64k", None, None),
    ]
    body = s3.get_object(Bucket=settings.output_bucket, Key=data["renditions"][0]["playlist"])
    playlist = m3u8.loads(body["Body"].read().decode())
    assert playlist.target_duration == 2
    assert [s.duration for s in playlist.segments][:2] == [2.0, 2.0]


def test_plan_of_a_job_request_probes_its_s3_input_and_encodes_nothing(
    stack: Stack, clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stack.settings
    stack.client("s3").upload_file(str(clip), settings.input_bucket, "library/talk.mp4")
    request = tmp_path / "job.json"
    request.write_text(
        json.dumps(
            {
                "input": {"bucket": settings.input_bucket, "key": "library/talk.mp4"},
                "preset": "web-hls",
            }
        )
    )
    assert asyncio.run(run_plan(PlanOptions(request, as_json=True), settings)) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["preset"] == "web-hls"
    assert plan["source"]["size"] == "1280x720"
    assert [r.get("size") for r in plan["renditions"]] == ["1280x720", "864x486", "640x360", None]
    assert plan["outputs"] == ["cmaf/master.m3u8", "cmaf/manifest.mpd"]
    listing = stack.client("s3").list_objects_v2(Bucket=settings.output_bucket)
    assert listing.get("KeyCount", 0) == 0  # a dry run: nothing was written anywhere
