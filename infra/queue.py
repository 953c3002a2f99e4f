"""The SQS jobs queue: long-poll receive, delete, visibility changes, and a cheap backlog
read that ``/readyz`` uses to tell whether the queue answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.dispatch import QueueMessage
from infra.aws import aws_errors


@dataclass(frozen=True, slots=True)
class Delivery:
    message: QueueMessage
    receipt_handle: str
    sent_at: datetime | None = None  # SQS's SentTimestamp: queue lag is measured from it


class SqsQueue:
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

    async def set_visibility(self, delivery: Delivery, seconds: int) -> None:
        with aws_errors("sqs:ChangeMessageVisibility"):
            await self._sqs.change_message_visibility(
                QueueUrl=self.url,
                ReceiptHandle=delivery.receipt_handle,
                VisibilityTimeout=max(0, min(43200, seconds)),
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
