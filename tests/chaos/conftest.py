"""Chaos harness: moto's server in this process, real worker processes pointed at it, real
ffmpeg, real signals. Each case reports its figures; they are printed at the end of the run
(and belong in the README's reliability section)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.bootstrap import bootstrap
from infra.emulator import EmbeddedEmulator, embedded_emulator
from infra.ffmpeg import make_sample_clip, require_binaries
from infra.settings import Settings
from tests.event_contract import check_event
from tests.integration.conftest import Stack, subscribe_queue

from .fleet import wait_for

REGION = "us-east-1"
TRIALS = int(os.environ.get("FFAPI_CHAOS_TRIALS", "2"))  # per phase; raise it to soak

FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report one figure of this case: printed now (with -s) and in the run's summary."""

    def report(text: str) -> None:
        line = f"{request.node.name}: {text}"
        FIGURES.append(line)
        print(line, flush=True)

    return report


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmbeddedEmulator]:
    require_binaries("ffmpeg", "ffprobe")
    with embedded_emulator(REGION) as emu:
        yield emu


def chaos_settings(root: Path, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "region": REGION,
        "input_bucket": f"in-{suffix}",
        "output_bucket": f"out-{suffix}",
        "jobs_queue": f"jobs-{suffix}",
        "dead_letter_queue": f"dlq-{suffix}",
        "events_topic": f"events-{suffix}",
        "jobs_table": f"jobs-{suffix}",
        "preset": "mp4-720p",
        "wait_time_seconds": 1,
        "visibility_timeout": 10,  # the least the worker accepts: a killed job waits this long
        "max_receive_count": 4,
        "retry_backoff_base": 0.2,
        "worker_concurrency": 1,
        "drain_seconds": 5,
        "temp_dir": root,
        **overrides,
    }
    return Settings(**values)


class ChaosStack(Stack):
    """A stack whose clients are safe to use from several threads at once (boto3's default
    session is not): trials of one case run side by side."""

    _local = threading.local()

    def client(self, service: str) -> Any:
        if not hasattr(self._local, "session"):
            self._local.session = boto3.session.Session()
        return self._local.session.client(service, region_name=REGION)


def make_chaos_stack(root: Path, **overrides: Any) -> ChaosStack:
    """A fresh set of buckets, queues, topic and table on the shared server (the emulator
    fixture must be up), with ``root`` for the workers' directories."""
    root.mkdir(parents=True, exist_ok=True)
    settings = chaos_settings(root, **overrides)
    return ChaosStack(settings, bootstrap(settings))


@pytest.fixture
def make_stack(emulator: EmbeddedEmulator) -> Callable[..., ChaosStack]:
    return make_chaos_stack


class EventLog:
    """What a subscriber of the topic sees (every event checked against the contract)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._url = subscribe_queue(stack)
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Take what has arrived (a bounded read: progress events keep coming while jobs
        run, so reading until the queue is empty could take as long as the jobs)."""
        sqs = self._stack.client("sqs")
        for _ in range(20):
            batch = sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=1).get("Messages", [])  # fmt: skip
            for message in batch:
                self.events.append(check_event(message["Body"]))
                sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
            if len(batch) < 10:
                break
        return self.events

    def of_type(self, suffix: str, job_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["type"] == f"ffapi.job.{suffix}" and job_id in (None, e["subject"])
        ]  # fmt: skip

    def wait_terminal(self, count: int, timeout: float) -> list[dict[str, Any]]:
        def terminal() -> list[dict[str, Any]]:
            self.poll()
            done = self.of_type("completed") + self.of_type("failed")
            return done if len(done) >= count else []

        return list(wait_for(terminal, timeout, f"{count} final event(s)", every=0))


def queue_empty(stack: Stack) -> bool:
    return stack.queue_depth(stack.resources.queue_url) == 0


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s at 1280x720: an mp4-720p encode lasts a few seconds here, long enough to be
    caught in the act."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return asyncio.run(make_sample_clip(path, seconds=8))


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "small.mp4"
    return asyncio.run(make_sample_clip(path, seconds=2, width=320, height=180, fps=15))
