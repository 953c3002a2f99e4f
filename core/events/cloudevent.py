"""The event contract: CloudEvents 1.0 structured JSON, the same on every channel.

Types are ``ffapi.job.received``, ``ffapi.job.started``, ``ffapi.job.progress``,
``ffapi.job.playable``, ``ffapi.job.completed``, ``ffapi.job.failed`` and
``ffapi.job.cancelled``; ``subject`` is the
job id. ``ffapi.batch.completed`` (subject: the batch record's key) ends a batch. SNS carries
``type``, ``status`` and ``preset`` as message attributes for filter policies. What ``data``
holds for each type is :mod:`core.events.contract`, which also builds the events.
``received`` goes out once, before the first attempt's ``started``; ``completed``,
``failed`` or ``cancelled`` ends the job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

EVENT_SOURCE = "urn:ffapi:worker"


class EventType(StrEnum):
    RECEIVED = "ffapi.job.received"
    STARTED = "ffapi.job.started"
    PROGRESS = "ffapi.job.progress"
    COMPLETED = "ffapi.job.completed"
    FAILED = "ffapi.job.failed"
    BATCH_COMPLETED = "ffapi.batch.completed"  # every job of a batch has ended
    CANCELLED = "ffapi.job.cancelled"
    PLAYABLE = "ffapi.job.playable"  # a progressive package can be played while it encodes

    @property
    def status(self) -> str:
        return self.value.rsplit(".", 1)[1]


class CloudEvent(BaseModel):
    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str = EVENT_SOURCE
    type: EventType
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def attributes(self) -> dict[str, str]:
        """Routing attributes: SNS message attributes (for filter policies), webhook headers."""
        attrs = {"type": self.type.value, "status": self.type.status}
        if isinstance(self.data.get("preset"), str):
            attrs["preset"] = self.data["preset"]
        return attrs
