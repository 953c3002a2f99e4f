"""The dispatcher reserves disk for the input it pinned from S3 before anything is downloaded:
a worker short of room hands the job back (transiently) instead of filling its disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from core.jobs.dispatch import Dispatcher
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.outcome import Disposition, Outcome
from core.jobs.results import JobStatus
from core.jobs.watch import IntakeConfig, WatchRule
from core.models import OutputLocation
from core.ports import ObjectInfo, QueueMessage
from core.presets import builtin_catalog

from .fakes import NOW, FakeEvents, FakeJobs, FakeObjects, FakePipeline, FakeWorkspace

S3_PUT = (Path(__file__).parents[2] / "events" / "s3-put.json").read_text()
OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")
INTAKE = IntakeConfig(
    rules=(WatchRule(bucket="ffapi-input", prefix="incoming/", preset="mp4-720p", output=OUT),),
    default_output=OUT,
)
SIZE = 5_000_000  # what HEAD says; the event's own size may be stale or absent


def handle(workspace: FakeWorkspace, pipeline: FakePipeline, jobs: FakeJobs) -> Outcome:
    info = ObjectInfo(size=SIZE, etag=None, version_id=None)
    objects = FakeObjects({("ffapi-input", "incoming/My Clip+1.mp4"): info})
    dispatcher = Dispatcher(
        DispatchSettings(INTAKE, builtin_catalog(), 60, 3),
        objects,
        jobs,
        FakeEvents(),
        workspace,
        pipeline,
        lambda: NOW,
    )
    return asyncio.run(dispatcher.handle(QueueMessage("msg-1", S3_PUT, 1)))


def test_the_job_dir_is_asked_for_the_pinned_input_size() -> None:
    workspace, pipeline = FakeWorkspace(), FakePipeline(None)
    outcome = handle(workspace, pipeline, FakeJobs())
    assert outcome.jobs[0].status == "COMPLETED"
    assert workspace.reserved == [SIZE]


def test_too_little_disk_retries_the_job_without_running_it() -> None:
    workspace, pipeline, jobs = FakeWorkspace(free_bytes=SIZE - 1), FakePipeline(None), FakeJobs()
    outcome = handle(workspace, pipeline, jobs)
    assert outcome.disposition is Disposition.RETRY
    [job] = outcome.jobs
    assert job.status == "RETRYING"
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == ("insufficient_disk", True)
    assert pipeline.runs == []  # nothing downloaded, nothing encoded
    assert workspace.opened == []
    record = jobs.records[job.job_id]
    assert record["status"] == JobStatus.RETRYING
    assert record["error"]["code"] == "insufficient_disk"


def test_an_input_over_the_limit_fails_permanently_even_on_a_short_disk() -> None:
    workspace, pipeline, jobs = FakeWorkspace(free_bytes=1), FakePipeline(None), FakeJobs()
    pipeline.max_input_bytes = SIZE - 1
    outcome = handle(workspace, pipeline, jobs)
    assert outcome.disposition is Disposition.ACK  # final: no retry as a full disk
    [job] = outcome.jobs
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == ("input_too_large", False)
    assert workspace.reserved == []


def test_the_objects_a_steps_job_names_are_reserved_with_its_input() -> None:
    objects = FakeObjects(
        {
            ("ffapi-input", "in.mp4"): ObjectInfo(size=SIZE, etag="e0", version_id=None),
            ("ffapi-input", "outro.mp4"): ObjectInfo(size=3_000_000, etag="e1", version_id=None),
        }
    )
    body = json.dumps(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "in.mp4"},
            "steps": [
                {"op": "concat", "inputs": [{"key": "outro.mp4"}]},
                {"op": "encode", "preset": "mp4-480p"},
            ],
        }
    )
    workspace = FakeWorkspace()
    dispatcher = Dispatcher(
        DispatchSettings(INTAKE, builtin_catalog(), 60, 3),
        objects,
        FakeJobs(),
        FakeEvents(),
        workspace,
        FakePipeline(None),
        lambda: NOW,
    )
    outcome = asyncio.run(dispatcher.handle(QueueMessage("msg-1", body, 1)))
    assert outcome.jobs[0].status == "COMPLETED"
    assert workspace.reserved == [SIZE + 3_000_000]
