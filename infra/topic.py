"""The events topic's ARN, from ``FFAPI_EVENTS_TOPIC``: a topic name or an ARN.

An ARN is used as given, once checked (an SNS topic, in ``FFAPI_REGION``). A name takes the
partition, region and account of a queue the command already uses (the jobs queue for the
worker, its own queue for ``ffapi events tail``, the one it just made for ``ffapi bootstrap``):
reading a queue's ARN is ``sqs:GetQueueAttributes``, a grant the worker's role holds anyway.
No STS: LocalStack may run without it, and the role needs nothing more for a name. What this
assumes, that SNS and SQS answer for the same account (true on AWS, LocalStack and moto),
fails at the first publish where it is false; give the ARN there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidTopic
from infra.aws import aws_errors
from infra.queue import SqsQueue

# SNS: up to 256 letters, digits, hyphens and underscores; a FIFO topic's name ends in .fifo.
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}(\.fifo)?|[A-Za-z0-9_-]{1,256}")
SETTING = "FFAPI_EVENTS_TOPIC"


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        """``arn:partition:service:region:account:resource``, every part present; else None."""
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not all(parts):
            return None
        return cls(*parts[1:])

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


@dataclass(frozen=True, slots=True)
class EventsTopic:
    """The setting, checked: the topic's name, and its ARN where one was given."""

    name: str
    arn: Arn | None = None

    @classmethod
    def parse(cls, setting: str, region: str) -> EventsTopic:
        if not setting.startswith("arn:"):
            return cls(_checked_name(setting, "a topic name"))
        arn = Arn.parse(setting)
        if arn is None or arn.service != "sns":
            raise InvalidTopic(f"{SETTING}={setting!r} is not an SNS topic ARN")
        if arn.region != region:
            raise InvalidTopic(
                f"{SETTING} is a topic in {arn.region}, but FFAPI_REGION is {region}: SNS "
                "answers for a topic only in its own region"
            )
        return cls(_checked_name(arn.resource, "the ARN's topic name"), arn)

    def in_account_of(self, queue_arn: str) -> str:
        """The topic's ARN: as given, or the name in the queue's partition, region, account."""
        if self.arn is not None:
            return str(self.arn)
        queue = Arn.parse(queue_arn)
        if queue is None:
            raise InvalidTopic(
                f"cannot tell the account of {SETTING}: the queue's ARN "
                f"{queue_arn!r} does not say it; give the topic's ARN"
            )
        return str(Arn(queue.partition, "sns", queue.region, queue.account, self.name))


def _checked_name(name: str, what: str) -> str:
    if not _TOPIC_NAME.fullmatch(name):
        raise InvalidTopic(
            f"{SETTING}: {what} {name!r} is not an SNS topic name (up to 256 letters, digits, "
            "'-' and '_'; a FIFO topic's ends in '.fifo')"
        )
    return name


async def queue_arn(sqs: Any, queue_url: str) -> str:
    with aws_errors("sqs:GetQueueAttributes"):
        resp = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(resp["Attributes"]["QueueArn"])


async def events_topic_arn(sqs: Any, topic: EventsTopic, jobs_queue: str) -> str:
    """The topic's ARN for the worker and the one-shot commands: a name is placed in the
    account of the jobs queue (a name or a URL, as ``FFAPI_JOBS_QUEUE`` is)."""
    if topic.arn is not None:
        return str(topic.arn)  # no call at all: Lambda's role has no sqs:GetQueueUrl
    queue = await SqsQueue.open(sqs, jobs_queue)
    return topic.in_account_of(await queue_arn(sqs, queue.url))
