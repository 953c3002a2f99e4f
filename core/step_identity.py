"""The objects a request's steps name, pinned before the job is claimed.

Each is HEADed once, as the input is (:meth:`core.dispatch.Dispatcher._resolve_identity`):
a missing one fails the job at once, naming the step (``steps[1].image: ...``), and its ETag
goes into the request. So an overlay replaced under the same key makes a job of its own (the
ETags are part of the steps, and so of the job id), and the worker downloads exactly the
object seen here (If-Match), or fails as ``input_changed``.
"""

from __future__ import annotations

from core.errors import FfapiError, InputChanged
from core.models import JobRequest, S3ObjectRef
from core.ports import ObjectStore
from core.steps import Concat, Mix, Overlay, ReplaceAudio, StepObject, Subtitles


async def pin_step_objects(objects: ObjectStore, request: JobRequest) -> JobRequest:
    if not request.steps:
        return request
    bucket = request.input.bucket
    pinned: list[object] = []
    for i, step in enumerate(request.steps):
        if isinstance(step, Overlay):
            image = await _pin(objects, step.image, bucket, f"steps[{i}].image")
            step = step.model_copy(update={"image": image})
        elif isinstance(step, Concat):
            inputs = [
                await _pin(objects, clip, bucket, f"steps[{i}].inputs[{j}]")
                for j, clip in enumerate(step.inputs)
            ]
            step = step.model_copy(update={"inputs": tuple(inputs)})
        elif isinstance(step, ReplaceAudio | Mix):
            step = await _pin_sound(objects, step, bucket, i)
        elif isinstance(step, Subtitles) and step.source is not None:
            source = await _pin(objects, step.source, bucket, f"steps[{i}].source")
            step = step.model_copy(update={"source": source})
        pinned.append(step)
    return request.model_copy(update={"steps": tuple(pinned)})


async def _pin_sound(
    objects: ObjectStore, step: ReplaceAudio | Mix, bucket: str, i: int
) -> ReplaceAudio | Mix:
    if isinstance(step, ReplaceAudio):
        audio = await _pin(objects, step.audio, bucket, f"steps[{i}].audio")
        return step.model_copy(update={"audio": audio})
    tracks = [
        t.model_copy(update={"audio": await _pin(objects, t.audio, bucket,
                                                  f"steps[{i}].tracks[{j}].audio")})
        for j, t in enumerate(step.tracks)
    ]  # fmt: skip
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
