"""Jobs: identity, states and the result record (what ``job.json`` and the events carry)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.errors import InvalidMessage
from core.media.accel import TierFailure
from core.media.probe import ProbeResult
from core.models import STEPS_PRESET, JobRequest, OutputLocation, S3ObjectRef
from core.presets import EncodePreset, OutputPreset, PresetCatalog, StepsPreset, StreamingPreset
from core.steps.loudness import LoudnessReport
from core.steps.outputs import Encode
from core.steps.quality import QualityReport
from core.steps.scenes import ScenesReport
from core.streaming.qc import QcReport


class JobStatus(StrEnum):
    RUNNING = "RUNNING"  # claimed; the lease says until when
    RETRYING = "RETRYING"  # failed transiently; the next delivery may claim it
    COMPLETED = "COMPLETED"  # terminal: duplicates are no-ops
    FAILED = "FAILED"  # terminal: permanent error, or retries exhausted
    SCHEDULED = "SCHEDULED"  # waits for its not_before (core.jobs.schedule); claimable once due
    CANCELLED = "CANCELLED"  # terminal: cancelled before or while it ran (core.jobs.cancel)
    WAITING = "WAITING"  # for the jobs it names in after (core.jobs.job_deps); claimable
    SPLIT = "SPLIT"  # runs as chunk sub-jobs (core.jobs.chunks); ended by their endings


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
JOB_ID_PREFIX = "j-"


def resolve_preset(catalog: PresetCatalog, request: JobRequest) -> OutputPreset:
    """The effective spec of a request: its named (or the default) preset, with an inline
    ladder in place of the preset's own, or its own steps. A request that names no usable
    preset is refused; so is a step that names one."""
    if request.steps is not None:
        return _resolve_steps(catalog, StepsPreset(name=STEPS_PRESET, steps=request.steps))
    name = request.preset or catalog.default
    preset = catalog.get(name)
    if preset is None:
        raise InvalidMessage(f"unknown preset {name!r}", code="invalid_request")
    if isinstance(preset, StepsPreset) and request.ladder is None and not request.audio_tracks:
        return _resolve_steps(catalog, preset)
    if request.ladder is None and request.audio_tracks is None:
        return preset
    if not isinstance(preset, StreamingPreset):
        what = "ladder" if request.ladder is not None else "audio tracks"
        raise InvalidMessage(f"preset {name!r} has no {what} to replace", code="invalid_request")
    changes: dict[str, Any] = {}
    if request.ladder is not None:
        changes["ladder"] = request.ladder
    if request.audio_tracks is not None:
        changes["audio_tracks"] = request.audio_tracks
    try:
        return StreamingPreset.model_validate({**preset.model_dump(), **changes})
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidMessage(f"invalid ladder: {_first_line(exc)}", code="invalid_request") from exc


def _resolve_steps(catalog: PresetCatalog, preset: StepsPreset) -> StepsPreset:
    """The presets its encode steps name, pinned as they are now."""
    encodes: dict[str, EncodePreset] = {}
    for i, step in enumerate(preset.steps):
        if not isinstance(step, Encode):
            continue
        named = catalog.get(step.preset)
        if named is None:
            raise InvalidMessage(
                f"steps[{i}].preset: unknown preset {step.preset!r}", code="invalid_request"
            )
        if isinstance(named, StepsPreset):
            raise InvalidMessage(
                f"steps[{i}].preset: {step.preset!r} is a list of steps, not an encode",
                code="invalid_request",
            )
        encodes[step.preset] = named
    return preset.model_copy(update={"encodes": encodes})


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    return lines[-2].strip() if len(lines) >= 2 else str(exc)


def derive_job_id(request: JobRequest, preset: OutputPreset | None) -> str:
    """The idempotency key: the input's identity plus what is asked of it.

    The same object version with the same effective preset and destination is the same job,
    however many times S3 announces it (a multipart upload raises two ObjectCreated events).
    A request's own ``idempotency_key`` replaces all of that: one key, one job.
    ``preset`` is None only for a request refused before its preset resolved.
    """
    if request.chunk is not None:  # a chunk of a split job (core.jobs.chunks)
        return request.chunk.job_id
    if request.idempotency_key:  # the caller names the job; nothing else identifies it
        digest = hashlib.sha256(f"key\x00{request.idempotency_key}".encode()).hexdigest()
        return f"{JOB_ID_PREFIX}{digest[:24]}"
    ref, out = request.input, request.output
    # A parent's output is known only once it completed: the job is named by the parent.
    source = request.input_from
    inputs = (
        [ref.bucket, ref.key, ref.version_id or "", ref.etag or ""]
        if source is None
        else ["", f"from:{source.job_id}/{source.output}", "", ""]
    )
    parts = [
        *inputs,
        preset.spec_hash() if preset else f"unresolved:{request.preset}",
        out.bucket if out else "",
        out.prefix if out else "",
    ]
    # Further destinations are part of what is asked (a request re-sent with one more must
    # write it); none leaves the ids of requests without them as they were.
    parts += [f"{d.bucket}\x00{d.prefix}" for d in request.destinations]
    parts += [f"after:{p}" for p in sorted(request.after)]  # none: ids as they were
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
    encoder: str | None = None  # the video encoder that made it (h264_nvenc, libx264, ...)
    step: str | None = Field(default=None, description="the output step that made it, by name")
    time: float | None = Field(default=None, description="a frame's time in the picture, s")


class Rendition(BaseModel):
    """One rendition of a streaming package, as its playlist describes it."""

    name: str
    kind: str  # "video" (with muxed audio in hls-ts) | "audio"
    playlist: str  # object key of its media playlist
    width: int | None = None
    height: int | None = None
    bitrate_kbps: int  # the target
    peak_bandwidth: int  # measured, bits/s, as the master playlist states it
    average_bandwidth: int
    segments: int
    duration: float
    size: int  # bytes of its init and media segments
    encoder: str | None = None  # h264_nvenc, libx264, aac, ...
    # an audio rendition: the source track it carries (its place among the audio streams)
    track: int | None = None
    language: str | None = None  # ISO 639-2, as the source tagged the track
    role: str | None = None  # main, commentary, description
    channels: int | None = None


class LadderStep(BaseModel):
    rung: str
    kept: bool
    reason: str


class StepResult(BaseModel):
    """What one output step of a steps job made, or what its loudness step measured."""

    step: int = Field(description="its index in the steps")
    op: str
    name: str = Field(description="its folder under the job's output")
    preset: str | None = Field(default=None, description="an encode step's preset")
    tier: str | None = Field(default=None, description="the accelerator tier that ran it")
    # Its files are the job's ``outputs`` whose ``step`` is this one's name (listed once:
    # an event must stay within SNS's 256 KB).
    files: int = Field(default=0, description="how many files it wrote")
    renditions: list[Rendition] = Field(default_factory=list)
    playback: dict[str, str] = Field(default_factory=dict)
    ladder: list[LadderStep] = Field(default_factory=list)
    qc: QcReport | None = None
    scenes: ScenesReport | None = None
    quality: QualityReport | None = None
    loudness: LoudnessReport | None = None


class SourceInfo(BaseModel):
    format: str
    duration: float
    size: int | None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None

    @classmethod
    def of(cls, probe: ProbeResult) -> SourceInfo:
        video, audio = probe.video, probe.audio
        return cls(
            format=probe.format_name, duration=probe.duration, size=probe.size,
            width=video.width if video else None, height=video.height if video else None,
            video_codec=video.codec if video else None,
            audio_codec=audio.codec if audio else None,
        )  # fmt: skip


class Produced(BaseModel):
    """What an attempt's encode made: the part of a result that a preset's package, an MP4
    preset's files or a steps job's outputs fill, before the job's identity and times join
    it (:class:`JobResult`)."""

    outputs: list[OutputFile]
    encoder: str
    accel_tier: str = "cpu"  # the tier that made the outputs: gpu, gpu-decode or cpu
    fallback_reason: str | None = None  # why the job left the tier it started on
    fallbacks: list[TierFailure] = Field(default_factory=list)  # every tier it left, and why
    renditions: list[Rendition] = Field(default_factory=list)
    playback: dict[str, str] = Field(default_factory=dict)  # "hls" / "dash" -> object key
    ladder: list[LadderStep] = Field(default_factory=list)
    qc: QcReport | None = None
    loudness: LoudnessReport | None = Field(
        default=None, description="a streaming preset's loudness target: measured, then met"
    )
    notes: list[str] = Field(default_factory=list)  # conversions made (HDR, bit depth, fps)
    steps: list[StepResult] = Field(
        default_factory=list,
        description="a steps job's output steps, each with its files (and its loudness step)",
    )


class DestinationResult(BaseModel):
    """One place the job's package was committed to: its own copy, with its own ``job.json``
    (that copy's result: the same files, each key under this location's prefix)."""

    bucket: str
    prefix: str
    marker: str = Field(description="the key of this copy's job.json, its commit marker")
    playback: dict[str, str] = Field(default_factory=dict, description="hls / dash -> key here")


class JobResult(Produced):
    """The committed result of a completed job; written last, as ``job.json``."""

    job_id: str
    status: JobStatus = JobStatus.COMPLETED
    input: S3ObjectRef
    preset: str
    output: OutputLocation
    source: SourceInfo
    timings: dict[str, float] = Field(default_factory=dict)
    attempt: int = 1
    started_at: datetime
    completed_at: datetime
    correlation_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    destinations: list[DestinationResult] = Field(
        default_factory=list,
        description="every place the package was committed to, the output first; empty when "
        "the request named no further destinations",
    )

    def event_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
