"""Job identity: derive_job_id (what changes the id and what does not, a caller's idempotency
key, inline ladders), resolve_preset's refusals, and output_key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.errors import (
    InvalidMessage,
)
from core.jobs.results import derive_job_id, output_key, resolve_preset
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.presets import builtin_catalog

JOB_ID_RE = re.compile(r"^j-[0-9a-f]{24}$")


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


def job_id(req: JobRequest) -> str:
    return derive_job_id(req, resolve_preset(builtin_catalog(), req))


RUNG = {
    "name": "540p",
    "short_side": 540,
    "video_kbps": 2000,
    "maxrate_kbps": 2140,
    "bufsize_kbps": 3000,
}


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
        (
            {"preset": "web-hls", "ladder": [RUNG, {**RUNG, "name": "x", "short_side": 720}]},
            "descending",
        ),
    ],
)
def test_a_request_without_a_usable_preset_is_refused(
    change: dict[str, object], message: str
) -> None:
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
