"""The job record: what the job store keeps of a job, as one typed object.

Like Powertools' idempotency ``DataRecord``, the record crosses the job-store port typed
whatever the table stores it as; only the adapter that stores it knows its attribute names
and encodings. The readers (the dispatcher's re-announcements, ``ffapi status``, ``jobs``,
``submit --wait``, ``replay``, the webhook lanes) read fields, and mypy sees a renamed one.
Beside the :class:`JobRecord`: :class:`RecordedError` (a failure, kept raw) and
:class:`WebhookDelivery` (one delivery's outcome).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, JsonValue

from core.attempt.ledger import SegmentLedger
from core.errors import FfapiError
from core.events.progress import ProgressUpdate
from core.jobs.results import TERMINAL, JobResult, JobStatus
from core.models import JobRequest

_RECORD = ConfigDict(frozen=True, extra="ignore")


class RecordedError(BaseModel):
    """A failure as the record keeps it: raw (an event scrubs tool text of paths and
    addresses on its way out; the record and the log keep what was said)."""

    model_config = _RECORD
    code: str
    message: str
    retryable: bool
    stderr_tail: str | None = None
    details: dict[str, JsonValue] | None = None

    @classmethod
    def of(cls, error: FfapiError) -> RecordedError:
        return cls.model_validate(error.to_dict())

    def event_error(self) -> dict[str, JsonValue]:
        """As ``job.failed`` carries it (``FfapiError.to_dict``'s shape)."""
        return self.model_dump(mode="json", exclude_none=True)


class WebhookDelivery(BaseModel):
    """One webhook delivery's outcome (progress events are not recorded)."""

    model_config = _RECORD
    event_id: str
    event_type: str
    endpoint: str = Field(description="without its query: never a secret or a signature")
    outcome: str
    at: str
    status: int | None = None
    attempts: int = 0
    reason: str | None = None


class JobRecord(BaseModel):
    """One job's record. ``status`` is None only for a record that was never claimed nor
    failed (a stray announcement mark); ``request`` and ``result`` are None when absent or
    written by a version of the worker whose models no longer read them."""

    model_config = _RECORD
    job_id: str
    status: JobStatus | None = None
    attempts: int = 0
    preset: str | None = None
    input_bucket: str | None = None
    input_key: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    lease_until: float | None = None  # epoch seconds
    carrier: str | None = Field(default=None, description="the queue message the claim holds")
    request: JobRequest | None = None
    result: JobResult | None = None
    error: RecordedError | None = None
    retryable: bool | None = None
    progress: ProgressUpdate | None = None
    webhooks: tuple[WebhookDelivery, ...] = ()
    announced: bool = True
    expires_at: int | None = None
    not_before: str | None = None  # when SCHEDULED: the time it waits for (ISO 8601)
    # The jobs WAITING for this one (core.jobs.job_deps): sent on its ending.
    dependents: frozenset[str] = frozenset()
    cancel_requested: bool = Field(
        default=False, description="a cancel arrived while it ran: its attempt stops"
    )
    # The segments an attempt recorded in the bucket (core.attempt.ledger), for the next one
    # to keep; left out of dumps (``ffapi status --json``): thousands of them, the worker's.
    segments: InstanceOf[SegmentLedger] | None = Field(default=None, exclude=True)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def correlation_id(self) -> str | None:
        return self.request.correlation_id if self.request else None
