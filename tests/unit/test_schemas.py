"""The committed JSON Schemas are the models' own, and what the worker builds validates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import ValidationError

from core.errors import InvalidMedia
from core.events.cloudevent import EventType
from core.events.contract import job_event
from core.jobs.batch_model import BatchMessage
from core.jobs.cancel_request import CancelRequest
from core.jobs.input_from import take_input_from
from core.models import JobRequest
from handlers.schemas import SCHEMA_DIR, render, stale
from tests.event_contract import check_event, validator

from .fakes import NOW
from .sample_bodies import CONFIG

EVENTS = Path(__file__).parents[2] / "events"
CONTEXT = {
    "input": {"bucket": "ffapi-input", "key": "incoming/a.mp4", "size": 10},
    "preset": "mp4-720p",
    "output": {"bucket": "ffapi-output", "prefix": "outputs"},
    "correlation_id": "c-1",
    "metadata": {"tenant": "acme"},
    "attempt": 1,
}


def test_committed_schemas_match_the_models() -> None:
    assert stale() == [], "run: .venv/bin/python -m handlers.schemas"


def test_a_model_change_is_caught(tmp_path: Path) -> None:
    for name, text in render().items():
        (tmp_path / name).write_text(text)
    assert stale(tmp_path) == []
    doc = json.loads((tmp_path / "ffapi.job.failed.schema.json").read_text())
    doc["$defs"]["ErrorInfo"]["required"].remove("retryable")
    (tmp_path / "ffapi.job.failed.schema.json").write_text(json.dumps(doc))
    (tmp_path / "ffapi.job.retired.schema.json").write_text("{}")
    assert stale(tmp_path) == ["ffapi.job.failed.schema.json", "ffapi.job.retired.schema.json"]


def test_there_is_a_schema_per_event_type_and_for_the_request() -> None:
    names = {p.name for p in SCHEMA_DIR.glob("*.schema.json")}
    requests = {f"{r}-request.schema.json" for r in ("job", "batch", "cancel")}
    assert names == {f"{t.value}.schema.json" for t in EventType} | requests


def test_the_cancel_sample_is_valid_and_a_hostile_id_is_refused_by_both() -> None:
    validator("cancel-request").validate(json.loads((EVENTS / "cancel-request.json").read_text()))
    hostile = (EVENTS / "invalid-cancel-job-id.json").read_text()
    with pytest.raises(ValidationError):
        validator("cancel-request").validate(json.loads(hostile))
    with pytest.raises(ValueError, match="validation error"):
        CancelRequest.model_validate_json(hostile)


BATCHES = sorted((EVENTS / "batch").glob("batch*.json"))


@pytest.mark.parametrize("sample", BATCHES, ids=lambda p: p.name)
def test_batch_samples_are_valid_by_the_schema_and_the_model(sample: Path) -> None:
    validator("batch-request").validate(json.loads(sample.read_text()))
    BatchMessage.model_validate_json(sample.read_text())


def test_the_batch_schema_refuses_a_batch_and_a_manifest_at_once() -> None:
    both = json.loads((EVENTS / "batch" / "batch.json").read_text())
    both["batch_manifest"] = {"bucket": "ffapi-input", "key": "batches/b.json"}
    with pytest.raises(ValueError, match="one of them"):
        BatchMessage.model_validate(both)
    unknown = {**json.loads((EVENTS / "batch" / "batch.json").read_text()), "surprise": 1}
    with pytest.raises(ValidationError):
        validator("batch-request").validate(unknown)


@pytest.mark.parametrize("sample", sorted(EVENTS.glob("job-request*.json")), ids=lambda p: p.name)
def test_sample_requests_are_valid_by_the_schema_and_the_model(sample: Path) -> None:
    body = json.loads(sample.read_text())
    validator("job-request").validate(body)
    # input.from (a job's output) is the wire's form: intake makes it the model's input_from.
    JobRequest.model_validate(take_input_from(body, CONFIG))


@pytest.mark.parametrize(
    "change",
    [
        {"preset": "rm -rf"},
        {"surprise": True},
        {"webhooks": [{"url": "file:///etc/passwd"}]},
        {"metadata": {"k": "v" * 257}},
    ],
)
def test_the_request_schema_refuses_what_the_model_refuses(change: dict[str, object]) -> None:
    body = {**json.loads((EVENTS / "job-request-minimal.json").read_text()), **change}
    with pytest.raises(ValidationError):
        validator("job-request").validate(body)
    with pytest.raises(ValueError, match="validation error"):
        JobRequest.model_validate_json(json.dumps(body))


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        (EventType.RECEIVED, CONTEXT),
        (EventType.STARTED, CONTEXT),
        (
            EventType.PROGRESS,
            {
                "preset": "web-hls",
                "correlation_id": None,
                "attempt": 2,
                "progress": {"phase": "encode", "percent": 12.5, "speed": 1.5, "eta_seconds": 30.0},
            },
        ),
        (EventType.FAILED, {**CONTEXT, "error": InvalidMedia("bad", stderr_tail="x").to_dict()}),
        (EventType.CANCELLED, {**CONTEXT, "status": "CANCELLED"}),
        (EventType.CANCELLED, {"input": None, "attempt": 1, "status": "CANCELLED"}),
        (
            EventType.FAILED,
            {
                "input": None,
                "attempt": 1,
                "correlation_id": "m-1",
                "error": {"code": "malformed_json", "message": "not JSON", "retryable": False},
            },
        ),
    ],
)
def test_built_events_validate_against_their_committed_schema(
    type_: EventType, data: dict[str, object]
) -> None:
    event = check_event(job_event(type_, "j-0123", NOW, data, 1).to_json())
    assert event["data"]["job_id"] == "j-0123"


def test_the_schema_refuses_an_event_missing_a_contract_field() -> None:
    event = json.loads(job_event(EventType.STARTED, "j-0123", NOW, CONTEXT, 1).to_json())
    del event["data"]["correlation_id"]  # always sent, null when unknown
    with pytest.raises(ValidationError):
        validator("ffapi.job.started").validate(event)
