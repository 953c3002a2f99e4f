"""``ffapi events tail``: the events topic as a consumer sees it, one line per event.

It subscribes a queue of its own, made for the occasion: a temporary SQS queue whose policy
lets only the topic send to it, subscribed with raw delivery (the CloudEvent itself, not an
SNS envelope) and, with ``--type``, a filter policy on the ``type`` message attribute. It
sees the events published after it subscribed. The subscription and the queue are removed on
the way out, also on Ctrl-C: a forgotten subscription would keep filling a queue nobody reads.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from core.events.cloudevent import EventType
from core.events.progress import ProgressUpdate
from handlers.jobs_view import progress_text
from infra.aws import AwsClients, aws_errors, open_clients
from infra.settings import Settings
from infra.topic import EventsTopic


def event_type(name: str) -> EventType:
    """``completed`` or ``ffapi.job.completed``; ValueError for anything else."""
    return EventType(name if name.startswith("ffapi.") else f"ffapi.job.{name}")


async def run_tail(settings: Settings, types: Iterable[EventType], count: int | None) -> int:
    wanted = sorted({t.value for t in types})
    events_topic = EventsTopic.parse(settings.events_topic, settings.region)
    async with (
        open_clients(settings) as clients,
        subscribed_queue(clients, events_topic, wanted) as (queue_url, topic),
    ):
        print(f"tailing {topic} (Ctrl-C stops)", file=sys.stderr, flush=True)
        seen = 0
        while count is None or seen < count:
            for event in await _receive(clients, queue_url, settings.wait_time_seconds):
                print(event_line(event), flush=True)
                seen += 1
                if seen == count:
                    break
    return 0


@asynccontextmanager
async def subscribed_queue(
    clients: AwsClients, events_topic: EventsTopic, types: list[str]
) -> AsyncIterator[tuple[str, str]]:
    """The queue's URL and the topic's ARN: a topic given by name is in the queue's account."""
    sqs, sns = clients.sqs, clients.sns
    with aws_errors("sqs:CreateQueue"):
        url = (await sqs.create_queue(QueueName=f"ffapi-tail-{uuid.uuid4().hex[:12]}"))["QueueUrl"]
    try:
        with aws_errors("sns:Subscribe"):
            arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
                "Attributes"
            ]["QueueArn"]
            topic = events_topic.in_account_of(arn)
            policy = json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ffapi-tail",
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                        }
                    ],
                }
            )
            await sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
            attributes = {"RawMessageDelivery": "true"}
            if types:
                attributes["FilterPolicy"] = json.dumps({"type": types})
            sub = await sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=arn,
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )
        try:
            yield url, topic
        finally:
            with aws_errors("sns:Unsubscribe"):
                await sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    finally:
        with aws_errors("sqs:DeleteQueue"):
            await sqs.delete_queue(QueueUrl=url)


async def _receive(clients: AwsClients, url: str, wait_seconds: int) -> list[dict[str, Any]]:
    with aws_errors("sqs:ReceiveMessage"):
        resp = await clients.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=max(1, wait_seconds)
        )
    messages = resp.get("Messages", [])
    if messages:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        with aws_errors("sqs:DeleteMessageBatch"):
            await clients.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    # A standard queue does not keep order; within one batch, the events' own times do.
    return sorted((json.loads(m["Body"]) for m in messages), key=lambda e: str(e.get("time")))


def event_line(event: dict[str, Any]) -> str:
    """time, type, subject, then what the type says: status, percent or error code."""
    data = event.get("data") or {}
    kind = str(event.get("type", "?")).removeprefix("ffapi.job.")
    if kind == "progress":
        progress = data.get("progress")
        detail = progress_text(ProgressUpdate.model_validate(progress)) if progress else ""
    elif kind == "failed":
        detail = f"FAILED {(data.get('error') or {}).get('code', '?')}"
    elif kind == "playable":
        detail = f"after {data.get('seconds', 0):.2f} s: {(data.get('playback') or {}).get('hls')}"
    elif kind == "completed":
        detail = f"COMPLETED {data.get('encoder', '')} ({len(data.get('outputs') or [])} outputs)"
    else:
        detail = f"attempt {data.get('attempt', '?')} preset {data.get('preset') or '-'}"
    return f"{event.get('time', '?')}  {kind:<9}  {event.get('subject', '?')}  {detail}"
