"""A batch of jobs: the message that sends one, the plan made of it, and its record.

``{"version": 2, "batch": {"id": ..., "jobs": [...]}}`` carries the batch document itself;
``{"version": 2, "batch_manifest": {"bucket": ..., "key": ...}}`` names an object holding it
(for thousands of jobs). Each job is a job request, plus an optional batch-local ``name``,
``after`` (names it waits for) and ``input: {"from": name, "output": ...}`` (a parent's
output as its input). :mod:`core.jobs.batch_plan` checks a document whole and makes the
:class:`BatchPlan`; the :class:`BatchRecord` is the plan with the jobs' endings so far.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from core.jobs.admission import within
from core.jobs.watch import IntakeConfig
from core.models import BatchId, BucketName, JobName, JobRequest, ObjectKey

MAX_BATCH_JOBS = 2000  # the record keeps every job id (DynamoDB items end at 400 KB)
MAX_AFTER = 16  # parents one job may wait for
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_PLAN_BYTES = 256 * 1024  # the plan, packed, in the record (beside the sets of ids)
BATCH_KEY_PREFIX = "b-"

OutputName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchDoc(_Wire):
    id: BatchId
    # Each a job request with its batch-local fields, checked one by one (batch_plan).
    jobs: Annotated[
        tuple[dict[str, JsonValue], ...], Field(min_length=1, max_length=MAX_BATCH_JOBS)
    ]


class ManifestRef(_Wire):
    bucket: BucketName
    key: ObjectKey


class BatchMessage(_Wire):
    """A batch request as it arrives on the jobs queue."""

    version: Literal[2]
    batch: BatchDoc | None = None
    batch_manifest: ManifestRef | None = None

    @model_validator(mode="after")
    def _one(self) -> BatchMessage:
        if (self.batch is None) == (self.batch_manifest is None):
            raise ValueError("give batch or batch_manifest, one of them")
        return self


class InputFrom(_Wire):
    """``{"from": "name", "output": "mp4"}``: the output of the job named ``from``."""

    from_: JobName = Field(alias="from")
    output: OutputName


class JobPlace(_Wire):
    """A job's batch-local fields."""

    name: JobName | None = None
    after: Annotated[tuple[JobName, ...], Field(max_length=MAX_AFTER)] = ()


class PlannedJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    index: int
    name: str | None = None
    after: tuple[str, ...] = ()  # the parents' job ids
    output: str | None = None  # with input_from (the request's batch ref): which output
    # Kept for a job that waits: it is sent when its parents complete. A job sent at the
    # fan-out is sent again, on a resend, from the message.
    request: JobRequest | None = None


class BatchPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    batch_id: str
    key: str  # the record's key: b- and a hash of the batch id
    digest: str  # of the whole document: the same id sent with other jobs is refused
    jobs: tuple[PlannedJob, ...]

    @property
    def total(self) -> int:
        return len(self.jobs)

    def packed(self) -> bytes:
        """As the record keeps it: its JSON (defaults left out), compressed."""
        return zlib.compress(self.model_dump_json(exclude_defaults=True).encode())

    @classmethod
    def unpacked(cls, data: bytes) -> BatchPlan:
        return cls.model_validate_json(zlib.decompress(data))

    def job(self, job_id: str) -> PlannedJob | None:
        return next((j for j in self.jobs if j.job_id == job_id), None)

    def children(self, job_id: str) -> tuple[PlannedJob, ...]:
        return tuple(j for j in self.jobs if job_id in j.after)


def batch_key(batch_id: str) -> str:
    return BATCH_KEY_PREFIX + hashlib.sha256(f"batch\x00{batch_id}".encode()).hexdigest()[:24]


class Ending(StrEnum):
    """How a job of a batch ended; each is a set of job ids in the record."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class BatchRecord:
    plan: BatchPlan
    completed: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    cancelled: frozenset[str] = frozenset()
    fanned_out: bool = False  # every job without parents was sent
    announced_by: str | None = None  # the job whose ending took the announcement
    announced: bool = False  # batch.completed went out

    @property
    def ended(self) -> int:
        return len(self.completed | self.failed | self.cancelled)

    def ending_of(self, job_id: str) -> Ending | None:
        for ending, ids in (
            (Ending.COMPLETED, self.completed), (Ending.FAILED, self.failed),
            (Ending.CANCELLED, self.cancelled),
        ):  # fmt: skip
            if job_id in ids:
                return ending
        return None


JOB_ID = re.compile(r"j-[0-9a-f]{24}")  # core.jobs.results.derive_job_id's


def _job_folder(key: str) -> str | None:
    """The job folder an output key lies in: ``{prefix}/{job id}/{file}``, or a step's
    ``{prefix}/{job id}/{step}/{file}``."""
    parts = key.split("/")
    return next((p for p in reversed(parts[:-1]) if JOB_ID.fullmatch(p)), None)


def admit_job(config: IntakeConfig, request: JobRequest) -> None:
    """Admit a direct request. A batch job whose input is a parent's output reads it from
    an output bucket, under the output root and that job's folder: the worker wrote it
    there, under an output location it admitted. (A sender that sets ``batch.input_from``
    itself can so have a job read another job's output: what the output root holds.)"""
    policy = config.admission
    ref, batch = request.input, request.batch
    source = batch.input_from if batch is not None else None
    if request.input_from is not None:  # a job named by id (core.jobs.job_deps)
        source = request.input_from.job_id
    if (
        source is not None
        and JOB_ID.fullmatch(source)
        and ref.bucket in policy.output_buckets
        and _job_folder(ref.key) == source
        and within(ref.key.rsplit("/", 1)[0], policy.output_root)
    ):
        policy = replace(policy, input_buckets=policy.input_buckets | {ref.bucket})
    policy.admit(request)
