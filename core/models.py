"""The job request: the one contract every message shape is normalized to.

Strict, versioned and bounded: a request names a preset (version 1 or 2) or lists typed
steps (version 2, :mod:`core.steps.model`), never ffmpeg arguments or filter text. Every model
here (the request, :class:`S3ObjectRef`, :class:`OutputLocation`) refuses unknown fields.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from core.events.webhooks import MAX_JOB_WEBHOOKS, WebhookTarget
from core.presets import MAX_RUNGS, AudioSelection, PresetName, Rung
from core.steps.model import Concat, Mix, Overlay, ReplaceAudio, StepObject, Subtitles
from core.steps.outputs import StepList, steps_problem

# S3's own rules: 3-63 chars, lower-case letters, digits, dots and hyphens.
BucketName = Annotated[
    str, StringConstraints(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
]
ObjectKey = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
KeyPrefix = Annotated[str, StringConstraints(max_length=512, pattern=r"^[^\x00-\x1f]*$")]
ShortToken = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")]
MetaValue = Annotated[str, StringConstraints(max_length=256)]


# A queue per class (SQS has no priorities): core.jobs.priority polls them by weight.
Priority = Literal["high", "normal", "low"]
# An ISO 8601 time with its zone ("2026-12-07T18:00:00Z"); a zoneless time is refused.
ZonedTime = Annotated[AwareDatetime, Field(strict=False)]

STEPS_PRESET = "steps"  # the name a request's own list of steps runs under
MAX_DESTINATIONS = 4  # where one job's package may go: its output and up to 3 more


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class S3ObjectRef(_Strict):
    bucket: BucketName
    key: ObjectKey
    # S3's are opaque URL-ready ASCII ("3sL4kq...+MTRCxf..."): no spaces, no control characters.
    version_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = None
    etag: ShortToken | None = None
    size: Annotated[int, Field(ge=0)] | None = None


class OutputLocation(_Strict):
    bucket: BucketName
    prefix: KeyPrefix = ""

    def same_place(self, other: OutputLocation) -> bool:
        """Do the two name one place (``out/`` is ``out``: keys are made without the ``/``)?"""
        return self.bucket == other.bucket and self.prefix.strip("/") == other.prefix.strip("/")


# A batch's id (the sender's) and a job's batch-local name: what job ids are derived from.
# ASCII only: the id goes into each job's idempotency key (a ShortToken).
BatchId = Annotated[
    str, StringConstraints(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:\-]+$")
]
JobName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
]


# A job's id (core.jobs.results.derive_job_id's): what ``after`` and ``input.from`` name.
JobId = Annotated[str, StringConstraints(pattern=r"^j-[0-9a-f]{24}$")]
MAX_AFTER = 16  # parents one job may wait for
CHUNK_ID_PREFIX = "k-"  # a chunk sub-job's id (ChunkRef.job_id)


class InputFrom(_Strict):
    """The job whose output is this job's input (``input: {"from": ..., "output": ...}``,
    kept here by the worker): read from that job's result once it completed
    (core.jobs.job_deps), whatever ``input`` says meanwhile."""

    job_id: JobId
    output: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    ]


class BatchRef(_Strict):
    """The batch a job was fanned out from (set by the worker, core.jobs.batches)."""

    id: BatchId
    index: Annotated[int, Field(ge=0)]
    name: JobName | None = None
    # The parent job whose output is this job's input (``input.from``): read from an output
    # bucket, under that job's own folder.
    input_from: ShortToken | None = None


class ChunkRef(_Strict):
    """A chunk sub-job of a split job (core.jobs.chunks): its parent and its index in the
    parent's chunk plan. Set by the worker only (a request that carries one is refused)."""

    parent: JobId
    index: Annotated[int, Field(ge=0, le=1000)]

    @property
    def job_id(self) -> str:
        """The chunk's own job id: derived from its parent's and its index (each send of it
        is the same job), of a form of its own (``k-``), never a user's job's."""
        digest = hashlib.sha256(f"chunk\x00{self.parent}\x00{self.index}".encode()).hexdigest()
        return f"{CHUNK_ID_PREFIX}{digest[:24]}"


class JobRequest(_Strict):
    """The job request (the SQS body another system may send). Version 1 names a preset;
    version 2 names a preset or lists ``steps`` (one or the other)."""

    version: Literal[1, 2] = 1
    input: S3ObjectRef
    preset: PresetName | None = None  # None: the catalog's default (or the steps)
    steps: StepList | None = None
    # Replaces the named streaming preset's ladder; each rung is bounded by its own model.
    ladder: (
        Annotated[tuple[Rung, ...], Field(strict=False, min_length=1, max_length=MAX_RUNGS)] | None
    ) = None
    # Replaces the streaming preset's choice of the input's audio tracks (every one by
    # default): {"languages": ["eng", "spa"]} or {"tracks": [0, 2]}.
    audio_tracks: AudioSelection | None = None
    output: OutputLocation | None = None
    correlation_id: ShortToken | None = None
    # The caller's own idempotency key: the same key is the same job, whatever the rest of
    # the request says (a re-sent request after a timeout, an object overwritten since).
    idempotency_key: ShortToken | None = None
    metadata: Annotated[dict[MetaKey, MetaValue], Field(max_length=16)] = Field(
        default_factory=dict
    )
    # This job's own endpoints, beside the deployment's (FFAPI_WEBHOOK_ENDPOINTS).
    webhooks: Annotated[
        tuple[WebhookTarget, ...], Field(strict=False, max_length=MAX_JOB_WEBHOOKS)
    ] = ()
    # Set on the jobs a batch fans out: its end is counted in the batch's record.
    batch: BatchRef | None = None
    # Further places the same package is written to, each committed with its own job.json
    # (core/attempt/destinations.py); the output stays the first.
    destinations: Annotated[
        tuple[OutputLocation, ...], Field(strict=False, max_length=MAX_DESTINATIONS - 1)
    ] = ()

    # Which queue `ffapi submit` sends it to; the queue it arrives on is what counts.
    priority: Priority = "normal"
    # Not started before this time (core.jobs.schedule): kept out of sight until then.
    not_before: ZonedTime | None = None
    # Not started after this time: a job that cannot start by then fails (deadline_passed).
    deadline: ZonedTime | None = None
    # Jobs (by id, each with a record already) it waits for: started once they all complete,
    # failed as dependency_failed when one does not (core.jobs.job_deps).
    after: Annotated[tuple[JobId, ...], Field(strict=False, max_length=MAX_AFTER)] = ()
    input_from: InputFrom | None = None  # set by the worker from ``input: {"from": ...}``
    # A long streaming job across many workers (core.jobs.chunks): true splits it into
    # chunks whatever its length, false never; None: when longer than FFAPI_SPLIT_ABOVE_SECONDS.
    split: bool | None = None
    chunk: ChunkRef | None = None  # set by the worker on a chunk sub-job's request
    # Version 2, a streaming preset: the package is published as a growing stream while it
    # encodes, and job.playable says so (core/attempt/progressive_run.py). The job's id is
    # the same either way: the finished package is.
    progressive: bool = False

    @model_validator(mode="after")
    def _distinct_destinations(self) -> JobRequest:
        places = [*([self.output] if self.output else []), *self.destinations]
        for i, place in enumerate(places):
            if any(place.same_place(p) for p in places[:i]):
                raise ValueError("destinations: each location may be named once (the output too)")
        return self

    @model_validator(mode="after")
    def _schedule(self) -> JobRequest:
        if self.not_before and self.deadline and self.deadline <= self.not_before:
            raise ValueError("deadline must come after not_before")
        return self

    @model_validator(mode="after")
    def _split(self) -> JobRequest:
        if self.split is not None and self.version < 2:
            raise ValueError("split needs version 2")
        return self

    @model_validator(mode="after")
    def _progressive(self) -> JobRequest:
        if self.progressive and (self.version < 2 or self.steps is not None):
            raise ValueError("progressive needs version 2 and a streaming preset, not steps")
        return self

    @model_validator(mode="after")
    def _steps_or_preset(self) -> JobRequest:
        if self.steps is None:
            return self
        if self.version < 2:
            raise ValueError("steps need version 2")
        if self.preset is not None or self.ladder is not None or self.audio_tracks is not None:
            raise ValueError("give preset or steps, not both")
        if (problem := steps_problem(self.steps)) is not None:
            raise ValueError(problem)
        return self

    @property
    def parents(self) -> tuple[str, ...]:
        """The jobs it waits for: ``after``, and the one its input comes from."""
        found = self.after
        if self.input_from is not None and self.input_from.job_id not in found:
            found = (*found, self.input_from.job_id)
        return found

    @property
    def preset_name(self) -> str | None:
        """What the job runs, by name: its preset, or ``steps`` for its own list of steps."""
        return STEPS_PRESET if self.steps is not None else self.preset

    def step_objects(self) -> tuple[tuple[str, S3ObjectRef], ...]:
        """Every object the steps name, with where (``steps[1].image``), each in the input's
        bucket unless it names its own."""
        return step_objects(self.steps or (), self.input.bucket)

    def job_bytes(self) -> int | None:
        """What the job downloads: the input and every object its steps name, as their
        HEADs said (None while the input's size is not known)."""
        if self.input.size is None:
            return None
        return self.input.size + sum(ref.size or 0 for _, ref in self.step_objects())


def step_objects(steps: tuple[object, ...], bucket: str) -> tuple[tuple[str, S3ObjectRef], ...]:
    found: list[tuple[str, S3ObjectRef]] = []
    for i, step in enumerate(steps):
        if isinstance(step, Overlay):
            found.append((f"steps[{i}].image", _ref(step.image, bucket)))
        elif isinstance(step, Concat):
            found += [
                (f"steps[{i}].inputs[{j}]", _ref(o, bucket)) for j, o in enumerate(step.inputs)
            ]
        elif isinstance(step, ReplaceAudio):
            found.append((f"steps[{i}].audio", _ref(step.audio, bucket)))
        elif isinstance(step, Mix):
            found += [
                (f"steps[{i}].tracks[{j}].audio", _ref(t.audio, bucket))
                for j, t in enumerate(step.tracks)
            ]
        elif isinstance(step, Subtitles) and step.source is not None:
            found.append((f"steps[{i}].source", _ref(step.source, bucket)))
    return tuple(found)


def _ref(obj: StepObject, bucket: str) -> S3ObjectRef:
    return S3ObjectRef(
        bucket=obj.bucket or bucket,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag,
        size=obj.size,
    )
