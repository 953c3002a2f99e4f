"""Watch the events topic from outside, as a subscriber would: an SQS queue subscribed to SNS.

Used by ``ffapi demo`` to show the terminal event exactly as a consumer receives it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core.events.cloudevent import EventType

TERMINAL_TYPES = {EventType.COMPLETED.value, EventType.FAILED.value, EventType.CANCELLED.value}


class EventWatcher:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.received: list[str] = []

    @classmethod
    @asynccontextmanager
    async def subscribe(cls, sqs: Any, sns: Any, topic_arn: str) -> AsyncIterator[EventWatcher]:
        name = f"ffapi-watch-{uuid.uuid4().hex[:8]}"
        url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        # Raw delivery: the queue receives the CloudEvent itself, not an SNS envelope.
        sub = await sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )
        try:
            yield cls(sqs, url)
        finally:
            await sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
            await sqs.delete_queue(QueueUrl=url)

    async def wait_for_terminal(self, timeout: float) -> str:
        """The raw body of the first job.completed, job.failed or job.cancelled event."""
        async with asyncio.timeout(timeout):
            while True:
                for body in await self.poll(wait_seconds=1):
                    if json.loads(body).get("type") in TERMINAL_TYPES:
                        return body

    async def poll(self, wait_seconds: int = 1) -> list[str]:
        resp = await self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        bodies = []
        for msg in resp.get("Messages", []):
            bodies.append(msg["Body"])
            await self._sqs.delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"]
            )
        self.received.extend(bodies)
        return bodies
