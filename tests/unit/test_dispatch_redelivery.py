"""The dispatcher when a job's message comes again (`dispatch_harness`): duplicates of a running
or finished job, a live lease, announcements lost after recording or before the start, a job
handed back by a shutdown, and a finished job's final event replayed under its id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from core.errors import InvalidMedia, StorageUnavailable
from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.events.webhooks import WebhookTarget
from core.jobs.dispatch import Dispatcher
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.outcome import Disposition
from core.jobs.results import JobResult, JobStatus
from core.ports import ObjectInfo, QueueMessage
from core.presets import builtin_catalog

from .dispatch_harness import INTAKE, Harness, body, s3_put
from .fakes import NOW, FakePipeline


def test_a_duplicate_message_of_a_running_job_is_dropped_not_parked() -> None:
    h = Harness(FakePipeline(None))
    h.handle(s3_put())
    job_id = next(iter(h.jobs.records))
    h.jobs.records[job_id].update(status=JobStatus.RUNNING, lease_until=h.jobs.now + 42)

    # S3's second notification of the same upload, while the first one's job runs:
    outcome = h.handle(s3_put(), message_id="msg-2")

    assert outcome.disposition is Disposition.ACK  # msg-1 stays queued until the job ends
    assert outcome.jobs[0].status == "DUPLICATE"
    assert len(h.pipeline.runs) == 1


def test_a_job_leased_by_another_worker_comes_back_after_the_lease() -> None:
    # The same message delivered again while its first delivery's lease is live (a worker
    # that stalled): it must stay queued, since it may be the only carrier of the job.
    h = Harness(FakePipeline(None))
    h.handle(s3_put())
    job_id = next(iter(h.jobs.records))
    h.jobs.records[job_id].update(status=JobStatus.RUNNING, lease_until=h.jobs.now + 42)
    events_before = len(h.events.published)

    outcome = h.handle(s3_put())

    assert outcome.disposition is Disposition.RETRY
    assert outcome.retry_after == pytest.approx(42)
    assert outcome.jobs[0].status == "BUSY"
    assert len(h.events.published) == events_before
    assert len(h.pipeline.runs) == 1


def test_a_duplicate_after_the_source_was_deleted_leaves_the_completed_job_alone() -> None:
    h = Harness(FakePipeline(None))
    h.handle(s3_put())
    job_id = next(iter(h.jobs.records))
    h.objects.existing.clear()  # the client deleted the upload after job.completed

    outcome = h.handle(s3_put(), receive_count=2)  # S3 announced it twice

    assert outcome.disposition is Disposition.ACK
    assert outcome.jobs[0].status == "DUPLICATE"
    assert h.jobs.records[job_id]["status"] == JobStatus.COMPLETED
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.completed"]


def test_an_announcement_lost_after_recording_is_made_by_the_next_delivery() -> None:
    h = Harness(FakePipeline(None))
    h.events.outage.add("ffapi.job.completed")  # SNS fails right after the record is written
    with pytest.raises(StorageUnavailable):
        h.handle(s3_put())  # the worker leaves the message on the queue
    job_id = next(iter(h.jobs.records))
    assert h.jobs.records[job_id]["status"] == JobStatus.COMPLETED
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started"]

    outcome = h.handle(s3_put(), receive_count=2)

    assert outcome.disposition is Disposition.ACK
    assert outcome.jobs[0].status == "DUPLICATE"
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.completed"]
    assert h.events.published[-1].data["outputs"] == []
    assert len(h.pipeline.runs) == 1  # announced from the record, not transcoded again
    # Once announced, further deliveries stay silent.
    h.handle(s3_put(), receive_count=3)
    assert len(h.events.published) == 3


def test_a_failed_start_announcement_releases_the_job_for_the_next_delivery() -> None:
    h = Harness(FakePipeline(None))
    h.events.outage.add("ffapi.job.started")
    first = h.handle(s3_put())
    assert first.disposition is Disposition.RETRY
    assert h.jobs.records[first.jobs[0].job_id]["status"] == JobStatus.RETRYING
    assert h.pipeline.runs == []

    second = h.handle(s3_put(), receive_count=2)  # no wait for a lease to expire
    assert second.jobs[0].status == "COMPLETED"


def test_an_event_sent_again_keeps_its_id() -> None:
    h = Harness(FakePipeline(InvalidMedia("not media")))
    h.events.outage.add("ffapi.job.failed")
    with pytest.raises(StorageUnavailable):
        h.handle(s3_put())
    h.handle(s3_put(), receive_count=2)
    [failed] = [e for e in h.events.published if e.type.value == "ffapi.job.failed"]
    assert failed.data["error"]["code"] == "invalid_media"
    expected = job_event(EventType.FAILED, failed.subject, NOW, failed.data, 1)
    assert failed.id == expected.id


class BlockingPipeline(FakePipeline):
    """Runs until cancelled, as a long encode does when the worker is told to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.running = asyncio.Event()
        self.stopped = False

    async def run(self, *args: object, **kwargs: object) -> JobResult:
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.stopped = True
        raise AssertionError("unreachable")


def test_a_job_interrupted_by_shutdown_is_handed_back_for_the_next_delivery() -> None:
    pipeline = BlockingPipeline()
    h = Harness(pipeline)

    async def interrupt() -> None:
        task = asyncio.create_task(h.dispatcher.handle(QueueMessage("msg-1", s3_put(), 1)))
        await pipeline.running.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupt())

    assert pipeline.stopped
    [record] = h.jobs.records.values()
    assert record["status"] == JobStatus.RETRYING  # claimable now, not after the lease
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started"]  # nothing final
    h.use(FakePipeline(None))  # the next worker
    again = h.handle(s3_put(), receive_count=2)
    assert again.jobs[0].status == "COMPLETED"


@dataclass
class FakeHooks:
    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def send(self, event: CloudEvent, targets: Sequence[WebhookTarget]) -> None:
        self.sent.append((event.type.value, tuple(t.url for t in targets)))


def test_replay_resends_a_finished_jobs_final_event_under_its_id_to_its_webhooks() -> None:
    h = Harness(FakePipeline(None))
    h.dispatcher = Dispatcher(
        DispatchSettings(INTAKE, builtin_catalog(), 60, 3),
        h.objects,
        h.jobs,
        h.events,
        h.workspace,
        h.pipeline,
        lambda: NOW,
        hooks := FakeHooks(),
    )
    request = json.loads(body("job-request-minimal.json"))
    request["webhooks"] = [{"url": "https://hooks.example/ffapi"}]
    h.objects.existing[("ffapi-input", request["input"]["key"])] = ObjectInfo(1, None, None)
    [job] = h.handle(json.dumps(request)).jobs
    completed = h.events.published[-1]

    replayed = asyncio.run(h.dispatcher.replay(job.job_id))

    assert replayed is not None
    assert (replayed.type, replayed.id, replayed.data) == (
        EventType.COMPLETED,
        completed.id,
        completed.data,
    )
    assert h.events.published[-1].id == completed.id
    assert hooks.sent[-1] == ("ffapi.job.completed", ("https://hooks.example/ffapi",))
    assert [t for t, _ in hooks.sent] == [
        "ffapi.job.received",
        "ffapi.job.started",
        "ffapi.job.completed",
        "ffapi.job.completed",
    ]
    assert asyncio.run(h.dispatcher.replay("j-unknown")) is None


def test_replay_of_a_running_job_sends_nothing() -> None:
    h = Harness(FakePipeline(None))
    request = json.loads(body("job-request-minimal.json"))
    h.objects.existing[("ffapi-input", request["input"]["key"])] = ObjectInfo(1, None, None)
    h.jobs.records["j-running"] = {"status": JobStatus.RUNNING, "attempts": 1}
    assert asyncio.run(h.dispatcher.replay("j-running")) is None
    assert h.events.published == []
