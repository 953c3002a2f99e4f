"""FFAPI_EVENTS_TOPIC read as a name or an ARN, and a name placed in a queue's account."""

from __future__ import annotations

import pytest

from core.errors import InvalidTopic
from infra.topic import Arn, EventsTopic

QUEUE = "arn:aws:sqs:eu-west-1:123456789012:ffapi-jobs"


def test_a_name_takes_the_partition_region_and_account_of_the_queue() -> None:
    topic = EventsTopic.parse("ffapi-events", "eu-west-1")
    assert topic == EventsTopic("ffapi-events")
    assert topic.in_account_of(QUEUE) == "arn:aws:sns:eu-west-1:123456789012:ffapi-events"
    china = "arn:aws-cn:sqs:cn-north-1:000000000000:jobs"
    assert topic.in_account_of(china) == "arn:aws-cn:sns:cn-north-1:000000000000:ffapi-events"


def test_an_arn_is_used_as_given_whatever_the_queue() -> None:
    arn = "arn:aws:sns:eu-west-1:210987654321:events.fifo"
    topic = EventsTopic.parse(arn, "eu-west-1")
    assert topic.name == "events.fifo"
    assert topic.in_account_of(QUEUE) == arn


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("arn:aws:sqs:eu-west-1:123456789012:jobs", "is not an SNS topic ARN"),
        ("arn:aws:sns:eu-west-1:events", "is not an SNS topic ARN"),
        ("arn:aws:sns::123456789012:events", "is not an SNS topic ARN"),
        ("arn:aws:sns:us-east-1:123456789012:events", "in us-east-1, but FFAPI_REGION is"),
        ("arn:aws:sns:eu-west-1:123456789012:a/b", "is not an SNS topic name"),
        ("my events", "is not an SNS topic name"),
        ("", "is not an SNS topic name"),
        ("x" * 257, "is not an SNS topic name"),
        ("x" * 252 + ".fifo", "is not an SNS topic name"),
    ],
)
def test_what_cannot_name_a_topic_here_is_refused_with_its_own_code(
    setting: str, says: str
) -> None:
    with pytest.raises(InvalidTopic) as refused:
        EventsTopic.parse(setting, "eu-west-1")
    assert refused.value.code == "invalid_topic"
    assert not refused.value.retryable
    assert says in refused.value.message


def test_the_longest_names_sns_takes_are_taken() -> None:
    assert EventsTopic.parse("x" * 256, "eu-west-1").name == "x" * 256
    assert EventsTopic.parse("x" * 251 + ".fifo", "eu-west-1").name == "x" * 251 + ".fifo"


def test_a_queue_arn_that_says_no_account_is_refused() -> None:
    with pytest.raises(InvalidTopic, match="give the topic's ARN"):
        EventsTopic("events").in_account_of("not-an-arn")


def test_arn_parts_round_trip() -> None:
    arn = Arn.parse(QUEUE)
    assert arn == Arn("aws", "sqs", "eu-west-1", "123456789012", "ffapi-jobs")
    assert str(arn) == QUEUE
