"""The dispatcher's contract with the queue, on in-memory ports: what is acknowledged, what is
retried, what is announced, and what is recorded."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from core.contract import job_event
from core.dispatch import Dispatcher, DispatchSettings, Disposition, Outcome, QueueMessage
from core.errors import InvalidMedia, StorageUnavailable
from core.events import EventType
from core.jobs import JobResult, JobStatus
from core.models import OutputLocation
from core.ports import ObjectInfo
from core.presets import builtin_catalog
from core.watch import IntakeConfig, WatchRule

from .fakes import NOW, FakeEvents, FakeJobs, FakeObjects, FakePipeline, FakeWorkspace

EVENTS = Path(__file__).parents[2] / "events"
OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")
INTAKE = IntakeConfig(
    rules=(WatchRule(bucket="ffapi-input", prefix="incoming/", preset="mp4-720p", output=OUT),),
    default_output=OUT,
)


class Harness:
    def __init__(
        self, pipeline: FakePipeline, max_receive_count: int = 3, lease_seconds: float = 60,
        stall_seconds: float | None = None,
    ) -> None:  # fmt: skip
        info = ObjectInfo(size=1234, etag=None, version_id=None)  # the event's ETag stands
        self.objects = FakeObjects({
            ("ffapi-input", "incoming/My Clip+1.mp4"): info,
            ("ffapi-input", "incoming/batch/first.mp4"): info,
            ("ffapi-input", "incoming/batch/second take.mov"): info,
        })  # fmt: skip
        self.jobs, self.events, self.workspace = FakeJobs(), FakeEvents(), FakeWorkspace()
        self.pipeline = pipeline
        self.dispatcher = Dispatcher(
            DispatchSettings(
                INTAKE, builtin_catalog(), lease_seconds, max_receive_count, stall_seconds
            ),
            self.objects, self.jobs, self.events, self.workspace, pipeline,  # type: ignore[arg-type]
            lambda: NOW,
        )  # fmt: skip

    def handle(self, body: str, receive_count: int = 1, message_id: str = "msg-1") -> Outcome:
        message = QueueMessage(message_id, body, receive_count)
        return asyncio.run(self.dispatcher.handle(message))


def body(name: str) -> str:
    return (EVENTS / name).read_text()


def s3_put() -> str:
    return body("s3-put.json")


def test_a_finished_job_is_recorded_announced_and_acknowledged() -> None:
    h = Harness(FakePipeline(None))
    outcome = h.handle(s3_put())
    assert outcome.disposition is Disposition.ACK
    [job] = outcome.jobs
    assert job.status == "COMPLETED"
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.completed"]
    assert all(e.subject == job.job_id for e in h.events.published)
    assert h.jobs.records[job.job_id]["status"] == JobStatus.COMPLETED
    started = h.events.published[0].data
    assert started["input"]["key"] == "incoming/My Clip+1.mp4"
    assert started["input"]["size"] == 1234  # identity pinned from S3 before the claim


def test_a_bad_input_fails_once_permanently_and_is_acknowledged() -> None:
    h = Harness(FakePipeline(InvalidMedia("not media")))
    outcome = h.handle(s3_put())
    assert outcome.disposition is Disposition.ACK
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.failed"]
    error = h.events.published[-1].data["error"]
    assert error == {
        "code": "invalid_media", "message": "not media", "retryable": False,
        "stderr_tail": None, "details": None,
    }  # fmt: skip
    assert h.jobs.records[outcome.jobs[0].job_id]["status"] == JobStatus.FAILED
    # A redelivery of the same upload is a no-op: the failure is final.
    again = h.handle(s3_put(), receive_count=2)
    assert again.disposition is Disposition.ACK
    assert again.jobs[0].status == "DUPLICATE"
    assert len(h.pipeline.runs) == 1


def test_a_transient_failure_is_retried_silently_then_succeeds() -> None:
    h = Harness(FakePipeline(StorageUnavailable("s3 down"), None))
    first = h.handle(s3_put(), receive_count=1)
    assert first.disposition is Disposition.RETRY
    assert first.jobs[0].status == "RETRYING"
    assert h.events.types == [
        "ffapi.job.received",
        "ffapi.job.started",
    ]
    assert h.jobs.records[first.jobs[0].job_id]["status"] == JobStatus.RETRYING

    second = h.handle(s3_put(), receive_count=2)
    assert second.disposition is Disposition.ACK
    assert second.jobs[0].status == "COMPLETED"
    assert [attempt for _, attempt in h.pipeline.runs] == [1, 2]
    assert h.events.types[-1] == "ffapi.job.completed"


def test_a_transient_failure_on_the_last_delivery_is_announced_and_left_for_the_dlq() -> None:
    h = Harness(FakePipeline(StorageUnavailable("s3 down"), None), max_receive_count=2)
    last = h.handle(s3_put(), receive_count=2)
    assert last.disposition is Disposition.RETRY  # the queue moves it to the DLQ
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.failed"]
    error = h.events.published[-1].data["error"]
    assert (error["code"], error["retryable"]) == ("max_attempts", True)
    assert error["details"]["cause"]["code"] == "storage_unavailable"
    assert error["details"]["attempts"] == 1  # this claim's attempt: one job run
    assert "storage_unavailable: s3 down" in error["message"]
    job_id = last.jobs[0].job_id
    assert h.jobs.records[job_id]["error"]["code"] == "max_attempts"
    assert h.jobs.records[job_id]["status"] == JobStatus.FAILED
    # A redrive from the DLQ may claim it again, since the failure was retryable.
    redriven = h.handle(s3_put(), receive_count=1)
    assert redriven.jobs[0].status == "COMPLETED"


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


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("invalid-bad-json.json", "malformed_json"),
        ("invalid-unknown-field.json", "invalid_request"),
        ("invalid-unrecognized.json", "unrecognized_message"),
    ],
)
def test_a_message_that_can_never_succeed_is_announced_and_acknowledged(
    name: str, code: str
) -> None:
    h = Harness(FakePipeline())
    outcome = h.handle(body(name))
    assert outcome.disposition is Disposition.ACK
    [event] = h.events.published
    assert event.type.value == "ffapi.job.failed"
    assert event.subject.startswith("m-")
    assert event.data["error"]["code"] == code
    assert event.data["error"]["retryable"] is False
    assert h.pipeline.runs == []
    # Delivered again (a delete that failed), it is the same announcement: same subject and id.
    h.handle(body(name), receive_count=2)
    assert h.events.published[1].subject == event.subject
    assert h.events.published[1].id == event.id


def test_a_missing_input_is_a_permanent_failure_without_a_start() -> None:
    h = Harness(FakePipeline())
    request = {"input": {"bucket": "ffapi-input", "key": "library/gone.mp4"}}
    outcome = h.handle(json.dumps(request))
    assert outcome.disposition is Disposition.ACK
    assert h.events.types == ["ffapi.job.failed"]
    assert h.events.published[0].data["error"]["code"] == "input_not_found"


def test_test_events_and_unwatched_keys_are_acknowledged_quietly() -> None:
    h = Harness(FakePipeline())
    for name in ("s3-test-event.json", "s3-outside-prefix.json", "s3-delete.json"):
        outcome = h.handle(body(name))
        assert outcome.disposition is Disposition.ACK
        assert outcome.jobs == []
        assert len(outcome.ignored) == 1
    assert h.events.published == []


def test_an_unexpected_exception_becomes_a_retryable_internal_error() -> None:
    h = Harness(FakePipeline(RuntimeError("bug")))
    outcome = h.handle(s3_put())
    assert outcome.disposition is Disposition.RETRY
    assert outcome.jobs[0].error is not None
    assert outcome.jobs[0].error.code == "internal_error"


def test_a_batch_of_records_is_retried_whole_but_finished_jobs_are_not_redone() -> None:
    h = Harness(FakePipeline(None, StorageUnavailable("s3 down"), None))
    first = h.handle(body("s3-two-records.json"))
    assert [j.status for j in first.jobs] == ["COMPLETED", "RETRYING"]
    assert first.disposition is Disposition.RETRY
    second = h.handle(body("s3-two-records.json"), receive_count=2)
    assert [j.status for j in second.jobs] == ["DUPLICATE", "COMPLETED"]
    assert len(h.pipeline.runs) == 3


def test_the_job_and_message_ids_are_bound_to_every_log_line_of_the_job() -> None:
    h = Harness(FakePipeline(None))
    with capture_logs(processors=[merge_contextvars]) as logs:
        outcome = h.handle(s3_put())
    job_id = outcome.jobs[0].job_id
    started = next(e for e in logs if e["event"] == "job.started")
    completed = next(e for e in logs if e["event"] == "job.completed")
    for entry in (started, completed):
        assert entry["job_id"] == job_id
        assert entry["message_id"] == "msg-1"


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


def test_an_announcement_of_an_overwritten_object_fails_without_running() -> None:
    h = Harness(FakePipeline(None))
    newer = ObjectInfo(size=99, etag="another-etag", version_id=None)
    h.objects.existing[("ffapi-input", "incoming/My Clip+1.mp4")] = newer

    outcome = h.handle(s3_put())

    assert outcome.disposition is Disposition.ACK
    assert h.events.types == ["ffapi.job.failed"]
    assert h.events.published[0].data["error"]["code"] == "input_changed"
    assert h.pipeline.runs == []


@dataclass
class FakeHooks:
    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def send(self, event, targets) -> None:
        self.sent.append((event.type.value, tuple(t.url for t in targets)))


def test_replay_resends_a_finished_jobs_final_event_under_its_id_to_its_webhooks() -> None:
    h = Harness(FakePipeline(None))
    h.dispatcher = Dispatcher(
        DispatchSettings(INTAKE, builtin_catalog(), 60, 3),
        h.objects, h.jobs, h.events, h.workspace, h.pipeline,  # type: ignore[arg-type]
        lambda: NOW, hooks := FakeHooks(),
    )  # fmt: skip
    request = json.loads(body("job-request-minimal.json"))
    request["webhooks"] = [{"url": "https://hooks.example/ffapi"}]
    h.objects.existing[("ffapi-input", request["input"]["key"])] = ObjectInfo(1, None, None)
    [job] = h.handle(json.dumps(request)).jobs
    completed = h.events.published[-1]

    replayed = asyncio.run(h.dispatcher.replay(job.job_id))

    assert replayed is not None
    assert (replayed.type, replayed.id, replayed.data) == (
        EventType.COMPLETED, completed.id, completed.data,
    )  # fmt: skip
    assert h.events.published[-1].id == completed.id
    assert hooks.sent[-1] == ("ffapi.job.completed", ("https://hooks.example/ffapi",))
    assert [t for t, _ in hooks.sent] == [
        "ffapi.job.received", "ffapi.job.started", "ffapi.job.completed", "ffapi.job.completed",
    ]  # fmt: skip
    assert asyncio.run(h.dispatcher.replay("j-unknown")) is None


def test_replay_of_a_running_job_sends_nothing() -> None:
    h = Harness(FakePipeline(None))
    request = json.loads(body("job-request-minimal.json"))
    h.objects.existing[("ffapi-input", request["input"]["key"])] = ObjectInfo(1, None, None)
    h.jobs.records["j-running"] = {"status": JobStatus.RUNNING, "attempts": 1}
    assert asyncio.run(h.dispatcher.replay("j-running")) is None
    assert h.events.published == []


def test_the_correlation_id_is_the_requests_or_the_messages_and_goes_everywhere() -> None:
    h = Harness(FakePipeline(None))
    with capture_logs(processors=[merge_contextvars]) as logs:
        h.handle(s3_put(), message_id="sqs-7")  # an S3 event names none
    job_lines = [e for e in logs if "job_id" in e]
    assert job_lines
    assert {e["correlation_id"] for e in job_lines} == {"sqs-7"}
    assert {e.data["correlation_id"] for e in h.events.published} == {"sqs-7"}

    request = json.loads(body("job-request.json"))  # it names "order-4711"
    h.objects.existing[("ffapi-input", request["input"]["key"])] = ObjectInfo(1, None, None)
    h.events.published.clear()
    with capture_logs(processors=[merge_contextvars]) as logs:
        h.handle(json.dumps(request), message_id="sqs-8")
    assert {e["correlation_id"] for e in logs if "job_id" in e} == {"order-4711"}
    assert {e.data["correlation_id"] for e in h.events.published} == {"order-4711"}


def test_a_message_that_is_no_job_is_announced_with_its_message_id_as_correlation() -> None:
    h = Harness(FakePipeline())
    h.handle(body("invalid-bad-json.json"), message_id="sqs-9")
    [failed] = h.events.published
    assert failed.data["correlation_id"] == "sqs-9"
    assert failed.data["input"] is None


class BlockingPipeline(FakePipeline):
    """Runs until cancelled, as a long encode does when the worker is told to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.running = asyncio.Event()
        self.stopped = False

    async def run(self, *args: object, **kwargs: object) -> JobResult:  # type: ignore[override]
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
    h.pipeline = FakePipeline(None)
    h.dispatcher._pipeline = h.pipeline  # the next worker
    again = h.handle(s3_put(), receive_count=2)
    assert again.jobs[0].status == "COMPLETED"
