"""The seams between the domain and the outside world; ``infra`` implements them.

Tests may pass in-memory adapters (``infra.memory``, ``infra.memory_objects``,
``infra.memory_jobs``, ``infra.memory_batches``); production passes the
S3/SQS/SNS/DynamoDB/ffmpeg adapters. Each port is in the module of its seam (``messages``,
``storage``, ``records``, ``announcing``, ``machine``); import them from here.

The ports: ``Queue`` (receive, extend, release, delete, send, requeue), ``ObjectStore``,
``JobStore``, ``EventPublisher``, ``WebhookSender``, ``MediaTool``, ``LocalFiles``, ``Workspace``,
``SourceCopies``, ``SourceIndex``, ``SpanReads``, ``Accelerator``, ``TaskProtection``,
``DeadLetterQueue``, ``ConfigReader``, ``BatchStore``, ``JobSender``; and the values crossing
them (``QueueMessage``, ``Delivery``, ``Claim``, ``CancelAnswer``, ``JobDir``, ``ConfigText``).
"""

from core.ports.announcing import EventPublisher, WebhookSender
from core.ports.machine import (
    Accelerator,
    JobDir,
    LocalFiles,
    MediaTool,
    SourceCopies,
    SourceIndex,
    TaskProtection,
    Workspace,
)
from core.ports.messages import DeadLetterQueue, Delivery, JobSender, Queue, QueueMessage
from core.ports.records import BatchStore, CancelAnswer, Claim, JobStore
from core.ports.storage import (
    ConfigReader,
    ConfigText,
    ObjectInfo,
    ObjectListing,
    ObjectStore,
    SpanReads,
)

__all__ = [
    "Accelerator",
    "BatchStore",
    "CancelAnswer",
    "Claim",
    "ConfigReader",
    "ConfigText",
    "DeadLetterQueue",
    "Delivery",
    "EventPublisher",
    "JobDir",
    "JobSender",
    "JobStore",
    "LocalFiles",
    "MediaTool",
    "ObjectInfo",
    "ObjectListing",
    "ObjectStore",
    "Queue",
    "QueueMessage",
    "SourceCopies",
    "SourceIndex",
    "SpanReads",
    "TaskProtection",
    "WebhookSender",
    "Workspace",
]
