"""Integration harness: moto's real server over HTTP on loopback, the real ffmpeg, our worker.

Each test gets its own buckets, queues, topic and table (unique names) on one shared server.
The test_iam_*.py modules get a second server with IAM enforcement on (`iam_server`, one per
module; `moto_iam.py`) and a `deployment` on it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from handlers.runtime import Runtime, open_runtime
from handlers.watcher import TERMINAL_TYPES, EventWatcher
from handlers.worker import Worker
from infra.bootstrap import Resources, bootstrap
from infra.emulator import EmbeddedEmulator, embedded_emulator
from infra.ffmpeg import make_sample_clip
from infra.logs import configure_logging
from infra.settings import Settings, settings_environment
from infra.tools import resolve_tools, tools_in_force
from tests.event_contract import check_event

if TYPE_CHECKING:
    from tests.integration.moto_iam import Deployment, IamServer

REGION = "us-east-1"


@dataclass
class Stack:
    settings: Settings
    resources: Resources

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def queue_depth(self, url: str) -> int:
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())


@dataclass
class Scenario:
    events: list[dict[str, Any]] = field(default_factory=list)  # lifecycle: all but progress
    progress: list[dict[str, Any]] = field(default_factory=list)  # ffapi.job.progress, in order
    raw: list[str] = field(default_factory=list)

    def of_type(self, suffix: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == f"ffapi.job.{suffix}"]


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmbeddedEmulator]:
    tools_in_force()
    # As every entry point does: JSON logs on stderr (unconfigured structlog prints to
    # stdout, which a test of a command's output would read as part of it).
    configure_logging("INFO", "json")
    with embedded_emulator(REGION) as emu:
        yield emu


@pytest.fixture
def stack(emulator: EmbeddedEmulator, tmp_path: Path) -> Stack:
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        region=REGION,
        input_bucket=f"in-{suffix}",
        output_bucket=f"out-{suffix}",
        jobs_queue=f"jobs-{suffix}",
        dead_letter_queue=f"dlq-{suffix}",
        events_topic=f"events-{suffix}",
        jobs_table=f"jobs-{suffix}",
        preset="mp4-720p",  # quick: these tests are about delivery; test_streaming has ladders
        wait_time_seconds=1,
        visibility_timeout=30,
        max_receive_count=2,
        retry_backoff_base=0.2,
        temp_dir=tmp_path / "work",
    )
    return Stack(settings, bootstrap(settings))


@pytest.fixture
def ffapi_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack's settings as FFAPI_* variables, for commands that read them (the CLI)."""
    for name, value in settings_environment(stack.settings).items():
        monkeypatch.setenv(name, value)
    yield stack
    # One-shot commands log at WARNING; the tests after these read the worker's INFO lines.
    configure_logging("INFO", "json")


@pytest.fixture(scope="module")
def iam_server() -> Iterator[IamServer]:
    # Imported here: moto_iam loads cfn-lint (0.6 s), which only the test_iam_* modules need.
    from tests.integration.moto_iam import serve_iam

    with serve_iam() as server:
        yield server


@pytest.fixture
def deployment(iam_server: IamServer, tmp_path: Path) -> Deployment:
    from tests.integration.moto_iam import deploy

    return deploy(iam_server, tmp_path)


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's clip: 10 s, 1280x720, 30 fps, stereo AAC."""
    path = tmp_path_factory.mktemp("media") / "sample.mp4"
    return asyncio.run(make_sample_clip(path))


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small clip for tests about the queue rather than the picture."""
    path = tmp_path_factory.mktemp("media") / "short.mp4"
    return asyncio.run(make_sample_clip(path, seconds=2, width=320, height=180, fps=15))


def use_tools_for_test(
    monkeypatch: pytest.MonkeyPatch, *, ffmpeg: str = "", ffprobe: str = ""
) -> None:
    """The tools a worker started with these FFAPI_FFMPEG / FFAPI_FFPROBE would run, for this
    test only (a fake first on PATH no longer runs: the paths are resolved at start)."""
    monkeypatch.setattr("infra.tools._in_force", resolve_tools(ffmpeg, ffprobe))


def run_worker(
    stack: Stack,
    act: Callable[[Runtime], Awaitable[None]] | None = None,
    terminal: int = 1,
    settle: float = 0.0,
    timeout: float = 180.0,
    settings: Settings | None = None,
    until: Callable[[], bool] | None = None,
) -> Scenario:
    """Run the worker until ``terminal`` job.completed/failed events arrived on a queue
    subscribed to the topic, then up to ``settle`` seconds more (or until ``until()``) to
    catch anything extra."""
    return asyncio.run(
        _run(stack, act, terminal, settle, timeout, settings or stack.settings, until)
    )


async def _run(
    stack: Stack,
    act: Callable[[Runtime], Awaitable[None]] | None,
    terminal: int,
    settle: float,
    timeout: float,
    settings: Settings,
    until: Callable[[], bool] | None,
) -> Scenario:
    scenario = Scenario()
    async with open_runtime(settings) as rt:
        clients = rt.clients
        async with EventWatcher.subscribe(clients.sqs, clients.sns, stack.resources.topic_arn) as w:
            if act is not None:
                await act(rt)
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            try:
                async with asyncio.timeout(timeout):
                    while (
                        sum(json.loads(b)["type"] in TERMINAL_TYPES for b in w.received) < terminal
                    ):
                        await w.poll(wait_seconds=1)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + settle
                while loop.time() < deadline:
                    await w.poll(wait_seconds=1)
                    if until is not None and await asyncio.to_thread(until):
                        break
            finally:
                stop.set()
                await worker
            scenario.raw = list(w.received)
    # Every event any integration test sees is checked against the committed contract.
    received = [check_event(b) for b in scenario.raw]
    scenario.events = [e for e in received if e["type"] != "ffapi.job.progress"]
    scenario.progress = [e for e in received if e["type"] == "ffapi.job.progress"]
    return scenario


def subscribe_queue(stack: Stack, filter_policy: dict[str, Any] | None = None) -> str:
    """A queue subscribed to the events topic with raw delivery, as a consumer would have."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url: str = sqs.create_queue(QueueName=f"sub-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(
        TopicArn=stack.resources.topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"],
        Attributes=attributes,
    )  # fmt: skip
    return url


def drain_events(stack: Stack, url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    events: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not msgs.get("Messages"):
            return events
        for msg in msgs["Messages"]:
            events.append(check_event(msg["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])


def job_record(stack: Stack, job_id: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.settings.jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )
    return dict(item["Item"])
