"""core.intake.normalize against every sample body in events/ (`EXPECTED`: the request, the
ignore or the refusal each one gives), the same bodies as bytes and inside the Lambda sample."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest

from core.errors import InvalidMessage
from core.intake import Intake, normalize
from core.jobs import resolve_preset
from core.models import OutputLocation
from core.presets import builtin_catalog
from tests.unit.sample_bodies import CONFIG, EVENTS, OUTPUTS, load_event, read_event, rejected


@dataclass(frozen=True)
class Job:
    """One expected JobRequest."""

    key: str
    bucket: str = "ffapi-input"
    preset: str | None = "mp4-720p"
    output: OutputLocation = OUTPUTS
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Jobs:
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class Ignored:
    """No job; `count` reasons, each mentioning the matching fragment."""

    count: int
    mentions: tuple[str, ...]


@dataclass(frozen=True)
class Rejected:
    code: str


@dataclass(frozen=True)
class Unresolvable:
    """A valid message whose request names no usable preset: refused when it is resolved."""

    code: str


Expectation = Jobs | Ignored | Rejected | Unresolvable
EXPECTED: dict[str, Expectation] = {
    "invalid-forbidden-bucket.json": Rejected("forbidden_bucket"),
    "invalid-key-traversal.json": Rejected("invalid_key"),
    "invalid-output-prefix.json": Rejected("forbidden_prefix"),
    "s3-put.json": Jobs(
        (
            Job(
                key="incoming/My Clip+1.mp4",
                etag="9b2cf535f27731c974343645a3985328",
                size=7340032,
            ),
        )
    ),
    "s3-put-moto-encoded.json": Jobs(
        (
            Job(
                key="incoming/clip.mov",
                etag="b1946ac92492d2347c6235b4d2611184",
                size=1048576,
            ),
        )
    ),
    "s3-multipart.json": Jobs(
        (
            Job(
                key="incoming/lecture-2024-05-14.mp4",
                etag="e1f2a3b4c5d6e7f8091a2b3c4d5e6f70-3",
                version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                size=157286400,
            ),
        )
    ),
    "s3-two-records.json": Jobs(
        (
            Job(
                key="incoming/batch/first.mp4",
                etag="5d41402abc4b2a76b9719d911017c592",
                size=2097152,
            ),
            Job(
                key="incoming/batch/second take.mov",
                etag="7d793037a0760186574b0282f2f435e7",
                size=3145728,
            ),
        )
    ),
    "s3-test-event.json": Ignored(1, ("s3:TestEvent",)),
    "s3-delete.json": Ignored(1, ("ObjectRemoved:Delete",)),
    "s3-outside-prefix.json": Ignored(1, ("uploads/other.mp4",)),
    "s3-folder-marker.json": Ignored(1, ("incoming/sub/",)),
    "sns-s3-put.json": Jobs(
        (
            Job(
                key="incoming/from-sns.mp4",
                etag="92eb5ffee6ae2fec3ad71c777531578f",
                size=4194304,
            ),
        )
    ),
    "eventbridge-object-created.json": Jobs(
        (
            Job(
                key="incoming/from-eventbridge.mp4",
                etag="b1946ac92492d2347c6235b4d2611184",
                version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                size=5242880,
            ),
        )
    ),
    "job-request-ladder.json": Jobs((Job(key="library/lecture.mov", preset="web-hls"),)),
    "job-request.json": Jobs(
        (
            Job(
                key="library/talk.mp4",
                preset="mp4-480p",
                output=OutputLocation(bucket="ffapi-output", prefix="outputs/renditions"),
            ),
        )
    ),
    "job-request-minimal.json": Jobs((Job(key="library/minimal.mp4", preset=None),)),
    "job-request-webhooks.json": Jobs((Job(key="library/talk.mp4", preset="web-hls"),)),
    "invalid-bad-json.json": Rejected("malformed_json"),
    "invalid-unknown-field.json": Rejected("invalid_request"),
    "invalid-missing-key.json": Rejected("invalid_request"),
    "invalid-preset.json": Unresolvable("invalid_request"),
    "invalid-unrecognized.json": Rejected("unrecognized_message"),
    "invalid-not-object.json": Rejected("unrecognized_message"),
}


def test_every_sample_has_an_expectation() -> None:
    on_disk = {p.name for p in EVENTS.glob("*.json")}
    assert set(EXPECTED) == on_disk


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    body = read_event(name)
    expected = EXPECTED[name]
    if isinstance(expected, Rejected):
        assert rejected(body).code == expected.code
        return
    intake = normalize(body, CONFIG)
    if isinstance(expected, Unresolvable):
        (request,) = intake.requests
        with pytest.raises(InvalidMessage) as info:
            resolve_preset(builtin_catalog(), request)
        assert info.value.code == expected.code
        return
    if isinstance(expected, Ignored):
        assert intake.requests == ()
        assert len(intake.ignored) == expected.count
        for reason, fragment in zip(intake.ignored, expected.mentions, strict=True):
            assert fragment in reason
        return
    assert intake.ignored == ()
    got = [
        Job(
            key=r.input.key,
            bucket=r.input.bucket,
            preset=r.preset,
            output=r.output,
            etag=r.input.etag,
            version_id=r.input.version_id,
            size=r.input.size,
        )
        for r in intake.requests
    ]
    assert got == list(expected.jobs)


def test_bytes_body_is_read_like_text() -> None:
    body = read_event("s3-put.json")
    assert normalize(body.encode(), CONFIG) == normalize(body, CONFIG)


def test_lambda_sqs_batch_carries_the_s3_put_sample() -> None:
    event = json.loads((EVENTS / "lambda" / "sqs-batch.json").read_text(encoding="utf-8"))
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert json.loads(record["body"]) == load_event("s3-put.json")
    expected: Intake = normalize(read_event("s3-put.json"), CONFIG)
    assert normalize(record["body"], CONFIG) == expected
