"""The step models of a version 2 request (core/steps/model.py, core/steps/outputs.py): each model's
bounds (the edge values taken, the ones past them refused), the rules a list obeys, the
folders output steps write to (the request around them: test_step_requests.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from core.models import JobRequest
from core.steps.model import MAX_CAPTION_CHARS, MAX_CONCAT_INPUTS, MAX_MIX_TRACKS, MAX_STEPS, Trim
from core.steps.outputs import MAX_AT, MAX_FRAMES, Step, step_folders, steps_problem

STEP: TypeAdapter[Any] = TypeAdapter(Step)
INPUT = {"bucket": "ffapi-input", "key": "library/talk.mp4"}
ENCODE = {"op": "encode", "preset": "mp4-480p"}
LOGO = {"key": "brand/logo.png"}


def step(**fields: Any) -> Any:
    return STEP.validate_python(fields)


def steps(*docs: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(step(**d) for d in docs)


ACCEPTED = [
    {"op": "trim", "start": 0.0, "end": 0.04},
    {"op": "trim", "start": 5},  # from 5 s to the end; ints are taken for seconds
    {"op": "trim", "duration": 86400.0},
    {"op": "trim", "start": 86400.0 - 1, "end": 86400.0, "mode": "keyframe"},
    {"op": "concat", "inputs": [{"key": f"clip-{i}.mp4"} for i in range(MAX_CONCAT_INPUTS)]},
    {"op": "concat", "inputs": [{"bucket": "other-bucket", "key": "a.mp4", "version_id": "v1"}]},
    {"op": "crop", "aspect": "9:16"},
    {"op": "crop", "aspect": "999:1"},
    {"op": "crop", "width": 16, "height": 8192, "x": 0, "y": 8192},
    {"op": "scale", "width": 16},
    {"op": "scale", "height": 7680},
    {"op": "scale", "width": 1280, "height": 720},
    {"op": "rotate", "degrees": 270},
    {"op": "flip", "direction": "vertical"},
    {"op": "fps", "fps": 1},
    {"op": "fps", "fps": 120.0},
    {"op": "speed", "factor": 0.25},
    {"op": "speed", "factor": 4},
    {"op": "overlay", "image": LOGO},
    {"op": "overlay", "image": LOGO, "x": 0, "y": 0, "width": 1.0, "opacity": 0.0},
    {"op": "overlay", "image": LOGO, "position": "center", "margin": 1000, "start": 1, "end": 2},
    {"op": "text", "text": "x"},
    {"op": "text", "text": "x" * MAX_CAPTION_CHARS, "size": 300, "color": "#ABCDEF12"},
    {"op": "text", "text": "%{pts}:'\\\n", "position": "top", "box": True, "size": 8},
    {"op": "encode", "preset": "web-hls", "name": "hls"},
    {"op": "frames", "every": 0.1},
    {"op": "frames", "every": 3600.0, "format": "webp", "width": 3840},
    {"op": "frames", "at": [0.0] * MAX_AT, "format": "png", "width": 16},
    {"op": "frames", "count": 1},
    {"op": "frames", "count": MAX_FRAMES},
    {"op": "preview"},
    {"op": "preview", "format": "webp", "duration": 30.0, "fps": 30, "width": 1280},
    {"op": "preview", "duration": 0.1, "fps": 1, "width": 16},
    {"op": "scenes", "threshold": 0.05, "thumbnails": False},
    {"op": "scenes", "threshold": 1.0, "width": 1920},
    {"op": "quality", "name": "scores"},
    {"op": "replace_audio", "audio": {"key": "music.mp3"}},
    {"op": "replace_audio", "audio": {"key": "m.wav"}, "gain_db": -60.0},
    {
        "op": "mix",
        "tracks": [{"audio": {"key": "m.mp3"}, "gain_db": 20, "delay": 86400, "duck": True}],
    },
    {"op": "mix", "tracks": [{"audio": {"key": f"t{i}.mp3"}} for i in range(MAX_MIX_TRACKS)]},
    {"op": "audio"},
    {"op": "audio", "format": "mp3", "bitrate_kbps": 8, "channels": 2, "sample_rate": 48000},
    {"op": "audio", "format": "opus", "bitrate_kbps": 512, "channels": 8, "sample_rate": 24000},
    {"op": "audio", "format": "flac", "channels": 1, "sample_rate": 96000},
    {"op": "audio", "format": "wav", "sample_rate": 8000},
]


@pytest.mark.parametrize("doc", ACCEPTED, ids=lambda d: str(d["op"]))
def test_edge_values_are_accepted(doc: dict[str, Any]) -> None:
    assert step(**doc).op == doc["op"]


REFUSED = [
    pytest.param(
        {"op": "trim", "start": 5, "end": 5}, "end must be after start", id="trim-end=start"
    ),
    pytest.param(
        {"op": "trim", "start": 5, "end": 2}, "end must be after start", id="trim-end<start"
    ),
    pytest.param({"op": "trim", "start": 1, "end": 3, "duration": 2}, "not both", id="trim-both"),
    pytest.param({"op": "trim"}, "start, end or duration", id="trim-nothing"),
    pytest.param({"op": "trim", "duration": 0}, "greater than 0", id="trim-duration-0"),
    pytest.param(
        {"op": "trim", "start": -1, "end": 2}, "greater than or equal", id="trim-negative"
    ),
    pytest.param({"op": "trim", "end": 86400.5}, "less than or equal", id="trim-past-a-day"),
    pytest.param({"op": "trim", "end": "5"}, "valid number", id="trim-string-number"),
    pytest.param(
        {"op": "trim", "end": 5, "mode": "fast"}, "'accurate' or 'keyframe'", id="trim-mode"
    ),
    pytest.param({"op": "concat", "inputs": []}, "at least 1", id="concat-empty"),
    pytest.param(
        {"op": "concat", "inputs": [{"key": "a.mp4"}] * (MAX_CONCAT_INPUTS + 1)},
        "at most 8",
        id="concat-too-many",
    ),
    pytest.param({"op": "concat", "inputs": [{"key": ""}]}, "at least 1", id="concat-empty-key"),
    pytest.param(
        {"op": "concat", "inputs": [{"bucket": "A_B", "key": "a"}]}, "pattern", id="concat-bucket"
    ),
    pytest.param(
        {"op": "crop", "aspect": "9:16", "width": 640}, "not both", id="crop-aspect+width"
    ),
    pytest.param({"op": "crop", "aspect": "9:16", "x": 10}, "not both", id="crop-aspect+x"),
    pytest.param({"op": "crop", "width": 640}, "width and height, or aspect", id="crop-width-only"),
    pytest.param({"op": "crop"}, "width and height, or aspect", id="crop-nothing"),
    pytest.param({"op": "crop", "aspect": "0:1"}, "pattern", id="crop-aspect-0"),
    pytest.param({"op": "crop", "aspect": "16/9"}, "pattern", id="crop-aspect-slash"),
    pytest.param(
        {"op": "crop", "width": 15, "height": 16}, "greater than or equal", id="crop-tiny"
    ),
    pytest.param({"op": "crop", "width": 8193, "height": 16}, "less than or equal", id="crop-16k"),
    pytest.param({"op": "scale"}, "width, height or both", id="scale-nothing"),
    pytest.param({"op": "scale", "width": 7681}, "less than or equal", id="scale-8k+"),
    pytest.param({"op": "rotate", "degrees": 45}, "90, 180 or 270", id="rotate-45"),
    pytest.param({"op": "flip", "direction": "diagonal"}, "horizontal", id="flip-diagonal"),
    pytest.param({"op": "fps", "fps": 0.5}, "greater than or equal to 1", id="fps-0.5"),
    pytest.param({"op": "fps", "fps": 1000}, "less than or equal to 120", id="fps-1000"),
    pytest.param({"op": "speed", "factor": 0.01}, "greater than or equal to 0.25", id="speed-0.01"),
    pytest.param({"op": "speed", "factor": 4.01}, "less than or equal to 4", id="speed-4.01"),
    pytest.param({"op": "overlay", "image": LOGO, "x": 10}, "both x and y", id="overlay-x-only"),
    pytest.param({"op": "overlay", "image": LOGO, "y": 10}, "both x and y", id="overlay-y-only"),
    pytest.param(
        {"op": "overlay", "image": LOGO, "width": 0}, "greater than 0", id="overlay-width-0"
    ),
    pytest.param(
        {"op": "overlay", "image": LOGO, "width": 1.5}, "less than or equal", id="overlay-wide"
    ),
    pytest.param(
        {"op": "overlay", "image": LOGO, "opacity": 2}, "less than or equal", id="overlay-opacity"
    ),
    pytest.param(
        {"op": "overlay", "image": LOGO, "start": 4, "end": 4}, "after start", id="overlay-span"
    ),
    pytest.param(
        {"op": "overlay", "image": LOGO, "x": 8193, "y": 0}, "less than or equal", id="overlay-16k"
    ),
    pytest.param({"op": "overlay"}, "Field required", id="overlay-no-image"),
    pytest.param({"op": "text", "text": ""}, "at least 1 character", id="text-empty"),
    pytest.param({"op": "text", "text": "x" * 2001}, "at most 2000", id="text-2001"),
    pytest.param({"op": "text", "text": "x", "size": 301}, "less than or equal", id="text-size"),
    pytest.param({"op": "text", "text": "x", "color": "red"}, "pattern", id="text-colour-name"),
    pytest.param({"op": "text", "text": "x", "start": 9, "end": 1}, "after start", id="text-span"),
    pytest.param(
        {"op": "text", "text": "x", "fontfile": "/etc/passwd"}, "Extra inputs", id="text-extra"
    ),
    pytest.param({"op": "encode", "preset": "Web HLS"}, "pattern", id="encode-preset-name"),
    pytest.param({"op": "encode", "preset": "web-hls", "name": "A b"}, "pattern", id="encode-name"),
    pytest.param({"op": "encode"}, "Field required", id="encode-no-preset"),
    pytest.param({"op": "frames"}, "exactly one of every, at or count", id="frames-none"),
    pytest.param({"op": "frames", "every": 1, "count": 5}, "exactly one", id="frames-every+count"),
    pytest.param({"op": "frames", "every": 1, "at": [1.0]}, "exactly one", id="frames-every+at"),
    pytest.param({"op": "frames", "at": [1.0], "count": 5}, "exactly one", id="frames-at+count"),
    pytest.param({"op": "frames", "every": 0.05}, "greater than or equal", id="frames-every-0.05"),
    pytest.param({"op": "frames", "count": 10000}, "less than or equal to 500", id="frames-10000"),
    pytest.param({"op": "frames", "count": 0}, "greater than or equal to 1", id="frames-count-0"),
    pytest.param({"op": "frames", "at": []}, "at least 1", id="frames-at-empty"),
    pytest.param({"op": "frames", "at": [1.0] * (MAX_AT + 1)}, "at most 100", id="frames-at-101"),
    pytest.param(
        {"op": "frames", "count": 2, "format": "gif"}, "'jpg', 'png' or 'webp'", id="frames-gif"
    ),
    pytest.param(
        {"op": "preview", "duration": 30.5}, "less than or equal to 30", id="preview-30.5"
    ),
    pytest.param({"op": "preview", "duration": 0}, "greater than 0", id="preview-0"),
    pytest.param({"op": "preview", "fps": 31}, "less than or equal to 30", id="preview-fps"),
    pytest.param({"op": "preview", "width": 1281}, "less than or equal", id="preview-width"),
    pytest.param({"op": "preview", "format": "apng"}, "'gif' or 'webp'", id="preview-apng"),
    pytest.param({"op": "scenes", "threshold": 0.01}, "greater than or equal", id="scenes-low"),
    pytest.param({"op": "scenes", "threshold": 1.5}, "less than or equal", id="scenes-high"),
    pytest.param({"op": "quality", "vmaf": True}, "Extra inputs", id="quality-extra"),
    pytest.param(
        {"op": "audio", "format": "flac", "bitrate_kbps": 500}, "lossless", id="audio-flac-rate"
    ),
    pytest.param({"op": "audio", "format": "mp3", "channels": 6}, "at most 2", id="audio-mp3-5.1"),
    pytest.param(
        {"op": "audio", "format": "mp3", "sample_rate": 96000}, "up to 48000", id="audio-mp3-96k"
    ),
    pytest.param(
        {"op": "audio", "format": "opus", "sample_rate": 44100}, "Opus takes", id="audio-opus-44k"
    ),
    pytest.param({"op": "audio", "sample_rate": 44000}, "44100", id="audio-rate-44000"),
    pytest.param({"op": "audio", "bitrate_kbps": 4}, "greater than or equal", id="audio-4k"),
    pytest.param({"op": "audio", "channels": 9}, "less than or equal to 8", id="audio-9ch"),
    pytest.param({"op": "audio", "format": "aiff"}, "'mp3'", id="audio-aiff"),
    pytest.param({"op": "replace_audio"}, "Field required", id="replace-no-audio"),
    pytest.param(
        {"op": "replace_audio", "audio": {"key": "m.mp3"}, "gain_db": 21},
        "less than or equal",
        id="replace-gain",
    ),
    pytest.param({"op": "mix", "tracks": []}, "at least 1", id="mix-empty"),
    pytest.param(
        {"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}}] * (MAX_MIX_TRACKS + 1)},
        "at most 8",
        id="mix-9",
    ),
    pytest.param(
        {"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}, "delay": -1}]},
        "greater than or equal",
        id="mix-delay",
    ),
    pytest.param(
        {"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}, "duck": "yes"}]},
        "boolean",
        id="mix-duck-text",
    ),
    pytest.param(
        {"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}, "volume": 2}]},
        "Extra inputs",
        id="mix-extra",
    ),
    pytest.param({"op": "transcode"}, "does not match any of the expected tags", id="unknown-op"),
    pytest.param({"preset": "web-hls"}, "Unable to extract tag", id="no-op"),
]


@pytest.mark.parametrize(("doc", "reason"), REFUSED)
def test_values_past_the_bounds_are_refused(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        step(**doc)
    assert reason in str(info.value)


def test_trim_stop_is_end_or_start_plus_duration() -> None:
    assert Trim(op="trim", start=2.0, end=7.0).stop == 7.0
    assert Trim(op="trim", start=2.0, duration=3.0).stop == 5.0
    assert Trim(op="trim", start=2.0).stop is None


def test_steps_are_frozen() -> None:
    trim = step(op="trim", start=1.0, end=2.0)
    with pytest.raises(ValidationError):
        trim.end = 9.0


# --- the rules a list obeys (steps_problem) --------------------------------------------------


@pytest.mark.parametrize(
    ("docs", "problem"),
    [
        pytest.param(
            [{"op": "trim", "start": 1, "end": 2}, {"op": "scale", "width": 640}],
            "at least one output step",
            id="no-output",
        ),
        pytest.param(
            [ENCODE, {"op": "crop", "aspect": "1:1"}],
            "steps[1] (crop): transforms come before every output step",
            id="transform-after-output",
        ),
        pytest.param(
            [{"op": "frames", "count": 3}, ENCODE, {"op": "text", "text": "late"}],
            "steps[2] (text)",
            id="transform-after-two-outputs",
        ),
        pytest.param(
            [{"op": "frames", "count": 3}, {"op": "quality"}],
            "quality compares what encode steps make",
            id="quality-without-encode",
        ),
        pytest.param(
            [ENCODE, {"op": "frames", "count": 3, "name": "encode"}],
            "the same name",
            id="duplicate-names",
        ),
        pytest.param(
            [{"op": "encode", "preset": "web-hls", "name": "encode-2"}, ENCODE, ENCODE],
            "the same name",
            id="name-equals-a-numbered-folder",
        ),
    ],
)
def test_a_list_that_cannot_run_is_refused(docs: list[dict[str, Any]], problem: str) -> None:
    assert problem in (steps_problem(steps(*docs)) or "")
    with pytest.raises(ValidationError) as info:
        JobRequest.model_validate({"version": 2, "input": INPUT, "steps": docs})
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "docs",
    [
        [ENCODE],
        [{"op": "scenes"}],
        [{"op": "trim", "start": 1, "end": 2}, {"op": "frames", "count": 3}, ENCODE],
        [ENCODE, {"op": "quality"}],
        [{"op": "quality"}, ENCODE],  # quality may be listed before the encodes it compares
    ],
)
def test_a_list_that_can_run_has_no_problem(docs: list[dict[str, Any]]) -> None:
    assert steps_problem(steps(*docs)) is None


def test_a_list_is_bounded() -> None:
    JobRequest.model_validate(
        {
            "version": 2,
            "input": INPUT,
            "steps": [ENCODE] * 1
            + [{"op": "frames", "count": 1, "name": f"f{i}"} for i in range(MAX_STEPS - 1)],
        }
    )
    with pytest.raises(ValidationError, match="at most 32"):
        JobRequest.model_validate(
            {"version": 2, "input": INPUT, "steps": [{"op": "frames", "count": 1}] * 33}
        )
    with pytest.raises(ValidationError, match="at least 1"):
        JobRequest.model_validate({"version": 2, "input": INPUT, "steps": []})


# --- folders ---------------------------------------------------------------------------------


def test_output_folders_are_the_op_numbered_from_the_second() -> None:
    listed = steps(
        {"op": "trim", "start": 1, "end": 9},
        ENCODE,
        {"op": "encode", "preset": "web-hls"},
        {"op": "frames", "count": 4},
        {"op": "encode", "preset": "mp4-720p", "name": "social"},
        {"op": "encode", "preset": "audio-only"},
        {"op": "preview", "format": "webp"},
    )
    assert step_folders(listed) == {
        1: "encode",
        2: "encode-2",
        3: "frames",
        4: "social",
        5: "encode-4",  # the fourth encode: a named one still counts
        6: "preview",
    }
