"""Announce job events on SNS, with message attributes for subscribers' filter policies.

Each event is CloudEvent JSON with ``type``, ``status`` and ``preset`` as attributes. A
``Publish`` that botocore resends is a second copy under the same event id: delivery is
at-least-once, and subscribers de-duplicate on the id.
"""

from __future__ import annotations

from typing import Any

from core.events.cloudevent import CloudEvent
from infra.aws import aws_errors


class SnsPublisher:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self.topic_arn = topic_arn

    async def publish(self, event: CloudEvent) -> None:
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in event.attributes.items()
        }
        with aws_errors("sns:Publish"):
            await self._sns.publish(
                TopicArn=self.topic_arn, Message=event.to_json(), MessageAttributes=attributes
            )
