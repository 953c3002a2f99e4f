"""The data contract of every event: one pydantic model per event type.

``job_event`` builds every event the worker sends, and validates its data against its type's
model on the way: an event that does not match the contract is a bug, and it never leaves the
worker. The JSON Schemas in ``events/schemas/`` are generated from these models
(``python -m handlers.schemas``); a test fails when the two disagree.

What every job event says (``JobContext``): the job id, the input, the preset, the output
location, the caller's correlation id and ``metadata`` echoed back (bounded by the request's
own limits: 16 keys, 256 characters each), and the attempt. ``completed`` adds the result
(``job.json``); ``cancelled`` its status; ``failed`` adds ``{code, message, retryable,
stderr_tail, details}``, their text scrubbed of memory addresses and filesystem paths
(:mod:`core.events.scrub`), and ``package: "partial"`` when the job failed after its package
was announced ``playable`` (published while it encoded, left marked failed). ``playable``
says where a progressive package can be played while it encodes.

Event ids are derived, never random: uuid5 of (job id, type, attempt; a progress event's
phase and percent too), so an event sent again carries the same id (a failure before any
claim is attempt 1).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.events.cloudevent import CloudEvent, EventType
from core.events.playable import PARTIAL
from core.events.progress import ProgressUpdate
from core.events.scrub import scrub, scrub_values
from core.jobs.results import JobResult
from core.models import OutputLocation, S3ObjectRef

# Every field is always sent (null when unknown): the schemas say so, for consumers.
_CONTRACT = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class _Data(BaseModel):
    model_config = _CONTRACT


class JobContext(_Data):
    job_id: str
    input: S3ObjectRef | None = Field(description="None only for a message that named none")
    preset: str | None = None
    output: OutputLocation | None = None
    correlation_id: str | None = Field(
        default=None, description="the request's, or the queue message id that carried it"
    )
    metadata: dict[str, str] = Field(default_factory=dict, description="the request's, as sent")
    attempt: int = Field(ge=1)


class ReceivedData(JobContext):
    """The job was accepted: claimed for the first time, before its first attempt."""


class StartedData(JobContext):
    """An attempt began (a retried job has several)."""


class ProgressData(_Data):
    job_id: str
    preset: str | None = None
    correlation_id: str | None = None
    attempt: int = Field(ge=1)
    progress: ProgressUpdate


class PlayableData(_Data):
    """A progressive package can be played while it encodes: every rung's first segment is
    in the bucket, behind growing manifests (HLS ``EVENT`` playlists, a dynamic MPD). Once an
    attempt; ``completed`` follows when the package is whole (VOD playlists, static MPD)."""

    job_id: str
    preset: str | None = None
    correlation_id: str | None = None
    attempt: int = Field(ge=1)
    output: OutputLocation
    playback: dict[str, str] = Field(
        description="hls / dash -> the manifest's key, as job.completed's playback"
    )
    seconds: float = Field(ge=0, description="since the attempt started")


class CompletedData(JobResult):
    """The job's result, as ``job.json`` holds it."""

    model_config = _CONTRACT


class ErrorInfo(_Data):
    code: str = Field(description="stable; see core/errors.py for the tree")
    message: str
    retryable: bool
    stderr_tail: str | None = Field(default=None, description="the end of ffmpeg's stderr")
    details: dict[str, Any] | None = Field(default=None, description="e.g. the QC report")

    # Where an error becomes an event: tool text is scrubbed of addresses and paths here,
    # once, whatever raised it (the job record and the log keep it raw).
    @field_validator("message", "stderr_tail")
    @classmethod
    def _public_text(cls, text: str | None) -> str | None:
        return scrub(text) if text is not None else None

    @field_validator("details")
    @classmethod
    def _public_details(cls, details: dict[str, Any] | None) -> dict[str, Any] | None:
        return scrub_values(details) if details is not None else None


class FailedData(JobContext):
    status: Literal["FAILED"] = "FAILED"
    error: ErrorInfo
    package: Literal["partial"] | None = Field(
        default=None,
        description="partial: the package was published while it encoded (job.playable) and "
        "is left incomplete, marked failed; null: nothing of it stands",
    )

    @model_validator(mode="before")
    @classmethod
    def _partial(cls, data: Any) -> Any:
        """Said by the error's details (the record keeps them): also when it is a
        ``max_attempts``'s cause."""
        if isinstance(data, dict) and "package" not in data and _partial(data.get("error")):
            return {**data, "package": PARTIAL}
        return data


def _partial(error: object) -> bool:
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, dict):
        return False
    return details.get("package") == PARTIAL or _partial(details.get("cause"))


class BatchJobEnding(_Data):
    job_id: str
    name: str | None = Field(default=None, description="its batch-local name")
    status: Literal["COMPLETED", "FAILED", "CANCELLED"]


class BatchCompletedData(_Data):
    """Every job of a batch has ended: how many each way, and each job's id and status."""

    batch_id: str = Field(description="the sender's")
    key: str = Field(description="the batch record's key (the event's subject)")
    total: int = Field(ge=1)
    completed: int = Field(ge=0)
    failed: int = Field(ge=0, description="dependency_failed included")
    cancelled: int = Field(ge=0)
    jobs: list[BatchJobEnding]


class CancelledData(JobContext):
    """A cancel request ended the job (core.jobs.cancel): it never started, or its attempt was
    stopped and nothing of it published. ``input`` is None when it was cancelled before any
    worker took it (the worker had not read its request yet)."""

    status: Literal["CANCELLED"] = "CANCELLED"


DATA_MODELS: dict[EventType, type[BaseModel]] = {
    EventType.RECEIVED: ReceivedData,
    EventType.STARTED: StartedData,
    EventType.PROGRESS: ProgressData,
    EventType.PLAYABLE: PlayableData,
    EventType.COMPLETED: CompletedData,
    EventType.FAILED: FailedData,
    EventType.BATCH_COMPLETED: BatchCompletedData,
    EventType.CANCELLED: CancelledData,
}


class _Envelope(BaseModel):
    """CloudEvents 1.0 structured JSON, as every channel carries it."""

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, description="the same when an event is sent again")
    source: str = Field(min_length=1)
    subject: str = Field(description="the job id")
    time: datetime
    datacontenttype: Literal["application/json"]


class ReceivedEvent(_Envelope):
    type: Literal["ffapi.job.received"]
    data: ReceivedData


class StartedEvent(_Envelope):
    type: Literal["ffapi.job.started"]
    data: StartedData


class ProgressEvent(_Envelope):
    type: Literal["ffapi.job.progress"]
    data: ProgressData


class PlayableEvent(_Envelope):
    type: Literal["ffapi.job.playable"]
    data: PlayableData


class CompletedEvent(_Envelope):
    type: Literal["ffapi.job.completed"]
    data: CompletedData


class FailedEvent(_Envelope):
    type: Literal["ffapi.job.failed"]
    data: FailedData


class BatchCompletedEvent(_Envelope):
    type: Literal["ffapi.batch.completed"]
    data: BatchCompletedData


class CancelledEvent(_Envelope):
    type: Literal["ffapi.job.cancelled"]
    data: CancelledData


ENVELOPES: dict[EventType, type[_Envelope]] = {
    EventType.RECEIVED: ReceivedEvent,
    EventType.STARTED: StartedEvent,
    EventType.PROGRESS: ProgressEvent,
    EventType.PLAYABLE: PlayableEvent,
    EventType.COMPLETED: CompletedEvent,
    EventType.FAILED: FailedEvent,
    EventType.BATCH_COMPLETED: BatchCompletedEvent,
    EventType.CANCELLED: CancelledEvent,
}

# Event ids are derived, not random: an event announced again (after a crash between
# recording and announcing, or by ``ffapi events replay``) carries the same id, so consumers
# can de-duplicate on it.
_EVENT_ID_NAMESPACE = uuid.UUID("6f0e7c1e-8a4b-5d2c-9a51-3f6f1d2b9c10")


def job_event(
    type_: EventType,
    job_id: str,
    now: datetime,
    data: dict[str, Any],
    attempt: int,
    step: str = "",
) -> CloudEvent:
    """``step`` tells apart the events one attempt has several of (progress: the percent).

    Raises pydantic's ValidationError when ``data`` breaks the contract."""
    seed = f"{job_id}/{type_.value}/{attempt}" + (f"/{step}" if step else "")
    checked = DATA_MODELS[type_].model_validate({**data, "job_id": job_id})
    return CloudEvent(
        id=str(uuid.uuid5(_EVENT_ID_NAMESPACE, seed)),
        type=type_,
        subject=job_id,
        time=now,
        data=checked.model_dump(mode="json"),
    )


def batch_event(data: BatchCompletedData, now: datetime) -> CloudEvent:
    """``batch.completed``; its id derived from the batch record's key: said again, the same."""
    seed = f"{data.key}/{EventType.BATCH_COMPLETED.value}"
    return CloudEvent(
        id=str(uuid.uuid5(_EVENT_ID_NAMESPACE, seed)),
        type=EventType.BATCH_COMPLETED,
        subject=data.key,
        time=now,
        data=data.model_dump(mode="json"),
    )
