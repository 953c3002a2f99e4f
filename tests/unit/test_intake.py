"""core.intake.normalize against every sample body in events/, plus the edges around them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.errors import FfapiError, InvalidMessage
from core.events import EventType
from core.intake import MAX_BODY_BYTES, Intake, normalize
from core.jobs import resolve_preset
from core.models import OutputLocation
from core.presets import builtin_catalog
from core.watch import IntakeConfig, WatchRule

EVENTS = Path(__file__).parents[2] / "events"

OUTPUTS = OutputLocation(bucket="ffapi-output", prefix="outputs")
CONFIG = IntakeConfig(
    rules=(WatchRule(bucket="ffapi-input", prefix="incoming/", preset="mp4-720p", output=OUTPUTS),),
    default_output=OUTPUTS,
)


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


def read_event(name: str) -> str:
    return (EVENTS / name).read_text(encoding="utf-8")


def load_event(name: str) -> Any:
    return json.loads(read_event(name))


def rejected(body: str | bytes, config: IntakeConfig = CONFIG) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        normalize(body, config)
    assert info.value.retryable is False
    return info.value


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


# --- direct job requests --------------------------------------------------------------------


def test_direct_job_request_keeps_its_own_fields() -> None:
    (request,) = normalize(read_event("job-request.json"), CONFIG).requests
    assert request.version == 1
    assert request.preset == "mp4-480p"
    assert request.output == OutputLocation(bucket="ffapi-output", prefix="outputs/renditions")
    assert request.correlation_id == "order-4711"
    assert request.metadata == {"tenant": "acme"}


def test_a_request_may_bring_its_own_ladder() -> None:
    (request,) = normalize(read_event("job-request-ladder.json"), CONFIG).requests
    preset = resolve_preset(builtin_catalog(), request)
    assert [r.short_side for r in preset.ladder] == [720, 540, 270]  # type: ignore[union-attr]
    assert preset.segment_seconds == 4  # everything else is the named preset's
    assert request.correlation_id == "course-101"


def test_a_request_may_name_its_own_webhooks() -> None:
    (request,) = normalize(read_event("job-request-webhooks.json"), CONFIG).requests
    only_final, everything = request.webhooks
    assert only_final.url == "https://hooks.example.com/ffapi"
    assert [only_final.wants(t) for t in EventType] == [False, False, False, True, True]
    assert everything.events is None
    assert all(everything.wants(t) for t in EventType)


@pytest.mark.parametrize(
    "hooks",
    [
        [{"url": "ftp://hooks.example.com/x"}],  # http(s) only
        [{"url": "https://hooks.example.com/a b"}],  # no whitespace
        [{"url": "https://hooks.example.com/" + "a" * 2048}],
        [{"url": f"https://h{i}.example.com/"} for i in range(5)],  # at most 4
        [{"url": "https://hooks.example.com/", "events": ["ffapi.job.exploded"]}],
        [{"url": "https://hooks.example.com/", "events": []}],
        [{"url": "https://hooks.example.com/", "secret": "whsec_abc"}],  # secrets never travel
    ],
)
def test_webhook_targets_are_bounded(hooks: list[dict[str, object]]) -> None:
    body = json.loads(read_event("job-request-minimal.json"))
    with pytest.raises(FfapiError) as info:
        normalize(json.dumps({**body, "webhooks": hooks}), CONFIG)
    assert info.value.code == "invalid_request"


def test_minimal_job_request_gets_the_default_output_and_preset() -> None:
    default = OutputLocation(bucket="ffapi-output", prefix="defaults")
    config = IntakeConfig(rules=CONFIG.rules, default_output=default)
    (request,) = normalize(read_event("job-request-minimal.json"), config).requests
    assert request.preset is None  # the catalog's default, chosen when the job is resolved
    assert resolve_preset(builtin_catalog(), request).name == builtin_catalog().default == "web-hls"
    assert request.output == default
    assert request.correlation_id is None
    assert request.metadata == {}


# --- S3 event details -----------------------------------------------------------------------


def test_s3_event_for_a_bucket_without_a_rule_is_ignored() -> None:
    doc = load_event("s3-put.json")
    doc["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"
    intake = normalize(json.dumps(doc), CONFIG)
    assert intake.requests == ()
    assert len(intake.ignored) == 1
    assert "someone-elses-bucket" in intake.ignored[0]


def test_quoted_etag_is_unquoted() -> None:
    doc = load_event("s3-put.json")
    doc["Records"][0]["s3"]["object"]["eTag"] = '"9b2cf535f27731c974343645a3985328"'
    (request,) = normalize(json.dumps(doc), CONFIG).requests
    assert request.input.etag == "9b2cf535f27731c974343645a3985328"


def test_created_and_removed_records_in_one_message() -> None:
    created = load_event("s3-put.json")["Records"][0]
    removed = load_event("s3-delete.json")["Records"][0]
    intake = normalize(json.dumps({"Records": [removed, created]}), CONFIG)
    assert [r.input.key for r in intake.requests] == ["incoming/My Clip+1.mp4"]
    assert len(intake.ignored) == 1


def test_eventbridge_object_deleted_is_ignored() -> None:
    doc = load_event("eventbridge-object-created.json")
    doc["detail-type"] = "Object Deleted"
    intake = normalize(json.dumps(doc), CONFIG)
    assert intake.requests == ()
    assert len(intake.ignored) == 1


# --- SNS ------------------------------------------------------------------------------------


def test_sns_message_that_is_not_json_is_malformed() -> None:
    doc = load_event("sns-s3-put.json")
    doc["Message"] = '{"Records": [ this is not JSON'
    assert rejected(json.dumps(doc)).code == "malformed_json"


def test_sns_message_that_is_not_an_object_is_unrecognized() -> None:
    doc = load_event("sns-s3-put.json")
    doc["Message"] = "[1, 2, 3]"
    assert rejected(json.dumps(doc)).code == "unrecognized_message"


def test_sns_wrapped_test_event_is_ignored() -> None:
    doc = load_event("sns-s3-put.json")
    doc["Message"] = read_event("s3-test-event.json")
    intake = normalize(json.dumps(doc), CONFIG)
    assert intake.requests == ()
    assert intake.ignored == ("s3:TestEvent",)


def test_sns_envelope_inside_an_sns_envelope_is_not_unwrapped_twice() -> None:
    outer = load_event("sns-s3-put.json")
    outer["Message"] = read_event("sns-s3-put.json")
    assert rejected(json.dumps(outer)).code == "unrecognized_message"


# --- size limit -----------------------------------------------------------------------------


def _padded(size: int) -> str:
    body = read_event("job-request-minimal.json").strip()
    return body + " " * (size - len(body))


def test_body_of_exactly_256_kib_is_accepted() -> None:
    body = _padded(MAX_BODY_BYTES)
    assert len(body.encode()) == MAX_BODY_BYTES == 256 * 1024
    assert len(normalize(body, CONFIG).requests) == 1


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_body_over_256_kib_is_rejected(as_bytes: bool) -> None:
    body = _padded(MAX_BODY_BYTES + 1)
    exc = rejected(body.encode() if as_bytes else body)
    assert exc.code == "invalid_request"


def test_text_body_over_256_kib_of_utf8_is_rejected() -> None:
    doc = load_event("s3-test-event.json")
    doc["HostId"] = "€" * 100_000  # 100,000 characters, 300,000 bytes
    body = json.dumps(doc, ensure_ascii=False)
    assert len(body) < MAX_BODY_BYTES < len(body.encode())
    assert rejected(body).code == "invalid_request"


# --- hostile JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("wrap_in_sns", [False, True], ids=["body", "sns-message"])
def test_deeply_nested_json_is_rejected_not_crashing(wrap_in_sns: bool) -> None:
    body = "[" * 10_000 + "]" * 10_000
    if wrap_in_sns:
        doc = load_event("sns-s3-put.json")
        doc["Message"] = body
        body = json.dumps(doc)
    assert len(body) < MAX_BODY_BYTES
    assert rejected(body).code == "malformed_json"


# --- error messages do not echo untrusted input ---------------------------------------------

UNIQUE = "qx7-" + "untrusted-payload-" * 40 + "-7xq"


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            {"input": {"bucket": "ffapi-input", "key": "library/a.mp4"}, "ffmpeg_args": UNIQUE},
            id="unknown-field-value",
        ),
        pytest.param(
            {"input": {"bucket": "ffapi-input", "key": "library/a.mp4"}, "preset": UNIQUE},
            id="preset",
        ),
        pytest.param(
            {"input": {"bucket": "ffapi-input", "key": "library/a.mp4"}, "correlation_id": UNIQUE},
            id="correlation-id",
        ),
        pytest.param(
            {"input": {"bucket": "ffapi-input", "key": "library/a.mp4", "etag": UNIQUE + " "}},
            id="etag",
        ),
        pytest.param({"input": {"bucket": UNIQUE, "key": "library/a.mp4"}}, id="bucket"),
    ],
)
def test_invalid_request_error_does_not_echo_the_value(doc: dict[str, Any]) -> None:
    exc = rejected(json.dumps(doc))
    assert exc.code == "invalid_request"
    assert "qx7-" not in str(exc)
    assert "qx7-" not in json.dumps(exc.to_dict())


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            {"input": {"bucket": "ffapi-input", "key": "library/a.mp4"}, UNIQUE: 1},
            id="unknown-field-name",
        ),
        pytest.param(
            {"input": {"bucket": "ffapi-input", "key": "library/a.mp4"}, "metadata": {UNIQUE: "v"}},
            id="metadata-key",
        ),
    ],
)
def test_invalid_request_error_does_not_echo_untrusted_keys(doc: dict[str, Any]) -> None:
    exc = rejected(json.dumps(doc))
    assert exc.code == "invalid_request"
    assert "qx7-" not in str(exc)


def test_malformed_json_error_does_not_echo_the_body() -> None:
    exc = rejected('{"input": "' + UNIQUE)
    assert exc.code == "malformed_json"
    assert "qx7-" not in str(exc)


# --- the Lambda sample ----------------------------------------------------------------------


def test_lambda_sqs_batch_carries_the_s3_put_sample() -> None:
    event = json.loads((EVENTS / "lambda" / "sqs-batch.json").read_text(encoding="utf-8"))
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert json.loads(record["body"]) == load_event("s3-put.json")
    expected: Intake = normalize(read_event("s3-put.json"), CONFIG)
    assert normalize(record["body"], CONFIG) == expected
