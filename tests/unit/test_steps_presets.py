"""Saved steps presets: a user presets file adds a named list of steps (`kind = "steps"`)
over the shipped catalog; a request naming it resolves with its encode presets pinned, and
the job's identity follows what the steps and those presets make."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidMessage
from core.jobs.results import derive_job_id, resolve_preset
from core.models import STEPS_PRESET, JobRequest, OutputLocation
from core.presets import (
    Mp4Preset,
    PresetCatalog,
    PresetFileError,
    StepsPreset,
    builtin_catalog,
    parse_catalog,
)

SOCIAL_CLIP = """
[presets.social-clip]
kind = "steps"
steps = [
  { op = "trim", start = 0.0, duration = 30.0 },
  { op = "crop", aspect = "9:16" },
  { op = "text", text = "Watch the full talk", position = "top", box = true },
  { op = "encode", preset = "mp4-720p" },
]
"""
INPUT = {"bucket": "ffapi-input", "key": "library/talk.mp4"}
OUTPUT = OutputLocation(bucket="ffapi-output", prefix="outputs")


def catalog(text: str = SOCIAL_CLIP, base: PresetCatalog | None = None) -> PresetCatalog:
    return parse_catalog(text, base if base is not None else builtin_catalog())


def request(**fields: Any) -> JobRequest:
    return JobRequest.model_validate({"version": 2, "input": INPUT, **fields})


def test_a_user_file_adds_a_steps_preset_over_the_builtin_catalog() -> None:
    user = catalog()
    preset = user.get("social-clip")
    assert isinstance(preset, StepsPreset)
    assert preset.name == "social-clip"
    assert [s.op for s in preset.steps] == ["trim", "crop", "text", "encode"]
    assert preset.encodes == {}  # pinned when a job resolves it, not when the file is read
    assert set(builtin_catalog().presets) < set(user.presets)
    assert user.default == builtin_catalog().default


def test_a_request_naming_it_resolves_with_its_encodes_pinned() -> None:
    user = catalog()
    spec = resolve_preset(user, request(preset="social-clip"))
    assert isinstance(spec, StepsPreset)
    assert spec.name == "social-clip"
    assert spec.encodes == {"mp4-720p": user.get("mp4-720p")}
    assert isinstance(spec.encodes["mp4-720p"], Mp4Preset)


def test_a_requests_own_steps_run_as_the_steps_preset() -> None:
    steps = [{"op": "trim", "start": 1.0, "end": 4.0}, {"op": "encode", "preset": "web-hls"}]
    spec = resolve_preset(builtin_catalog(), request(steps=steps))
    assert isinstance(spec, StepsPreset)
    assert spec.name == STEPS_PRESET
    assert set(spec.encodes) == {"web-hls"}


def test_the_spec_hash_follows_the_encode_preset() -> None:
    before = resolve_preset(catalog(), request(preset="social-clip"))
    sharper = catalog('[presets.mp4-720p]\nkind = "mp4"\nmax_height = 720\ncrf = 20\n', catalog())
    after = resolve_preset(sharper, request(preset="social-clip"))
    assert before.spec_hash() != after.spec_hash()
    same = resolve_preset(catalog(), request(preset="social-clip"))
    assert before.spec_hash() == same.spec_hash()
    job = request(preset="social-clip", output=OUTPUT.model_dump())
    assert derive_job_id(job, before) != derive_job_id(job, after)


def test_an_unknown_encode_preset_is_refused_naming_the_step() -> None:
    user = catalog(SOCIAL_CLIP.replace('preset = "mp4-720p"', 'preset = "mp4-9000p"'))
    with pytest.raises(InvalidMessage) as info:
        resolve_preset(user, request(preset="social-clip"))
    assert info.value.code == "invalid_request"
    assert "steps[3].preset" in str(info.value)
    assert "mp4-9000p" in str(info.value)  # a name from our own presets file, not a message


def test_a_steps_preset_naming_another_steps_preset_is_refused() -> None:
    nested = (
        SOCIAL_CLIP
        + """
[presets.social-twice]
kind = "steps"
steps = [{ op = "scale", width = 720 }, { op = "encode", preset = "social-clip" }]
"""
    )
    with pytest.raises(InvalidMessage) as info:
        resolve_preset(catalog(nested), request(preset="social-twice"))
    assert info.value.code == "invalid_request"
    assert "steps[1].preset" in str(info.value)
    assert "list of steps" in str(info.value)


def test_a_request_step_naming_a_steps_preset_is_refused() -> None:
    with pytest.raises(InvalidMessage, match=r"steps\[0\]\.preset"):
        resolve_preset(catalog(), request(steps=[{"op": "encode", "preset": "social-clip"}]))


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ('[{ op = "trim", start = 1.0 }]', "at least one output step"),
        (
            '[{ op = "encode", preset = "web-hls" }, { op = "flip", direction = "vertical" }]',
            "transforms come before every output step",
        ),
        ('[{ op = "speed", factor = 0.01 }, { op = "encode", preset = "web-hls" }]', "0.25"),
        ('[{ op = "encode", preset = "web-hls", crf = 18 }]', "Extra inputs"),
        ("[]", "at least 1"),
    ],
)
def test_a_presets_file_with_an_unusable_steps_preset_is_refused(steps: str, reason: str) -> None:
    with pytest.raises(PresetFileError, match=reason):
        catalog(f'[presets.broken]\nkind = "steps"\nsteps = {steps}\n')


def test_a_request_naming_a_steps_preset_cannot_replace_a_ladder() -> None:
    # a ladder replaces a streaming preset's own; a list of steps has none
    rung = {
        "name": "360p",
        "short_side": 360,
        "video_kbps": 800,
        "maxrate_kbps": 900,
        "bufsize_kbps": 1600,
    }
    with pytest.raises(InvalidMessage, match="no ladder to replace"):
        resolve_preset(catalog(), request(preset="social-clip", ladder=[rung]))


def test_two_step_lists_on_the_same_input_are_two_jobs() -> None:
    def job_id(steps: list[dict[str, Any]]) -> str:
        job = request(steps=steps, output=OUTPUT.model_dump())
        return derive_job_id(job, resolve_preset(builtin_catalog(), job))

    encode = {"op": "encode", "preset": "mp4-480p"}
    first = job_id([{"op": "trim", "start": 1.0, "end": 5.0}, encode])
    assert first == job_id([{"op": "trim", "start": 1.0, "end": 5.0}, encode])
    assert first != job_id([{"op": "trim", "start": 1.0, "end": 6.0}, encode])
    assert first != job_id([{"op": "trim", "start": 1.0, "end": 5.0}, {"op": "frames", "count": 3}])


def test_a_steps_request_and_its_saved_twin_are_the_same_work_but_not_the_same_name() -> None:
    # the name is part of what the spec hash covers: a saved pipeline is its own job
    saved = catalog().get("social-clip")
    assert isinstance(saved, StepsPreset)
    own = resolve_preset(catalog(), request(steps=[s.model_dump() for s in saved.steps]))
    named = resolve_preset(catalog(), request(preset="social-clip"))
    assert isinstance(own, StepsPreset)
    assert isinstance(named, StepsPreset)
    assert own.steps == named.steps
    assert own.encodes == named.encodes
    assert own.spec_hash() != named.spec_hash()
