"""The dispatcher's contract with the queue, on in-memory ports (`dispatch_harness`): for each
kind of message and failure, what is acknowledged, what is retried, what is announced and
recorded; and the ids every log line and event of a job carry."""

from __future__ import annotations

import json

import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from core.errors import InvalidMedia, StorageUnavailable
from core.jobs.outcome import Disposition
from core.jobs.results import JobStatus
from core.ports import ObjectInfo

from .dispatch_harness import Harness, body, s3_put
from .fakes import FakePipeline


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


def test_an_announcement_of_an_overwritten_object_fails_without_running() -> None:
    h = Harness(FakePipeline(None))
    newer = ObjectInfo(size=99, etag="another-etag", version_id=None)
    h.objects.existing[("ffapi-input", "incoming/My Clip+1.mp4")] = newer

    outcome = h.handle(s3_put())

    assert outcome.disposition is Disposition.ACK
    assert h.events.types == ["ffapi.job.failed"]
    assert h.events.published[0].data["error"]["code"] == "input_changed"
    assert h.pipeline.runs == []


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
