"""The job record crosses the job-store port typed: what the table keeps, read back as a
JobRecord; a field an older worker wrote that this version cannot read is left out, not the
whole record."""

from __future__ import annotations

import json

from boto3.dynamodb.types import TypeSerializer

from core.errors import InputNotFound
from core.events.progress import ProgressUpdate
from core.jobs.job_record import JobRecord, RecordedError
from core.jobs.results import JobStatus
from infra.jobstore_items import record as _record
from infra.jobstore_items import typed as _typed

_serialize = TypeSerializer().serialize
REQUEST = {"input": {"bucket": "input-bucket", "key": "clips/a.mp4"}, "preset": "mp4-720p"}


def item(**fields: object) -> dict[str, object]:
    """A DynamoDB item as the store writes it (JSON text for the nested documents)."""
    return {k: _serialize(v) for k, v in fields.items()}


def test_a_stored_item_reads_back_as_typed_fields() -> None:
    error = RecordedError.of(InputNotFound("s3://in/clips/a.mp4 does not exist"))
    raw = item(
        job_id="j-1",
        status="FAILED",
        attempts=2,
        lease_until=1700000000,
        request=json.dumps(REQUEST),
        error=error.model_dump_json(),
        retryable=False,
        progress=ProgressUpdate(phase="encode", percent=40.0).model_dump_json(),
        webhooks=[
            json.dumps(
                {
                    "event_id": "j-1:failed",
                    "event_type": "ffapi.job.failed",
                    "endpoint": "https://hooks.example/in",
                    "outcome": "delivered",
                    "at": "2026-01-01T00:00:00.000+00:00",
                    "status": 200,
                }
            )
        ],
        announced=True,
        last_write="abc",
    )
    record = _typed(_record(raw))
    assert record.status is JobStatus.FAILED
    assert record.finished
    assert (record.attempts, record.lease_until) == (2, 1700000000)
    assert record.request is not None
    assert record.request.input.key == "clips/a.mp4"
    assert record.error == error
    assert record.error.event_error()["code"] == "input_not_found"
    assert record.progress == ProgressUpdate(phase="encode", percent=40.0)
    assert [(d.endpoint, d.outcome, d.status) for d in record.webhooks] == [
        ("https://hooks.example/in", "delivered", 200)
    ]


def test_a_request_this_version_cannot_read_leaves_the_rest_readable() -> None:
    old = {**REQUEST, "gone_field": 1}  # a field this version no longer has
    record = _typed(_record(item(job_id="j-2", status="COMPLETED", request=json.dumps(old))))
    assert record.request is None
    assert (record.status, record.job_id) == (JobStatus.COMPLETED, "j-2")


def test_a_bare_mark_without_a_status_is_a_record_too() -> None:
    # mark_announced on a record the TTL had deleted writes an item of its own
    record = _typed(_record(item(job_id="j-3", announced=True, updated_at="2026-01-01")))
    assert record == JobRecord(job_id="j-3", updated_at="2026-01-01")
    assert not record.finished
