"""What a request may touch: bucket allowlists, key rules, outputs confined under the prefix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import InvalidMessage
from core.jobs.admission import AdmissionPolicy, key_problem, prefix_problem, within
from core.jobs.intake import normalize
from core.jobs.watch import IntakeConfig, WatchRule
from core.models import OutputLocation

OUT = OutputLocation(bucket="ffapi-output", prefix="outputs")
RULE = WatchRule(bucket="ffapi-input", prefix="incoming/", preset="mp4-720p", output=OUT)
CONFIG = IntakeConfig(rules=(RULE,), default_output=OUT)  # the derived policy


@pytest.mark.parametrize(
    "key",
    [
        "incoming/clip.mp4",
        "library/2026/talk (final).mov",
        "a..b/c...mp4",  # dots inside a name are a name
        "ünïcødé/видео.mkv",
        "x" * 1024,
        "é" * 512,  # 1024 bytes in UTF-8
        "incoming/-not-leading.mp4",
        "trailing/",
    ],
)
def test_ordinary_keys_pass(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("x" * 1025, "1024 bytes"),
        ("é" * 513, "1024 bytes"),  # 513 characters, 1026 bytes
        ("a\x00b", "control"),
        ("a\nb.mp4", "control"),
        ("a\rb", "control"),
        ("tab\there", "control"),
        ("del\x7f", "control"),
        ("c1\x85", "control"),  # NEL: a line break to some log readers
        ("-i", "'-'"),
        ("-filter_complex", "'-'"),
        ("../etc/passwd", "'..'"),
        ("incoming/../../x", "'..'"),
        ("incoming/..", "'..'"),
        ("./a", "'.'"),
        ("a/./b", "'.'"),
    ],
)
def test_hostile_keys_are_refused(key: str, problem: str) -> None:
    found = key_problem(key)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    ("prefix", "ok"),
    [
        ("", True),
        ("/", True),
        ("outputs", True),
        ("outputs/2026/", True),
        ("a//b", False),
        ("-x", False),
        ("a/../b", False),
        ("a\x1bb", False),
    ],
)
def test_prefix_rules(prefix: str, ok: bool) -> None:
    assert (prefix_problem(prefix) is None) is ok


@pytest.mark.parametrize(
    ("prefix", "root", "inside"),
    [
        ("outputs", "outputs", True),
        ("outputs/tenant-a", "outputs", True),
        ("/outputs/tenant-a/", "outputs/", True),
        ("outputs-evil", "outputs", False),  # a sibling sharing the first letters
        ("out", "outputs", False),
        ("", "outputs", False),
        ("anything/at/all", "", True),
        ("media/out/x", "media/out", True),
        ("media/outx", "media/out", False),
    ],
)
def test_outputs_are_confined_segment_by_segment(prefix: str, root: str, inside: bool) -> None:
    assert within(prefix, root) is inside


def _request(**fields: Any) -> str:
    doc: dict[str, Any] = {"input": {"bucket": "ffapi-input", "key": "library/talk.mp4"}}
    doc.update(fields)
    return json.dumps(doc)


def _refusal(body: str, config: IntakeConfig = CONFIG) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        normalize(body, config)
    assert info.value.retryable is False
    return info.value


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"input": {"bucket": "someone-elses", "key": "a.mp4"}}, "forbidden_bucket"),
        ({"output": {"bucket": "someone-elses", "prefix": "outputs"}}, "forbidden_bucket"),
        ({"output": {"bucket": "ffapi-output", "prefix": "elsewhere"}}, "forbidden_prefix"),
        ({"output": {"bucket": "ffapi-output", "prefix": "outputs-x"}}, "forbidden_prefix"),
        ({"output": {"bucket": "ffapi-output", "prefix": "outputs/../x"}}, "invalid_key"),
        ({"output": {"bucket": "ffapi-output", "prefix": "-outputs"}}, "invalid_key"),
        ({"input": {"bucket": "ffapi-input", "key": "../../etc/passwd"}}, "invalid_key"),
        ({"input": {"bucket": "ffapi-input", "key": "-i"}}, "invalid_key"),
        ({"input": {"bucket": "ffapi-input", "key": "a\u0000.mp4"}}, "invalid_key"),
        ({"input": {"bucket": "ffapi-input", "key": "é" * 600}}, "invalid_key"),
    ],
)
def test_direct_requests_outside_the_policy_are_refused(fields: dict[str, Any], code: str) -> None:
    assert _refusal(_request(**fields)).code == code


def test_a_refusal_never_repeats_the_key() -> None:
    key = "../\u0007secret-looking-name"
    error = _refusal(_request(input={"bucket": "ffapi-input", "key": key}))
    assert "secret-looking-name" not in error.message
    assert "\u0007" not in error.message


def test_requests_inside_the_policy_pass() -> None:
    body = _request(output={"bucket": "ffapi-output", "prefix": "outputs/tenant-a"})
    [request] = normalize(body, CONFIG).requests
    assert request.output == OutputLocation(bucket="ffapi-output", prefix="outputs/tenant-a")
    [default] = normalize(_request(), CONFIG).requests
    assert default.output == OUT


def test_an_explicit_policy_widens_the_allowlists() -> None:
    policy = AdmissionPolicy(
        input_buckets=frozenset({"ffapi-input", "archive"}),
        output_buckets=frozenset({"ffapi-output", "cdn-origin"}),
        output_root="outputs",
    )
    config = IntakeConfig(rules=(RULE,), default_output=OUT, policy=policy)
    body = _request(
        input={"bucket": "archive", "key": "a.mp4"},
        output={"bucket": "cdn-origin", "prefix": "outputs/a"},
    )
    [request] = normalize(body, config).requests
    assert request.input.bucket == "archive"
    # the derived policy knows only the buckets the deployment names
    assert _refusal(body).code == "forbidden_bucket"


def _s3_event(key: str) -> str:
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "ffapi-input"}, "object": {"key": key, "size": 10}},
    }
    return json.dumps({"Records": [record]})


@pytest.mark.parametrize(
    "encoded",
    [
        "incoming/..%2F..%2Fetc%2Fpasswd",
        "incoming/a%0Ab.mp4",
        "incoming/%00.mp4",
        "incoming/.%2Fclip.mp4",
    ],
)
def test_watched_uploads_with_hostile_names_fail_the_message(encoded: str) -> None:
    assert _refusal(_s3_event(encoded)).code == "invalid_key"


def test_hostile_names_outside_the_watch_are_ignored_not_refused() -> None:
    intake = normalize(_s3_event("elsewhere/..%2Fx"), CONFIG)
    assert intake.requests == ()
    assert len(intake.ignored) == 1


def test_eventbridge_keys_follow_the_same_rules() -> None:
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "ffapi-input"}, "object": {"key": "incoming/../x.mp4"}},
    }
    assert _refusal(json.dumps(event)).code == "invalid_key"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:127.0.0.1]/",
        "https://user:pass@hooks.example.com/",
        "https://127.0.0.1:8443/",
        "http://localhost:8080/",
    ],
)
def test_webhooks_that_point_where_we_never_call_are_refused(url: str) -> None:
    body = _request(webhooks=[{"url": url}])
    error = _refusal(body)
    assert error.code == "forbidden_webhook"
    assert "pass@" not in error.message


def test_a_public_https_webhook_passes_and_loopback_only_when_developing() -> None:
    [request] = normalize(
        _request(webhooks=[{"url": "https://hooks.example.com/a"}]), CONFIG
    ).requests
    assert request.webhooks[0].url == "https://hooks.example.com/a"
    local = _request(webhooks=[{"url": "http://127.0.0.1:8080/hook"}])
    assert _refusal(local).code == "forbidden_webhook"
    developing = AdmissionPolicy(
        frozenset({"ffapi-input"}), frozenset({"ffapi-output"}), "outputs", webhook_loopback=True
    )
    config = IntakeConfig(rules=(RULE,), default_output=OUT, policy=developing)
    assert len(normalize(local, config).requests) == 1
