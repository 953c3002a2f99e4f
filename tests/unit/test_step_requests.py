"""A version 2 request around its steps: the objects steps name (in the input's bucket unless
they say otherwise), ``preset`` and ``steps`` not both, and version 1 left as it was."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.models import STEPS_PRESET, JobRequest, S3ObjectRef

INPUT = {"bucket": "ffapi-input", "key": "library/talk.mp4"}
ENCODE = {"op": "encode", "preset": "mp4-480p"}
LOGO = {"key": "brand/logo.png"}


def test_step_objects_default_to_the_inputs_bucket() -> None:
    request = JobRequest.model_validate(
        {
            "version": 2,
            "input": INPUT,
            "steps": [
                {"op": "concat", "inputs": [{"key": "a.mp4"}, {"bucket": "clips", "key": "b.mp4"}]},
                {"op": "overlay", "image": {"key": "logo.png", "version_id": "v7"}},
                {"op": "replace_audio", "audio": {"key": "song.mp3"}},
                {
                    "op": "mix",
                    "tracks": [
                        {"audio": {"key": "a.wav"}},
                        {"audio": {"bucket": "sfx", "key": "b.wav"}},
                    ],
                },
                ENCODE,
            ],
        }
    )
    assert request.step_objects() == (
        ("steps[0].inputs[0]", S3ObjectRef(bucket="ffapi-input", key="a.mp4")),
        ("steps[0].inputs[1]", S3ObjectRef(bucket="clips", key="b.mp4")),
        ("steps[1].image", S3ObjectRef(bucket="ffapi-input", key="logo.png", version_id="v7")),
        ("steps[2].audio", S3ObjectRef(bucket="ffapi-input", key="song.mp3")),
        ("steps[3].tracks[0].audio", S3ObjectRef(bucket="ffapi-input", key="a.wav")),
        ("steps[3].tracks[1].audio", S3ObjectRef(bucket="sfx", key="b.wav")),
    )
    assert request.preset_name == STEPS_PRESET


def test_a_preset_request_names_no_objects() -> None:
    request = JobRequest.model_validate({"version": 2, "input": INPUT, "preset": "web-hls"})
    assert request.step_objects() == ()
    assert request.preset_name == "web-hls"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"version": 1}, "steps need version 2"),
        ({"preset": "web-hls"}, "give preset or steps, not both"),
        (
            {
                "ladder": [
                    {
                        "name": "360p",
                        "short_side": 360,
                        "video_kbps": 800,
                        "maxrate_kbps": 900,
                        "bufsize_kbps": 1600,
                    }
                ]
            },
            "not both",
        ),
    ],
)
def test_steps_with_a_preset_or_in_version_1_are_refused(
    extra: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        JobRequest.model_validate({"version": 2, "input": INPUT, "steps": [ENCODE], **extra})


V1 = {
    "version": 1,
    "input": {**INPUT, "etag": "abc", "size": 10, "version_id": "v1"},
    "preset": "mp4-480p",
    "output": {"bucket": "ffapi-output", "prefix": "outputs/renditions"},
    "correlation_id": "order-4711",
    "idempotency_key": "k-1",
    "metadata": {"tenant": "acme"},
}


def test_a_version_1_request_parses_as_before() -> None:
    request = JobRequest.model_validate(V1)
    assert request.model_dump(exclude_unset=True, mode="json") == V1
    assert request.steps is None
    assert request.preset_name == "mp4-480p"
    assert request.step_objects() == ()
    assert JobRequest.model_validate({"input": INPUT}).version == 1


def test_a_version_1_request_dumps_steps_as_none() -> None:
    # what a stored v1 request round-trips through: steps stays None, nothing else is added
    dumped = JobRequest.model_validate(V1).model_dump(mode="json")
    assert dumped["steps"] is None
    assert JobRequest.model_validate(dumped) == JobRequest.model_validate(V1)
