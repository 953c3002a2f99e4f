"""Job identity, output keys, the CloudEvents contract and the error tree."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

import core.errors as errors_module
from core import errors
from core.contract import job_event
from core.errors import (
    AcceleratorFailed,
    FfapiError,
    InternalError,
    InvalidMedia,
    InvalidMessage,
    PermanentError,
    TransientError,
    as_ffapi_error,
)
from core.events import EVENT_SOURCE, CloudEvent, EventType
from core.jobs import derive_job_id, output_key, resolve_preset
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.presets import builtin_catalog

JOB_ID_RE = re.compile(r"^j-[0-9a-f]{24}$")
NOW = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def request(**changes: Any) -> JobRequest:
    """A fully specified request; `changes` override input/output fields or top-level ones."""
    ref: dict[str, Any] = {
        "bucket": "ffapi-input",
        "key": "incoming/holiday.mov",
        "version_id": "3HL4kqtJlcpXroDTDmJ-rDSnxvI8vCgE",
        "etag": "9b2cf535f27731c974343645a3985328",
        "size": 10_485_760,
    }
    out: dict[str, Any] = {"bucket": "ffapi-output", "prefix": "outputs"}
    top: dict[str, Any] = {"preset": "mp4-720p", "correlation_id": "req-1", "metadata": {}}
    for name, value in changes.items():
        if name.startswith("input_"):
            ref[name.removeprefix("input_")] = value
        elif name.startswith("output_"):
            out[name.removeprefix("output_")] = value
        else:
            top[name] = value
    return JobRequest(input=S3ObjectRef(**ref), output=OutputLocation(**out), **top)


# --------------------------------------------------------------------------- derive_job_id


def job_id(req: JobRequest) -> str:
    return derive_job_id(req, resolve_preset(builtin_catalog(), req))


RUNG = {"name": "540p", "short_side": 540, "video_kbps": 2000, "maxrate_kbps": 2140,
        "bufsize_kbps": 3000}  # fmt: skip


def test_an_inline_ladder_replaces_the_presets_and_is_part_of_the_identity() -> None:
    base = request(preset="web-hls")
    inline = JobRequest.model_validate({**base.model_dump(), "ladder": [RUNG]})
    preset = resolve_preset(builtin_catalog(), inline)
    assert [r.name for r in preset.ladder] == ["540p"]  # type: ignore[union-attr]
    assert job_id(inline) != job_id(base)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preset": "no-such-preset"}, "unknown preset"),
        ({"preset": "mp4-720p", "ladder": [RUNG]}, "no ladder"),
        ({"preset": "web-hls", "ladder": [RUNG, {**RUNG, "name": "x", "short_side": 720}]},
         "descending"),
    ],
)  # fmt: skip
def test_a_request_without_a_usable_preset_is_refused(change: dict, message: str) -> None:
    req = JobRequest.model_validate({**request().model_dump(), **change})
    with pytest.raises(InvalidMessage, match=message) as info:
        resolve_preset(builtin_catalog(), req)
    assert info.value.code == "invalid_request"


def test_inline_ladders_are_bounded() -> None:
    with pytest.raises(ValueError, match="at most 8"):
        JobRequest.model_validate({**request().model_dump(), "ladder": [RUNG] * 9})
    with pytest.raises(ValueError, match="less than or equal to 100000"):
        JobRequest.model_validate(
            {**request().model_dump(), "ladder": [{**RUNG, "video_kbps": 10**6}]}
        )


def test_a_callers_idempotency_key_is_the_whole_identity() -> None:
    keyed = JobRequest.model_validate({**request().model_dump(), "idempotency_key": "order-7"})
    changed = request(input_etag="another", preset="mp4-480p").model_dump()
    resent = JobRequest.model_validate({**changed, "idempotency_key": "order-7"})
    assert job_id(keyed) == job_id(resent)  # one key, one job
    assert JOB_ID_RE.match(job_id(keyed))
    assert job_id(keyed) != job_id(request())
    other = JobRequest.model_validate({**request().model_dump(), "idempotency_key": "order-8"})
    assert job_id(other) != job_id(keyed)


def test_job_id_format() -> None:
    assert JOB_ID_RE.match(job_id(request()))


def test_job_id_is_stable() -> None:
    assert job_id(request()) == job_id(request())
    # Rebuilt from JSON, as a redelivered SQS message would be.
    again = JobRequest.model_validate_json(request().model_dump_json())
    assert job_id(again) == job_id(request())


@pytest.mark.parametrize(
    "change",
    [
        {"input_etag": "0f343b0931126a20f133d67c2b018a3b"},
        {"input_etag": None},
        {"input_version_id": "null"},
        {"input_version_id": None},
        {"input_key": "incoming/holiday2.mov"},
        {"input_bucket": "other-input"},
        {"preset": "mp4-480p"},
        {"output_bucket": "other-output"},
        {"output_prefix": "renditions"},
        {"output_prefix": ""},
    ],
    ids=lambda c: next(iter(c)) + "=" + repr(next(iter(c.values()))),
)
def test_job_id_changes_with_what_is_asked(change: dict[str, Any]) -> None:
    assert job_id(request(**change)) != job_id(request())
    assert JOB_ID_RE.match(job_id(request(**change)))


def test_job_id_with_and_without_an_output_location_differ() -> None:
    base = request()
    without = base.model_copy(update={"output": None})
    assert job_id(without) != job_id(base)


@pytest.mark.parametrize(
    "change",
    [
        {"correlation_id": "req-2"},
        {"correlation_id": None},
        {"metadata": {"tenant": "acme", "trace": "abc123"}},
        {"input_size": 1},
        {"input_size": None},
    ],
)
def test_job_id_ignores_what_does_not_change_the_outputs(change: dict[str, Any]) -> None:
    # The job id is the idempotency key for the *outputs*: S3 can announce the same object
    # twice with different correlation ids, and a caller's metadata is echoed in events but
    # never reaches ffmpeg. Including them would transcode the same object version twice and
    # write two copies of identical outputs; the object's size is implied by version/etag.
    assert job_id(request(**change)) == job_id(request())


def test_job_id_fields_cannot_bleed_into_each_other() -> None:
    # Fields are joined with NUL, so moving characters from one field into the next one
    # (the concatenation stays "ffapi-outputab") still changes the id.
    a = request(output_bucket="ffapi-output", output_prefix="ab")
    b = request(output_bucket="ffapi-outputa", output_prefix="b")
    assert job_id(a) != job_id(b)


# --------------------------------------------------------------------------- output_key


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("outputs", "outputs/j-abc/video.mp4"),
        ("outputs/", "outputs/j-abc/video.mp4"),
        ("/outputs/", "outputs/j-abc/video.mp4"),
        ("", "j-abc/video.mp4"),
        ("/", "j-abc/video.mp4"),
        ("a/b/c", "a/b/c/j-abc/video.mp4"),
    ],
)
def test_output_key(prefix: str, expected: str) -> None:
    location = OutputLocation(bucket="ffapi-output", prefix=prefix)
    assert output_key(location, "j-abc", "video.mp4") == expected


# --------------------------------------------------------------------------- events


CONTEXT = {
    "input": {"bucket": "ffapi-input", "key": "incoming/a.mp4"}, "preset": "mp4-720p",
    "attempt": 1,
}  # fmt: skip
ERROR = {"code": "invalid_media", "message": "unreadable", "retryable": False}
FAILED = {**CONTEXT, "error": ERROR}


@pytest.mark.parametrize(
    ("type_", "status", "data"),
    [
        (EventType.RECEIVED, "received", CONTEXT),
        (EventType.STARTED, "started", CONTEXT),
        (EventType.PROGRESS, "progress", {"attempt": 1, "progress": {"phase": "encode",
                                                                   "percent": 40.0}}),
        (EventType.FAILED, "failed", {**CONTEXT, "error": ERROR}),
    ],
)  # fmt: skip
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


# --------------------------------------------------------------------------- errors


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


ERROR_CLASSES = [c for c in _all_subclasses(FfapiError) if c.__module__ == errors.__name__]
FAMILIES = {PermanentError, TransientError}
CONCRETE = [c for c in ERROR_CLASSES if c not in FAMILIES]


def test_the_tree_is_what_the_docstring_says() -> None:
    doc = errors_module.__doc__ or ""
    for cls in CONCRETE:  # every class and its code is drawn in the module's docstring
        assert cls.__name__ in doc
        assert f"[{cls.default_code}]" in doc or f" {cls.default_code}]" in doc
    names = {c.__name__ for c in CONCRETE}
    assert names == {
        "AttemptsExhausted",
        "InvalidMessage",
        "ForbiddenBucket",
        "InvalidKey",
        "ForbiddenPrefix",
        "ForbiddenWebhook",
        "InputNotFound",
        "InputForbidden",
        "InputChanged",
        "InputTooLarge",
        "InvalidMedia",
        "UnsupportedMedia",
        "UnsupportedFormat",
        "UnsupportedCodec",
        "FrameTooLarge",
        "FrameRateTooHigh",
        "TooManyStreams",
        "InputTooLong",
        "MemoryLimitExceeded",
        "OutputTooLarge",
        "CpuTimeExceeded",
        "QcFailed",
        "StorageUnavailable",
        "ResourceExhausted",
        "InsufficientDisk",
        "TranscodeTimeout",
        "TranscodeStalled",
        "TranscodeFailed",
        "AcceleratorFailed",
        "JobBusy",
        "InternalError",
    }
    assert all(issubclass(c, PermanentError | TransientError) for c in CONCRETE)


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda c: c.__name__)
def test_to_dict_has_code_message_retryable(cls: type[FfapiError]) -> None:
    extra: dict[str, Any] = {"reason": "cuda_error"} if cls is AcceleratorFailed else {}
    err = cls("something went wrong", **extra)
    body = err.to_dict()
    assert body == {
        "code": cls.default_code,
        "message": "something went wrong",
        "retryable": cls.retryable,
        **({"details": extra} if extra else {}),
    }
    assert isinstance(body["retryable"], bool)
    assert str(err) == "something went wrong"
    json.dumps(body)
    with_tail = cls("x", stderr_tail="last line", **extra).to_dict()
    assert with_tail["stderr_tail"] == "last line"


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda c: c.__name__)
def test_retryable_follows_the_family(cls: type[FfapiError]) -> None:
    if issubclass(cls, PermanentError):
        assert cls.retryable is False
        assert cls("x").retryable is False
    else:
        assert issubclass(cls, TransientError)
        assert cls.retryable is True
        extra = {"reason": "cuda_error"} if cls is AcceleratorFailed else {}
        assert cls("x", **extra).retryable is True


def test_invalid_message_code_is_refined() -> None:
    err = InvalidMessage("body is not JSON", code="malformed_json")
    assert err.code == "malformed_json"
    assert err.retryable is False
    assert err.to_dict()["code"] == "malformed_json"
    assert InvalidMessage("bad").code == "invalid_request"


def test_as_ffapi_error_wraps_unexpected_exceptions() -> None:
    wrapped = as_ffapi_error(ValueError("bad value"))
    assert isinstance(wrapped, InternalError)
    assert wrapped.code == "internal_error"
    assert wrapped.retryable is True
    assert "ValueError" in wrapped.message
    assert "bad value" in wrapped.message


def test_as_ffapi_error_passes_ffapi_errors_through() -> None:
    for err in (InvalidMedia("x"), InvalidMessage("y", code="malformed_json"), InternalError("z")):
        assert as_ffapi_error(err) is err


def test_default_codes_are_unique() -> None:
    # Families (PermanentError, TransientError) name no code of their own; every class that
    # declares one must declare a different one (codes are the event contract).
    declared = [c for c in ERROR_CLASSES if "default_code" in vars(c)]
    codes = [c.default_code for c in declared]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert {c for c in ERROR_CLASSES if "default_code" not in vars(c)} == FAMILIES
    # And every concrete class declares its own (none silently inherits a sibling's).
    assert set(declared) == set(CONCRETE)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


def test_events_about_a_preset_carry_it_as_a_routing_attribute() -> None:
    event = job_event(EventType.FAILED, "j-x", NOW, {**FAILED, "preset": "mp4-480p"}, 1)
    assert event.attributes == {
        "type": "ffapi.job.failed", "status": "failed", "preset": "mp4-480p",
    }  # fmt: skip
