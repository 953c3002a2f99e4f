"""A job's identity: the request as the job runs it, pinned before the job is claimed, and
so its id (:func:`core.jobs.results.derive_job_id`). The dispatcher and ``ffapi submit`` (which
prints the id before the worker sees the message) both pin it here.

The preset a request names is resolved and named in it (a preset job), the input is HEADed
for its ETag, version and size, and so is each object the steps name: a missing one fails
the job at once, naming the step (``steps[1].image: ...``). So an input or overlay replaced
under the same key makes a job of its own (the ETags are part of the request, and so of the
job id), and the worker downloads exactly the objects seen here (If-Match), or fails as
``input_changed``. The sizes pinned here are the disk the job's directory reserves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from core.errors import FfapiError, InputChanged
from core.jobs.results import resolve_preset
from core.models import JobRequest, S3ObjectRef
from core.ports import ObjectStore
from core.presets import OutputPreset, PresetCatalog
from core.steps.model import Concat, Mix, Overlay, ReplaceAudio, StepObject, Subtitles
from core.steps.outputs import Step

T = TypeVar("T")


def named_request(catalog: PresetCatalog, request: JobRequest) -> tuple[JobRequest, OutputPreset]:
    """The effective preset, named in a preset job's request (a steps job's is its steps)."""
    preset = resolve_preset(catalog, request)
    if request.steps is not None:
        return request, preset
    return request.model_copy(update={"preset": preset.name}), preset


async def pin_request(
    objects: ObjectStore, catalog: PresetCatalog, request: JobRequest, preset: OutputPreset
) -> tuple[JobRequest, OutputPreset]:
    """``request`` (named) with its input and step objects pinned; a steps job's preset made
    again from the pinned steps (their ETags are in its spec, and so in the job id)."""
    # every HEAD at once: a concat of twenty clips waits for one round trip, not twenty
    pinned_input, pinned_steps = await _in_order(
        [pin_input(objects, request), pin_step_objects(objects, request)]
    )
    request = pinned_input.model_copy(update={"steps": pinned_steps.steps})
    if request.steps is not None:
        preset = resolve_preset(catalog, request)
    return request, preset


async def pin_input(objects: ObjectStore, request: JobRequest) -> JobRequest:
    """Check the input exists and pin its identity (ETag, version, size). A dependent's
    input is its parent's output, named (and sized) by the parent's result once it completed
    (core.jobs.job_deps): nothing to check before."""
    if request.input_from is not None:
        return request
    info = await objects.head(request.input)
    announced = request.input.etag
    if announced and info.etag and announced != info.etag and not request.input.version_id:
        raise InputChanged(
            f"s3://{request.input.bucket}/{request.input.key} was overwritten since it was "
            "announced; the newer object is a job of its own"
        )
    ref = request.input.model_copy(
        update={
            "etag": request.input.etag or info.etag,
            "version_id": request.input.version_id or info.version_id,
            "size": info.size,
        }
    )
    return request.model_copy(update={"input": ref})


async def pin_step_objects(objects: ObjectStore, request: JobRequest) -> JobRequest:
    if not request.steps:
        return request
    bucket = request.input.bucket
    pinned = await _in_order(
        [_pin_step(objects, step, bucket, i) for i, step in enumerate(request.steps)]
    )
    return request.model_copy(update={"steps": tuple(pinned)})


async def _pin_step(objects: ObjectStore, step: Step, bucket: str, i: int) -> Step:
    if isinstance(step, Overlay):
        return step.model_copy(
            update={"image": await _pin(objects, step.image, bucket, f"steps[{i}].image")}
        )
    if isinstance(step, Concat):
        inputs = await _in_order(
            [
                _pin(objects, clip, bucket, f"steps[{i}].inputs[{j}]")
                for j, clip in enumerate(step.inputs)
            ]
        )
        return step.model_copy(update={"inputs": tuple(inputs)})
    if isinstance(step, ReplaceAudio | Mix):
        return await _pin_sound(objects, step, bucket, i)
    if isinstance(step, Subtitles) and step.source is not None:
        return step.model_copy(
            update={"source": await _pin(objects, step.source, bucket, f"steps[{i}].source")}
        )
    return step


async def _in_order(work: Sequence[Awaitable[T]]) -> list[T]:
    """Run them together; when some fail, the first failure in ``work``'s order stands: the
    error naming the first bad object, as one HEAD after another would have named it."""
    outcomes = await asyncio.gather(*work, return_exceptions=True)
    found: list[T] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        found.append(outcome)
    return found


async def _pin_sound(
    objects: ObjectStore, step: ReplaceAudio | Mix, bucket: str, i: int
) -> ReplaceAudio | Mix:
    if isinstance(step, ReplaceAudio):
        audio = await _pin(objects, step.audio, bucket, f"steps[{i}].audio")
        return step.model_copy(update={"audio": audio})
    sounds = await _in_order(
        [
            _pin(objects, t.audio, bucket, f"steps[{i}].tracks[{j}].audio")
            for j, t in enumerate(step.tracks)
        ]
    )
    tracks = [t.model_copy(update={"audio": a}) for t, a in zip(step.tracks, sounds, strict=True)]
    return step.model_copy(update={"tracks": tuple(tracks)})


async def _pin(objects: ObjectStore, obj: StepObject, bucket: str, where: str) -> StepObject:
    ref = S3ObjectRef(bucket=obj.bucket or bucket, key=obj.key, version_id=obj.version_id)
    try:
        info = await objects.head(ref)
    except FfapiError as exc:
        raise exc.at(where) from None
    if obj.etag and info.etag and obj.etag != info.etag and not obj.version_id:
        raise InputChanged(
            f"{where}: the object was overwritten since the request named it; the newer "
            "object is a job of its own"
        )
    return obj.model_copy(update={"etag": obj.etag or info.etag, "size": info.size})
