"""The SQS jobs queue: long-poll receive, delete, visibility changes, and a cheap backlog
read that ``/readyz`` uses to tell whether the queue answers.

``SqsQueue`` implements :class:`core.ports.Queue` (receive, extend, release, delete, send,
requeue);
a receive asks for ``ApproximateReceiveCount`` (the last delivery's rule) and
``SentTimestamp`` (the queue lag the metrics report).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.ports import Delivery, QueueMessage
from infra.aws import aws_errors

_MAX_VISIBILITY = 43200  # SQS's ceiling: 12 hours
_MAX_DELAY = 900  # SQS's ceiling on DelaySeconds: 15 minutes


class SqsQueue:
    """The jobs queue (``core.ports.Queue``) on SQS."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.url = queue_url

    @classmethod
    async def open(cls, sqs: Any, name_or_url: str) -> SqsQueue:
        if name_or_url.startswith(("https://", "http://")):
            return cls(sqs, name_or_url)
        with aws_errors("sqs:GetQueueUrl"):
            url = (await sqs.get_queue_url(QueueName=name_or_url))["QueueUrl"]
        return cls(sqs, url)

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        with aws_errors("sqs:ReceiveMessage"):
            resp = await self._sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max(1, min(10, max_messages)),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        return [_delivery(m) for m in resp.get("Messages", [])]

    async def backlog(self) -> int:
        """Messages waiting (approximate): one cheap call that proves the queue answers."""
        with aws_errors("sqs:GetQueueAttributes"):
            resp = await self._sqs.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        return int(resp.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))

    async def delete(self, delivery: Delivery) -> None:
        with aws_errors("sqs:DeleteMessage"):
            await self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=delivery.receipt_handle)

    async def extend(self, delivery: Delivery, seconds: int) -> None:
        await self._visibility(delivery, seconds)

    async def release(self, delivery: Delivery, delay: int = 0) -> None:
        await self._visibility(delivery, delay)

    async def send(self, body: str) -> str:
        with aws_errors("sqs:SendMessage"):
            resp = await self._sqs.send_message(QueueUrl=self.url, MessageBody=body)
        return str(resp["MessageId"])

    async def requeue(self, delivery: Delivery, delay: int) -> None:
        """A fresh copy (its receive count starts again) hidden ``delay`` seconds, then this
        receipt deleted: a copy left by a failed delete is a duplicate the claim turns away."""
        with aws_errors("sqs:SendMessage"):
            await self._sqs.send_message(
                QueueUrl=self.url, MessageBody=delivery.message.body,
                DelaySeconds=max(0, min(_MAX_DELAY, delay)),
            )  # fmt: skip
        await self.delete(delivery)

    async def _visibility(self, delivery: Delivery, seconds: int) -> None:
        with aws_errors("sqs:ChangeMessageVisibility"):
            await self._sqs.change_message_visibility(
                QueueUrl=self.url,
                ReceiptHandle=delivery.receipt_handle,
                VisibilityTimeout=max(0, min(_MAX_VISIBILITY, seconds)),
            )


def _delivery(m: dict[str, Any]) -> Delivery:
    attributes = m.get("Attributes", {})
    sent = attributes.get("SentTimestamp")  # epoch milliseconds, as a string
    return Delivery(
        QueueMessage(
            message_id=m["MessageId"],
            body=m["Body"],
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        ),
        m["ReceiptHandle"],
        datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )
