"""The CloudEvents contract of job events (core.events.contract.job_event): the envelope and its
routing attributes, refusal of data that breaks the contract, JSON round trips, time offsets,
and ids that name one announcement."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from core.errors import (
    InvalidMedia,
)
from core.events.cloudevent import EVENT_SOURCE, CloudEvent, EventType
from core.events.contract import job_event

NOW = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
CONTEXT = {
    "input": {"bucket": "ffapi-input", "key": "incoming/a.mp4"},
    "preset": "mp4-720p",
    "attempt": 1,
}
ERROR = {"code": "invalid_media", "message": "unreadable", "retryable": False}
FAILED = {**CONTEXT, "error": ERROR}


@pytest.mark.parametrize(
    ("type_", "status", "data"),
    [
        (EventType.RECEIVED, "received", CONTEXT),
        (EventType.STARTED, "started", CONTEXT),
        (
            EventType.PROGRESS,
            "progress",
            {"attempt": 1, "progress": {"phase": "encode", "percent": 40.0}},
        ),
        (EventType.FAILED, "failed", {**CONTEXT, "error": ERROR}),
    ],
)
def test_job_event_envelope(type_: EventType, status: str, data: dict[str, object]) -> None:
    job_id = "j-0123456789abcdef01234567"
    event = job_event(type_, job_id, NOW, data, 1)
    assert isinstance(event, CloudEvent)
    assert event.specversion == "1.0"
    assert event.type == type_
    assert event.type.value == f"ffapi.job.{status}"
    assert event.subject == job_id
    assert event.source == EVENT_SOURCE
    assert event.datacontenttype == "application/json"
    assert event.data["job_id"] == job_id
    assert event.data["attempt"] == 1
    preset = {"preset": "mp4-720p"} if "preset" in data else {}
    assert event.attributes == {"type": f"ffapi.job.{status}", "status": status, **preset}
    assert all(isinstance(v, str) for v in event.attributes.values())


@pytest.mark.parametrize(
    "data",
    [
        {**CONTEXT, "surprise": 1},  # an undeclared field
        {**CONTEXT, "attempt": 0},
        {"preset": "mp4-720p", "attempt": 1},  # no input key at all
        {**CONTEXT, "error": {**ERROR, "retryable": "perhaps"}},
    ],
)
def test_an_event_that_breaks_the_contract_is_never_built(data: dict[str, object]) -> None:
    type_ = EventType.FAILED if "error" in data else EventType.STARTED
    with pytest.raises(ValidationError):
        job_event(type_, "j-0123456789abcdef01234567", NOW, data, 1)


def test_event_to_json_round_trips() -> None:
    job_id = "j-0123456789abcdef01234567"
    error = InvalidMedia("ffmpeg failed: truncated", stderr_tail="moov atom not found")
    event = job_event(EventType.FAILED, job_id, NOW, {**CONTEXT, "error": error.to_dict()}, 1)
    body = json.loads(event.to_json())
    assert body["specversion"] == "1.0"
    assert body["type"] == "ffapi.job.failed"
    assert body["subject"] == job_id
    assert body["id"] == event.id
    assert body["source"] == EVENT_SOURCE
    assert body["datacontenttype"] == "application/json"
    assert body["data"]["job_id"] == job_id
    assert body["data"]["error"] == {
        "code": "invalid_media",
        "message": "ffmpeg failed: truncated",
        "retryable": False,
        "stderr_tail": "moov atom not found",
        "details": None,
    }
    assert isinstance(body["time"], str)
    parsed = datetime.fromisoformat(body["time"])
    assert parsed == NOW
    assert parsed.utcoffset() == timedelta(0)
    assert CloudEvent.model_validate_json(event.to_json()) == event


def test_event_time_keeps_its_offset() -> None:
    local = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    body = json.loads(job_event(EventType.STARTED, "j-x", local, CONTEXT, 1).to_json())
    assert datetime.fromisoformat(body["time"]) == local


def test_event_ids_name_one_announcement() -> None:
    # The same job, type and attempt is the same announcement: re-sending it keeps the id.
    first = job_event(EventType.FAILED, "j-x", NOW, FAILED, 1)
    again = job_event(EventType.FAILED, "j-x", NOW + timedelta(minutes=5), FAILED, 1)
    assert first.id == again.id
    others = {
        job_event(EventType.STARTED, "j-x", NOW, CONTEXT, 1).id,
        job_event(EventType.FAILED, "j-x", NOW, FAILED, 2).id,
        job_event(EventType.FAILED, "j-y", NOW, FAILED, 1).id,
    }
    assert first.id not in others
    assert len(others) == 3
    assert str(uuid.UUID(first.id)) == first.id


def test_events_about_a_preset_carry_it_as_a_routing_attribute() -> None:
    event = job_event(EventType.FAILED, "j-x", NOW, {**FAILED, "preset": "mp4-480p"}, 1)
    assert event.attributes == {
        "type": "ffapi.job.failed",
        "status": "failed",
        "preset": "mp4-480p",
    }
