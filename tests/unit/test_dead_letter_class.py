"""A dead letter's priority class, the queue ``ffapi dlq redrive`` sends it back to: the queue
SQS says it came from (``DeadLetterQueueSourceArn``), else what its body asks for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.jobs.priority import stated_priority
from core.models import Priority
from infra.dead_letters import DeadLetter
from infra.setting_groups import QueueSettings

EVENTS = Path(__file__).resolve().parents[2] / "events"
QUEUES = QueueSettings(jobs_queue="ffapi-jobs").lane_names()  # ffapi-jobs-high, -low beside it
URLS: dict[Priority, str] = {
    lane: f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}"
    for lane, name in QUEUES.items()
}


def request(**changes: Any) -> str:
    return json.dumps({**json.loads((EVENTS / "job-request.json").read_text()), **changes})


def letter(body: str, source: str | None = None) -> DeadLetter:
    attributes = {"ApproximateReceiveCount": "4"}
    if source is not None:
        attributes["DeadLetterQueueSourceArn"] = source
    return DeadLetter({"MessageId": "m-1", "ReceiptHandle": "r", "Body": body,
                       "Attributes": attributes})  # fmt: skip


@pytest.mark.parametrize("lane", ["high", "normal", "low"])
def test_a_job_request_asks_for_its_priority(lane: Priority) -> None:
    assert stated_priority(request(priority=lane)) == lane


@pytest.mark.parametrize(
    "body",
    [
        (EVENTS / "s3-put.json").read_text(),  # S3 sends to the jobs queue
        (EVENTS / "sns-s3-put.json").read_text(),
        (EVENTS / "batch" / "batch.json").read_text(),  # its jobs are sent by their priority
        (EVENTS / "cancel-request.json").read_text(),
        request(),  # no priority: the model's default
        request(priority="urgent"),  # no such class
        request(priority=["high"]),
        json.dumps({"priority": "high"}),  # not a job request: no input
        "[bold]not json[/bold]",
        "[" * 100_000,  # deeper than the parser goes
    ],
)
def test_anything_else_is_normal(body: str) -> None:
    assert stated_priority(body) == "normal"


@pytest.mark.parametrize("queues", [QUEUES, URLS], ids=["names", "urls"])
def test_the_source_queue_sqs_names_wins_over_the_body(queues: dict[Priority, str]) -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:ffapi-jobs-low"
    assert letter(request(priority="high"), arn).lane(queues) == "low"
    assert (
        letter("not json", "arn:aws:sqs:eu-west-1:123456789012:ffapi-jobs-high").lane(queues)
        == "high"
    )


def test_a_source_that_is_none_of_the_three_leaves_it_to_the_body() -> None:
    other = letter(request(priority="low"), "arn:aws:sqs:eu-west-1:123456789012:someone-else")
    assert other.source_queue == "someone-else"
    assert other.lane(QUEUES) == "low"
    assert letter(request(priority="high"), "not an arn").lane(QUEUES) == "high"
    assert letter(request(priority="high"), "arn:aws:sns:eu-west-1:1:ffapi-jobs").lane(
        QUEUES
    ) == "high"  # fmt: skip
    assert letter(request(priority="high")).source_queue is None
