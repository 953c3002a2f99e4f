"""core.jobs.intake.named_inputs: what a message names, read once with intake's own models, for
the DLQ tools (a dead letter may be a message intake refused)."""

from __future__ import annotations

import json

import pytest

from core.jobs.intake import Named, named_inputs
from handlers.dlq import describe

S3_OBJECT = {"bucket": {"name": "in-bucket"}, "object": {"key": "talks/my+talk%21.mp4"}}
S3_EVENT = {
    "Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": S3_OBJECT}]
}
EVENTBRIDGE = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": "in-bucket"}, "object": {"key": "a b.mov"}},
}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (json.dumps(S3_EVENT), (Named("s3://in-bucket/talks/my talk!.mp4"),)),
        (
            json.dumps({"Type": "Notification", "Message": json.dumps(S3_EVENT)}),
            (Named("s3://in-bucket/talks/my talk!.mp4"),),
        ),
        (json.dumps(EVENTBRIDGE), (Named("s3://in-bucket/a b.mov"),)),
        (
            json.dumps({"input": {"bucket": "in-bucket", "key": "x.mp4"}, "preset": "web-hls"}),
            (Named("s3://in-bucket/x.mp4", "web-hls"),),
        ),
        (
            json.dumps({"version": 2, "input": {"bucket": "b", "key": "k"}}),  # refused by intake
            (Named("s3://b/k", "default"),),
        ),
        ("not json", ()),
        (json.dumps({"Records": "nope"}), ()),
        (json.dumps([1, 2]), ()),
    ],
)
def test_what_a_message_names(body: str, named: tuple[Named, ...]) -> None:
    assert named_inputs(body) == named


def test_the_dlq_describes_a_message_by_what_it_names_or_by_its_text() -> None:
    assert describe(json.dumps(S3_EVENT)) == "s3://in-bucket/talks/my talk!.mp4"
    request = {"input": {"bucket": "in-bucket", "key": "x.mp4"}}
    assert describe(json.dumps(request)) == "s3://in-bucket/x.mp4 preset default"
    assert describe("hello\nthere " * 20).startswith("hello there hello there")
    assert describe("hello\nthere " * 20).endswith("...")
