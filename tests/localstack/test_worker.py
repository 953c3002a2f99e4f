"""The worker process against LocalStack: ``ffapi bootstrap`` makes the resources, one
``ffapi worker`` takes watched uploads and direct requests, and a queue subscribed to the
events topic sees what a consumer would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8
import pytest

from handlers.watcher import TERMINAL_TYPES
from infra.bootstrap import Resources
from infra.ffmpeg import make_sample_clip
from infra.settings import Settings, settings_environment
from tests.harness.fleet import FFAPI, REPO, wait_for
from tests.harness.stack import EventLog, fleet_settings, queue_empty
from tests.hls_entries import seconds_of, uri_of
from tests.localstack.services import (
    Endpoints,
    LocalStackFleet,
    LocalStackStack,
    localstack_session,
)

pytestmark = pytest.mark.localstack

JOB_SECONDS = 300  # a web-hls package of a 2 s clip, on two busy cores


@dataclass(frozen=True)
class Deployed:
    stack: LocalStackStack
    again: Resources  # what a second `ffapi bootstrap` printed


def command_env(settings: Settings, endpoints: Endpoints) -> dict[str, str]:
    """A command's environment: these settings, these endpoints, nothing of this process's
    own (another suite's emulator may have set AWS_* here)."""
    own = {k: v for k, v in os.environ.items() if not k.startswith(("FFAPI_", "AWS_"))}
    return {**own, **settings_environment(settings), **endpoints.environment()}


def ffapi_bootstrap(env: dict[str, str]) -> Resources:
    done = subprocess.run(
        [str(FFAPI), "bootstrap"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Resources(**json.loads(done.stdout))


@pytest.fixture(scope="module")
def deployed(localstack: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    root = tmp_path_factory.mktemp("localstack")
    settings = fleet_settings(root / "work", preset="web-hls", max_receive_count=2)
    env = command_env(settings, localstack)
    first = ffapi_bootstrap(env)
    again = ffapi_bootstrap(env)
    stack = LocalStackStack(settings, first, localstack, localstack_session(localstack))
    return Deployed(stack, again)


@pytest.fixture(scope="module")
def stack(deployed: Deployed) -> LocalStackStack:
    return deployed.stack


@pytest.fixture(scope="module")
def running(
    stack: LocalStackStack,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalStackFleet, EventLog]]:
    """One worker process for the module, and a subscriber that was there before it."""
    events = EventLog(stack)
    with LocalStackFleet(stack, tmp_path_factory.mktemp("fleet")) as fleet:
        worker = fleet.start("w1")
        wait_for(lambda: fleet.logged("worker.started") or not worker.alive(), 120, "the worker")
        assert worker.alive(), worker.log_path.read_text()
        yield fleet, events
        assert fleet.stop() == [0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return asyncio.run(make_sample_clip(path, seconds=2, width=320, height=240, fps=15))


def final_events(events: EventLog, key: str) -> list[dict[str, Any]]:
    """The job.completed / job.failed events of the job for this input, once there is one."""

    def arrived() -> list[dict[str, Any]]:
        events.poll()
        return [
            e
            for e in events.events
            if e["type"] in TERMINAL_TYPES and e["data"]["input"]["key"] == key
        ]

    return list(wait_for(arrived, JOB_SECONDS, f"the final event for {key}", every=0))


def download(stack: LocalStackStack, bucket: str, prefix: str, into: Path) -> dict[str, Path]:
    """Every object under ``prefix``, by its key relative to it."""
    s3, found = stack.client("s3"), {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"].removeprefix(prefix)
            path = into / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
            found[relative] = path
    return found


def probe(path: Path) -> dict[str, Any]:
    argv = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    return dict(json.loads(subprocess.run(argv, capture_output=True, check=True).stdout))


def test_bootstrap_twice_makes_the_same_resources_and_one_watch_rule(
    deployed: Deployed,
) -> None:
    stack = deployed.stack
    assert deployed.again == stack.resources
    assert stack.resources.topic_arn.startswith("arn:aws:sns:us-east-1:000000000000:")
    config = stack.client("s3").get_bucket_notification_configuration(
        Bucket=stack.settings.input_bucket
    )
    [rule] = config["QueueConfigurations"]
    assert rule["QueueArn"] == stack.resources.queue_arn
    assert stack.client("dynamodb").describe_table(TableName=stack.settings.jobs_table)


def test_watched_upload_becomes_a_package(
    stack: LocalStackStack,
    running: tuple[LocalStackFleet, EventLog],
    clip: Path,
    tmp_path: Path,
) -> None:
    _, events = running
    key = f"{stack.settings.watch_prefix}talk one.mp4"  # LocalStack sends the space as %20
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, key)

    [done] = final_events(events, key)

    assert done["type"] == "ffapi.job.completed", done["data"].get("error")
    master_key = next(o["key"] for o in done["data"]["outputs"] if o["key"].endswith("master.m3u8"))
    package = master_key.removesuffix("master.m3u8")
    files = download(stack, stack.settings.output_bucket, package, tmp_path)
    master = m3u8.load(str(files["master.m3u8"]))
    assert master.is_variant
    assert master.playlists
    media = [uri_of(p) for p in master.playlists] + [m.uri for m in master.media if m.uri]
    for uri in media:
        playlist = m3u8.load(str(files[uri]))
        folder = str(Path(uri).parent)
        segments = [os.path.normpath(f"{folder}/{s.uri}") for s in playlist.segments]
        inits = {os.path.normpath(f"{folder}/{m.uri}") for m in playlist.segment_map}
        assert segments, uri
        assert set(segments) | inits <= set(files), uri
        assert 1.5 <= sum(seconds_of(s) for s in playlist.segments) <= 2.5, uri


def test_text_file_fails_once_as_invalid_media(
    stack: LocalStackStack, running: tuple[LocalStackFleet, EventLog]
) -> None:
    fleet, events = running
    key = f"{stack.settings.watch_prefix}notes.txt"
    stack.client("s3").put_object(
        Bucket=stack.settings.input_bucket, Key=key, Body=b"not a video, only words\n" * 40
    )

    [failed] = final_events(events, key)

    assert failed["type"] == "ffapi.job.failed"
    error = failed["data"]["error"]
    assert (error["code"], error["retryable"]) == ("invalid_media", False)
    # The message is gone (not back for a retry) and nothing went to the DLQ.
    wait_for(lambda: queue_empty(stack), 60, "the jobs queue to empty")
    assert stack.queue_depth(stack.resources.dlq_url) == 0
    events.poll()
    final = [e for e in events.events if e["type"] in TERMINAL_TYPES]
    assert [e["type"] for e in final if e["data"]["input"]["key"] == key] == ["ffapi.job.failed"]
    assert fleet.transcodes(failed["subject"]) == 0


def test_request_sent_to_the_queue_completes(
    stack: LocalStackStack,
    running: tuple[LocalStackFleet, EventLog],
    clip: Path,
    tmp_path: Path,
) -> None:
    _, events = running
    key = "library/direct.mp4"  # outside the watched prefix: only the request starts a job
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, key)
    request = {
        "version": 1,
        "input": {"bucket": stack.settings.input_bucket, "key": key},
        "preset": "mp4-480p",
    }
    stack.client("sqs").send_message(
        QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(request)
    )

    [done] = final_events(events, key)

    assert done["type"] == "ffapi.job.completed", done["data"].get("error")
    video_key = next(o["key"] for o in done["data"]["outputs"] if o["role"] == "video")
    path = tmp_path / "video.mp4"
    stack.client("s3").download_file(stack.settings.output_bucket, video_key, str(path))
    streams = {s["codec_type"]: s for s in probe(path)["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    assert "audio" in streams
    assert 1.5 <= float(probe(path)["format"]["duration"]) <= 2.5
