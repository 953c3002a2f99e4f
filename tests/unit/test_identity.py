"""core.jobs.identity: the objects a request's steps name, pinned before the claim."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from core.errors import InputChanged, InputNotFound
from core.jobs.identity import pin_request, pin_step_objects
from core.jobs.results import derive_job_id, resolve_preset
from core.models import JobRequest, S3ObjectRef
from core.ports import ObjectInfo, ObjectStore
from core.presets import builtin_catalog
from core.steps.model import Mix


class Heads:
    def __init__(self, etags: dict[str, str]) -> None:
        self.etags = etags

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        if ref.key not in self.etags:
            raise InputNotFound("the object does not exist")
        return ObjectInfo(size=len(ref.key) * 1000, etag=self.etags[ref.key], version_id=None)


def request(**image: Any) -> JobRequest:
    return JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "in.mp4", "etag": "e0"},
            "steps": [
                {"op": "concat", "inputs": [{"key": "outro.mp4"}]},
                {"op": "overlay", "image": {"key": "logo.png", **image}},
                {"op": "encode", "preset": "mp4-480p"},
            ],
        }
    )


def pin(heads: Heads, req: JobRequest) -> JobRequest:
    return asyncio.run(pin_step_objects(cast(ObjectStore, heads), req))


def job_id(req: JobRequest) -> str:
    return derive_job_id(req, resolve_preset(builtin_catalog(), req))


def test_every_object_is_pinned_with_its_etag() -> None:
    pinned = pin(Heads({"outro.mp4": "o1", "logo.png": "l1"}), request())
    assert [ref.etag for _, ref in pinned.step_objects()] == ["o1", "l1"]


def test_the_job_counts_the_bytes_of_every_object_it_downloads() -> None:
    req = request()
    sized = req.model_copy(update={"input": req.input.model_copy(update={"size": 7})})
    pinned = pin(Heads({"outro.mp4": "o1", "logo.png": "l1"}), sized)
    assert [ref.size for _, ref in pinned.step_objects()] == [9000, 8000]
    assert pinned.job_bytes() == 7 + 9000 + 8000
    assert req.job_bytes() is None  # the input not HEADed yet: nothing to reserve by


def test_a_replaced_logo_is_a_job_of_its_own() -> None:
    first = pin(Heads({"outro.mp4": "o1", "logo.png": "l1"}), request())
    again = pin(Heads({"outro.mp4": "o1", "logo.png": "l1"}), request())
    replaced = pin(Heads({"outro.mp4": "o1", "logo.png": "l2"}), request())
    assert job_id(first) == job_id(again)
    assert job_id(first) != job_id(replaced)


def test_a_missing_object_is_named() -> None:
    with pytest.raises(InputNotFound) as missing:
        pin(Heads({"outro.mp4": "o1"}), request())
    assert missing.value.message == "steps[1].image: the object does not exist"


def test_an_object_overwritten_since_the_request_named_it_is_refused() -> None:
    with pytest.raises(InputChanged) as changed:
        pin(Heads({"outro.mp4": "o1", "logo.png": "l2"}), request(etag="l1"))
    assert changed.value.message.startswith("steps[1].image: ")
    assert not changed.value.retryable


def test_a_preset_request_is_left_as_it_is() -> None:
    plain = JobRequest(input=S3ObjectRef(bucket="ffapi-input", key="in.mp4"), preset="web-hls")
    assert pin(Heads({}), plain) is plain


def test_the_sounds_a_job_mixes_are_pinned_too() -> None:
    req = JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "in.mp4"},
            "steps": [
                {"op": "replace_audio", "audio": {"key": "song.mp3"}},
                {"op": "mix", "tracks": [{"audio": {"key": "sfx.wav"}, "duck": True}]},
                {"op": "encode", "preset": "mp4-480p"},
            ],
        }
    )
    pinned = pin(Heads({"song.mp3": "s1", "sfx.wav": "x1"}), req)
    assert [ref.etag for _, ref in pinned.step_objects()] == ["s1", "x1"]
    assert pinned.steps is not None
    mix = pinned.steps[1]
    assert isinstance(mix, Mix)
    assert mix.tracks[0].duck  # the rest of the track as it was
    with pytest.raises(InputNotFound) as missing:
        pin(Heads({"song.mp3": "s1"}), req)
    assert missing.value.message == "steps[1].tracks[0].audio: the object does not exist"


class SlowHeads(Heads):
    """HEADs that take a while, counted as they overlap."""

    def __init__(self, etags: dict[str, str]) -> None:
        super().__init__(etags)
        self.active = self.peak = 0

    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0.01 if ref.key != "in.mp4" else 0.02)
            return await super().head(ref)
        finally:
            self.active -= 1


def concat_of(*keys: str) -> JobRequest:
    return JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "in.mp4"},
            "steps": [
                {"op": "concat", "inputs": [{"key": k} for k in keys]},
                {"op": "encode", "preset": "mp4-480p"},
            ],
        }
    )


def test_the_input_and_every_object_are_headed_at_once() -> None:
    keys = [f"clip-{n}.mp4" for n in range(6)]
    heads = SlowHeads({"in.mp4": "e0", **{k: k for k in keys}})
    catalog = builtin_catalog()
    req = concat_of(*keys)
    pinned, _ = asyncio.run(
        pin_request(cast(ObjectStore, heads), catalog, req, resolve_preset(catalog, req))
    )
    assert heads.peak == 7  # the input and the six clips
    assert pinned.input.etag == "e0"
    assert [ref.etag for _, ref in pinned.step_objects()] == keys


def test_of_several_missing_objects_the_first_in_the_request_is_named() -> None:
    """The HEADs overlap, and the later ones fail first here: the error still names the
    first missing object, as one HEAD after another would."""

    class LaterFailsFirst(Heads):
        async def head(self, ref: S3ObjectRef) -> ObjectInfo:
            await asyncio.sleep(0.02 if ref.key == "clip-1.mp4" else 0.0)
            return await super().head(ref)

    with pytest.raises(InputNotFound) as info:
        pin(
            LaterFailsFirst({"in.mp4": "e0", "clip-0.mp4": "c0"}),
            concat_of("clip-0.mp4", "clip-1.mp4", "clip-2.mp4"),
        )
    assert info.value.message.startswith("steps[0].inputs[1]")
