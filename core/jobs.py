"""Jobs: identity, states and the result record (what ``job.json`` and the events carry)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.presets import get_preset


class JobStatus(StrEnum):
    RUNNING = "RUNNING"  # claimed; the lease says until when
    RETRYING = "RETRYING"  # failed transiently; the next delivery may claim it
    COMPLETED = "COMPLETED"  # terminal: duplicates are no-ops
    FAILED = "FAILED"  # terminal: permanent error, or retries exhausted


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
JOB_ID_PREFIX = "j-"


def derive_job_id(request: JobRequest) -> str:
    """The idempotency key: the input's identity plus what is asked of it.

    The same object version with the same preset and destination is the same job, however
    many times S3 announces it (a multipart upload raises two ObjectCreated events).
    """
    ref, out = request.input, request.output
    parts = [
        ref.bucket, ref.key, ref.version_id or "", ref.etag or "",
        get_preset(request.preset).spec_hash(),
        out.bucket if out else "", out.prefix if out else "",
    ]  # fmt: skip
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return f"{JOB_ID_PREFIX}{digest[:24]}"


def output_key(location: OutputLocation, job_id: str, name: str) -> str:
    prefix = location.prefix.strip("/")
    return f"{prefix}/{job_id}/{name}" if prefix else f"{job_id}/{name}"


class OutputFile(BaseModel):
    key: str
    role: str
    content_type: str
    size: int
    duration: float | None = None
    width: int | None = None
    height: int | None = None


class SourceInfo(BaseModel):
    format: str
    duration: float
    size: int | None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None


class JobResult(BaseModel):
    """The committed result of a completed job; written last, as ``job.json``."""

    job_id: str
    status: JobStatus = JobStatus.COMPLETED
    input: S3ObjectRef
    preset: str
    output: OutputLocation
    source: SourceInfo
    outputs: list[OutputFile]
    encoder: str
    accel_tier: str = "cpu"
    timings: dict[str, float] = Field(default_factory=dict)
    attempt: int = 1
    started_at: datetime
    completed_at: datetime
    correlation_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def event_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
