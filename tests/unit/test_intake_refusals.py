"""core.jobs.intake.normalize refusing hostile bodies: the 256 KiB limit (as text, bytes and
UTF-8), deeply nested JSON, and error messages that never echo the untrusted input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.jobs.intake import MAX_BODY_BYTES, normalize
from tests.unit.sample_bodies import CONFIG, load_event, read_event, rejected


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


@pytest.mark.parametrize("wrap_in_sns", [False, True], ids=["body", "sns-message"])
def test_deeply_nested_json_is_rejected_not_crashing(wrap_in_sns: bool) -> None:
    body = "[" * 10_000 + "]" * 10_000
    if wrap_in_sns:
        doc = load_event("sns-s3-put.json")
        doc["Message"] = body
        body = json.dumps(doc)
    assert len(body) < MAX_BODY_BYTES
    assert rejected(body).code == "malformed_json"


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
