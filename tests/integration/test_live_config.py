"""The configuration document (FFAPI_CONFIG) in S3, on the embedded stack with the real ffmpeg:
a preset changed in the object takes effect for the next job without a restart (the output,
decoded, has the new height), a broken document put afterwards is refused whole (counted in
the metric) and the next job still uses the good one; a worker process given SIGHUP reads a
changed document at once, long before its timer would; the Lambda handler keeps the
document of its cold start and checks it no more often than FFAPI_CONFIG_CHECK_SECONDS;
`ffapi config check` judges a file offline, `ffapi submit` pins the document's presets, and
a worker whose document is broken or missing at start stops, saying why."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from core.jobs.config import ConfigError, parse_config
from handlers import sqs_lambda
from handlers.cli import main
from handlers.runtime import Runtime, open_runtime
from handlers.watcher import TERMINAL_TYPES, EventWatcher
from handlers.worker import Worker
from infra.aws import open_clients
from infra.config_source import config_reader
from infra.emulator import EmbeddedEmulator
from infra.ffmpeg import make_sample_clip
from infra.settings import settings_environment
from tests.event_contract import check_event
from tests.harness.fleet import Fleet, WorkerProcess
from tests.unit.test_config import BASE

from .conftest import Stack, drain_events, run_worker, subscribe_queue
from .test_lambda import sqs_record

pytestmark = pytest.mark.integration

KEY = "ffapi-config.toml"


def document(height: int, extra: str = "") -> str:
    return f"""
[presets.clip-mp4]
kind = "mp4"
max_height = {height}
x264_preset = "ultrafast"

[[watch]]
prefix = "incoming/"
suffixes = [".mp4"]
preset = "clip-mp4"
output_prefix = "outputs/clips"
{extra}"""


# Valid presets, but a rule naming a preset that does not exist: the whole document is refused.
BROKEN = document(200, '\n[[watch]]\nprefix = "incoming/other/"\npreset = "no-such-preset"\n')


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return asyncio.run(make_sample_clip(path, seconds=2, width=640, height=360, fps=15))


def config_bucket(stack: Stack) -> str:
    bucket = f"cfg-{uuid.uuid4().hex[:10]}"
    stack.client("s3").create_bucket(Bucket=bucket)
    return bucket


def put(stack: Stack, bucket: str, text: str) -> str:
    """Put the document; its ETag (the version the worker will report)."""
    resp = stack.client("s3").put_object(Bucket=bucket, Key=KEY, Body=text.encode())
    return str(resp["ETag"]).strip('"')


def refusals() -> float:
    labels = {"outcome": "refused"}
    return REGISTRY.get_sample_value("ffapi_config_reloads_total", labels) or 0.0


def video_height(
    stack: Stack, event: dict[str, Any], work: Path, under: str = "outputs/clips/"
) -> int:
    """The height of the job's MP4, downloaded and read by ffprobe; a watched upload's lies
    under its rule's output prefix."""
    data = event["data"]
    (video,) = [o for o in data["outputs"] if o["key"].endswith(".mp4")]
    assert video["key"].startswith(under)
    path = work / f"{data['job_id']}.mp4"
    stack.client("s3").download_file(data["output"]["bucket"], video["key"], str(path))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=height", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(json.loads(probe.stdout)["streams"][0]["height"])


async def job(stack: Stack, watcher: EventWatcher, clip: Path, name: str) -> dict[str, Any]:
    s3, settings = stack.client("s3"), stack.settings
    key = f"{settings.watch_prefix}{name}.mp4"
    await asyncio.to_thread(s3.upload_file, str(clip), settings.input_bucket, key)
    event = check_event(await watcher.wait_for_terminal(120))
    assert event["type"] == "ffapi.job.completed", event
    return event


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    for _ in range(int(seconds * 10)):  # the reloader's timer checks every 0.5 s
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the configuration was not checked in time")


def in_force(rt: Runtime) -> str:
    assert rt.config is not None
    return rt.config.in_force.current.version


def test_a_changed_preset_takes_effect_and_a_broken_document_leaves_it_in_force(
    stack: Stack, clip: Path, tmp_path: Path
) -> None:
    bucket = config_bucket(stack)
    first = put(stack, bucket, document(240))
    settings = stack.settings.model_copy(
        update={"config": f"s3://{bucket}/{KEY}", "config_check_seconds": 0.5}
    )
    heights: list[int] = []

    async def steps(rt: Runtime, watcher: EventWatcher) -> None:
        async def made(name: str) -> int:
            event = await job(stack, watcher, clip, name)
            return await asyncio.to_thread(video_height, stack, event, tmp_path)

        await until(lambda: in_force(rt) == first)
        heights.append(await made("a"))
        second = put(stack, bucket, document(144))
        await until(lambda: in_force(rt) == second)  # no restart
        heights.append(await made("b"))
        refused = refusals()
        put(stack, bucket, BROKEN)
        await until(lambda: refusals() > refused)
        assert in_force(rt) == second
        heights.append(await made("c"))

    async def scenario() -> None:
        async with open_runtime(settings) as rt:
            clients, topic = rt.clients, stack.resources.topic_arn
            async with EventWatcher.subscribe(clients.sqs, clients.sns, topic) as watcher:
                stop = asyncio.Event()
                worker = asyncio.create_task(Worker(rt).run(stop))
                try:
                    await steps(rt, watcher)
                finally:
                    stop.set()
                    await worker

    asyncio.run(scenario())
    assert heights == [240, 144, 144]
    assert refusals() >= 1


def test_sighup_reads_a_changed_document_before_the_timer_would(
    stack: Stack, emulator: EmbeddedEmulator, clip: Path, tmp_path: Path
) -> None:
    bucket = config_bucket(stack)
    first = put(stack, bucket, document(240))
    fleet = Fleet(stack.settings, tmp_path / "fleet", emulator.endpoint_url)
    worker = fleet.start("w1", config=f"s3://{bucket}/{KEY}", config_check_seconds=3600)
    try:
        assert wait_for_log(worker, "config.loaded", first)
        assert wait_for_log(worker, "worker.queue", None), "the worker did not start"
        second = put(stack, bucket, document(144))
        worker.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(worker, "config.replaced", second), "SIGHUP read nothing"
        assert worker.alive()
        events = subscribe_queue(stack)
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}hup.mp4")
        assert video_height(stack, terminal_event(stack, events), tmp_path) == 144
    finally:
        fleet.stop()


def terminal_event(stack: Stack, url: str, seconds: float = 120) -> dict[str, Any]:
    sqs, deadline = stack.client("sqs"), time.monotonic() + seconds
    while time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
            event = check_event(msg["Body"])
            if event["type"] in TERMINAL_TYPES:
                assert event["type"] == "ffapi.job.completed", event
                return event
    raise AssertionError("no job.completed")


def wait_for_log(
    worker: WorkerProcess, event: str, version: str | None, seconds: float = 60
) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and worker.alive():
        for line in worker.log():
            if line.get("event") == event and version in (None, line.get("version")):
                return True
        time.sleep(0.2)
    return False


def test_lambda_keeps_its_cold_start_document_between_checks(
    stack: Stack, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = config_bucket(stack)
    put(stack, bucket, 'default = "clip-mp4"\n' + document(240))
    settings = stack.settings.model_copy(
        update={"config": f"s3://{bucket}/{KEY}", "config_check_seconds": 3600}
    )
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sqs_lambda._Warm, "config", None)  # a cold start
    events = subscribe_queue(stack)

    def invoke(name: str) -> int:
        stack.client("s3").upload_file(str(clip), settings.input_bucket, f"library/{name}.mp4")
        request = {"input": {"bucket": settings.input_bucket, "key": f"library/{name}.mp4"}}
        response = sqs_lambda.handler({"Records": [sqs_record(name, json.dumps(request))]}, None)
        assert response == {"batchItemFailures": []}
        (done,) = [e for e in drain_events(stack, events) if e["type"] in TERMINAL_TYPES]
        assert done["type"] == "ffapi.job.completed", done
        return video_height(stack, done, tmp_path, under="outputs/")  # a request: the default

    assert invoke("a") == 240
    put(stack, bucket, 'default = "clip-mp4"\n' + document(144))
    assert invoke("b") == 240  # checked at most every hour: the warm document stands
    monkeypatch.setenv("FFAPI_CONFIG_CHECK_SECONDS", "0.001")
    assert invoke("c") == 144  # due: the changed document is read before the job


def test_config_check_judges_a_file_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FFAPI_CONFIG", raising=False)
    good, broken = tmp_path / "good.toml", tmp_path / "broken.toml"
    good.write_text(document(240))
    broken.write_text(BROKEN)
    assert main(["config", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "clip-mp4" in out
    assert "incoming/* (.mp4) -> clip-mp4 -> s3://ffapi-output/outputs/clips" in out
    assert main(["config", "check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "watch[1].preset 'no-such-preset' is not a preset" in err
    assert main(["config", "check"]) == 2  # nothing named, no FFAPI_CONFIG
    assert "FFAPI_CONFIG" in capsys.readouterr().err


def test_submit_derives_the_job_id_of_the_live_configuration(
    ffapi_env: Stack,
    clip: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A preset the document defines (or changes) is the one `ffapi submit` pins: the job id
    it prints is the one the worker runs."""
    stack = ffapi_env
    bucket = config_bucket(stack)
    put(stack, bucket, document(144))
    monkeypatch.setenv("FFAPI_CONFIG", f"s3://{bucket}/{KEY}")
    key = "elsewhere/submitted.mp4"
    stack.client("s3").upload_file(str(clip), stack.settings.input_bucket, key)
    url = f"s3://{stack.settings.input_bucket}/{key}"

    assert main(["submit", url, "--preset", "clip-mp4"]) == 0
    [job_id] = re.findall(r"^job\s+(j-[0-9a-f]{24})\s", capsys.readouterr().out, re.MULTILINE)
    settings = stack.settings.model_copy(update={"config": f"s3://{bucket}/{KEY}"})
    [completed] = run_worker(stack, settings=settings).of_type("completed")
    assert completed["subject"] == job_id
    assert video_height(stack, completed, tmp_path, under="outputs/") == 144
    assert main(["submit", url, "--preset", "no-such"]) == 2  # judged by the document's catalog


def test_both_readers_answer_unchanged_without_the_body_and_refuse_a_missing_document(
    stack: Stack, tmp_path: Path
) -> None:
    bucket = config_bucket(stack)
    etag = put(stack, bucket, document(240))
    path = tmp_path / KEY
    path.write_text(document(240))

    async def read_both() -> None:
        async with open_clients(stack.settings) as clients:
            for where in (f"s3://{bucket}/{KEY}", str(path)):
                reader = config_reader(where, clients.s3)
                found = await reader.read()
                assert found is not None
                assert parse_config(found.text, BASE).catalog.get("clip-mp4") is not None
                assert await reader.read(unless=found.version) is None  # 304 / same stamp
                if where.startswith("s3://"):
                    assert found.version == etag
                changed = await reader.read(unless="an older version")
                assert changed is not None
                assert changed.version == found.version
                missing = config_reader(where.replace(KEY, "absent.toml"), clients.s3)
                with pytest.raises(ConfigError, match=r"absent\.toml"):
                    await missing.read()

    asyncio.run(read_both())


def test_a_worker_with_a_broken_or_missing_document_stops_at_start_saying_why(
    ffapi_env: Stack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN)
    monkeypatch.setenv("FFAPI_CONFIG", str(broken))
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "watch[1].preset 'no-such-preset' is not a preset" in err
    assert "FFAPI_CONFIG" in err  # the hint
    monkeypatch.setenv("FFAPI_CONFIG", str(tmp_path / "absent.toml"))
    assert main(["worker"]) == 2
    assert "absent.toml" in capsys.readouterr().err
