"""core.jobs.intake.normalize on variations of the S3, EventBridge and SNS message shapes: unwatched
buckets, quoted ETags, mixed and deleted records, SNS messages that are not JSON, not an
object, a test event or another SNS envelope."""

from __future__ import annotations

import json

from core.jobs.intake import normalize
from tests.unit.sample_bodies import CONFIG, load_event, read_event, rejected


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
