"""The event contract: CloudEvents 1.0 structured JSON, the same on every channel.

Types are ``ffapi.job.started``, ``ffapi.job.progress``, ``ffapi.job.completed`` and
``ffapi.job.failed``; ``subject`` is the job id. SNS carries ``type`` and ``status`` as message
attributes for filter policies.
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


# Event ids are derived, not random: an event announced again (after a crash between
# recording and announcing) carries the same id, so consumers can de-duplicate on it.
_EVENT_ID_NAMESPACE = uuid.UUID("6f0e7c1e-8a4b-5d2c-9a51-3f6f1d2b9c10")


def job_event(
    type_: EventType, job_id: str, now: datetime, data: dict[str, Any], attempt: int,
    step: str = "",
) -> CloudEvent:  # fmt: skip
    """``step`` tells apart the events one attempt has several of (progress: the percent)."""
    seed = f"{job_id}/{type_.value}/{attempt}" + (f"/{step}" if step else "")
    event_id = uuid.uuid5(_EVENT_ID_NAMESPACE, seed)
    return CloudEvent(
        id=str(event_id), type=type_, subject=job_id, time=now, data={"job_id": job_id, **data}
    )
