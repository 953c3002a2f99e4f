"""A Dispatcher on the in-memory ports of `fakes`, watching ffapi-input/incoming/, and the
sample bodies in events/ to hand it: for the dispatcher's unit tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.jobs.dispatch import Dispatcher
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.outcome import Outcome
from core.jobs.watch import IntakeConfig, WatchRule
from core.models import OutputLocation
from core.ports import ObjectInfo, QueueMessage
from core.presets import builtin_catalog

from .fakes import NOW, FakeEvents, FakeJobs, FakeObjects, FakePipeline, FakeWorkspace

EVENTS = Path(__file__).parents[2] / "events"
OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")
INTAKE = IntakeConfig(
    rules=(WatchRule(bucket="ffapi-input", prefix="incoming/", preset="mp4-720p", output=OUT),),
    default_output=OUT,
)


class Harness:
    def __init__(
        self,
        pipeline: FakePipeline,
        max_receive_count: int = 3,
        lease_seconds: float = 60,
        stall_seconds: float | None = None,
    ) -> None:
        info = ObjectInfo(size=1234, etag=None, version_id=None)  # the event's ETag stands
        self.objects = FakeObjects(
            {
                ("ffapi-input", "incoming/My Clip+1.mp4"): info,
                ("ffapi-input", "incoming/batch/first.mp4"): info,
                ("ffapi-input", "incoming/batch/second take.mov"): info,
            }
        )
        self.jobs, self.events, self.workspace = FakeJobs(), FakeEvents(), FakeWorkspace()
        self.settings = DispatchSettings(
            INTAKE, builtin_catalog(), lease_seconds, max_receive_count, stall_seconds
        )
        self.use(pipeline)

    def use(self, pipeline: FakePipeline) -> None:
        """A dispatcher running ``pipeline`` on the same store, topic and bucket (the next
        worker, or a pipeline that needs the harness's fakes)."""
        self.pipeline = pipeline
        self.dispatcher = Dispatcher(
            self.settings,
            self.objects,
            self.jobs,
            self.events,
            self.workspace,
            pipeline,
            lambda: NOW,
        )

    def handle(self, body: str, receive_count: int = 1, message_id: str = "msg-1") -> Outcome:
        message = QueueMessage(message_id, body, receive_count)
        return asyncio.run(self.dispatcher.handle(message))


def body(name: str) -> str:
    return (EVENTS / name).read_text()


def s3_put() -> str:
    return body("s3-put.json")
