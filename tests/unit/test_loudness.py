"""core.steps.loudness and its measuring pass, planned: figures read from captured ffmpeg logs,
the linear-or-dynamic rule, the filters and the refusals, without running ffmpeg."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import InvalidMessage, TranscodeFailed
from core.media.hardening import SOURCE_GUARD
from core.media.plan import LOGGED_FLAGS
from core.presets import (
    AudioRendition,
    LoudnessTarget,
    StepsPreset,
    StreamingPreset,
    builtin_catalog,
)
from core.steps.compile import compile_steps
from core.steps.loudness import LoudnessMeasure, loudness_report, normalize, parse_loudnorm
from core.steps.loudness_pass import plan_measure
from core.steps.model import Loudness, Trim
from core.steps.outputs import Encode, steps_problem
from core.streaming.renditions import plan_streaming
from tests.step_docs import StepDocs
from tests.unit.sample_bodies import rejected
from tests.unit.test_compile import ATTACHED, OUT, PROBE, SOURCE, steps

# The tail of ffmpeg 5.1's log for `loudnorm=...:print_format=json` at -loglevel info.
LOG = """\
size=N/A time=00:00:04.01 bitrate=N/A speed=26.6x
video:0kB audio:1504kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown
[Parsed_loudnorm_0 @ 0x559a6e586200] 
{
\t"input_i" : "-41.81",
\t"input_tp" : "-37.27",
\t"input_lra" : "0.10",
\t"input_thresh" : "-51.81",
\t"output_i" : "-16.00",
\t"output_tp" : "-11.48",
\t"output_lra" : "0.10",
\t"output_thresh" : "-26.00",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.00"
}
"""  # noqa: W291 (ffmpeg's own trailing space)
STEP = Loudness(op="loudness", target_lufs=-16, true_peak_db=-1.5, lra=11)


def measured(**changed: Any) -> LoudnessMeasure:
    return replace(parse_loudnorm(LOG), **changed)


def test_the_figures_are_read_from_the_log() -> None:
    got = parse_loudnorm("Input #0, mov ...\n" + LOG)
    assert (got.input_i, got.input_tp, got.input_lra, got.input_thresh) == (
        -41.81,
        -37.27,
        0.10,
        -51.81,
    )
    assert (got.output_i, got.output_tp, got.kind, got.target_offset) == (
        -16.0,
        -11.48,
        "dynamic",
        0.0,
    )


def test_silence_reads_as_minus_infinity() -> None:
    silent = parse_loudnorm(LOG.replace('"-41.81"', '"-inf"').replace('"-37.27"', '"-inf"'))
    assert silent.input_i == float("-inf")
    assert normalize(STEP, silent) == []
    report = loudness_report(STEP, silent, None)
    assert report.mode == "unchanged"
    assert report.input.integrated_lufs is None
    assert report.output is None


@pytest.mark.parametrize("log", ["", "no figures here", LOG.replace('"input_tp"', '"x"')])
def test_a_log_without_figures_fails_the_pass(log: str) -> None:
    with pytest.raises(TranscodeFailed):
        parse_loudnorm(log)


def test_a_gain_that_keeps_the_peak_under_the_limit_is_linear() -> None:
    (filt, resample) = normalize(STEP, measured())
    assert filt == (
        "loudnorm=I=-16.00:TP=-1.50:LRA=11.00:measured_I=-41.81:measured_TP=-37.27:"
        "measured_LRA=0.10:measured_thresh=-51.81:offset=0.00:linear=true:print_format=json"
    )
    assert resample == "aresample=48000"


def test_a_range_wider_than_the_target_is_kept_in_linear_mode() -> None:
    """A gain does not change the range: the target is widened so that ffmpeg stays linear."""
    (filt, _) = normalize(STEP, measured(input_lra=14.37))
    assert "LRA=14.37:" in filt
    assert "measured_LRA=14.37:" in filt


def test_a_gain_past_the_true_peak_limit_leaves_the_range_target_as_asked() -> None:
    # -41.81 -> -16 is +25.81 dB: a peak at -26 would reach -0.19 dBTP, past -1.5
    (filt, _) = normalize(STEP, measured(input_tp=-26.0, input_lra=14.37))
    assert filt.startswith("loudnorm=I=-16.00:TP=-1.50:LRA=11.00:measured_I=-41.81:")


def test_the_report_takes_the_mode_and_the_output_from_the_normalizer() -> None:
    made = measured(output_i=-16.02, output_tp=-11.5, output_lra=0.1, kind="linear")
    report = loudness_report(STEP, measured(), made)
    assert report.mode == "linear"
    assert report.gain_db == 25.81
    assert report.input.integrated_lufs == -41.81
    assert report.output is not None
    assert report.output.integrated_lufs == -16.02
    dynamic = loudness_report(STEP, measured(), replace(made, kind="dynamic"))
    assert dynamic.mode == "dynamic"
    assert dynamic.gain_db is None


def test_measure_mode_changes_nothing() -> None:
    step = Loudness(op="loudness", mode="measure")
    assert normalize(step, measured()) == []
    report = loudness_report(step, measured(), None)
    assert (report.mode, report.output, report.target_lufs) == ("measure", None, -23.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_lufs", -71),
        ("target_lufs", -4),
        ("true_peak_db", 0.5),
        ("true_peak_db", -10),
        ("lra", 0.5),
        ("lra", 51),
        ("mode", "louder"),
    ],
)
def test_values_past_the_bounds_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Loudness.model_validate({"op": "loudness", field: value})
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("target_lufs", -80, "greater than or equal to -70"),
        ("target_lufs", -2, "less than or equal to -5"),
        ("true_peak_db", 1, "less than or equal to 0"),
        ("true_peak_db", -12, "greater than or equal to -9"),
        ("lra", 60, "less than or equal to 50"),
        ("lra", 0, "greater than or equal to 1"),
    ],
)
def test_a_request_past_the_bounds_is_refused_naming_the_step_and_field(
    field: str, value: float, reason: str
) -> None:
    body = json.dumps(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "in.mp4"},
            "steps": [
                {"op": "trim", "start": 1.0},
                {"op": "loudness", field: value},
                {"op": "encode", "preset": "mp4-480p"},
            ],
        }
    )
    refusal = rejected(body)
    assert refusal.code == "invalid_request"
    assert f"steps[1] (loudness).{field}: Input should be {reason}" in refusal.message


def test_one_loudness_step_a_job() -> None:
    listed = steps([{"op": "loudness"}, {"op": "encode", "preset": "mp4-480p"}]).steps
    assert steps_problem(listed) is None
    twice = (listed[0], *listed)
    assert steps_problem(twice) == (
        "steps: one loudness step a job (it measures and sets the whole sound)"
    )


def test_the_measuring_pass_reads_the_sound_alone_after_the_steps_before_it() -> None:
    listed: StepDocs = [
        {"op": "trim", "start": 2.0, "end": 8.0},
        {"op": "scale", "width": 640},
        {"op": "speed", "factor": 2.0},
        {"op": "loudness"},
        {"op": "encode", "preset": "mp4-480p"},
    ]
    measuring = plan_measure(steps(listed), PROBE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert measuring is not None
    assert measuring.index == 3
    assert measuring.duration == pytest.approx(3.0)
    argv = " ".join(measuring.argv)
    assert "-ss 2.000 -t 6.000" in argv  # the trim seeks
    assert "atempo=2" in argv
    assert "[0:0]" not in argv  # no picture decoded: the scale is passed over
    assert "scale=" not in argv
    # a named instance: its figures are found by its name (the input's first track's)
    assert "loudnorm@t0=I=-23.00:TP=-1.00:LRA=11.00:print_format=json[loud0]" in argv
    assert measuring.argv[-4:] == ("[loud0]", "-f", "null", "-")
    assert measuring.tracks == (0,)
    assert "-loglevel info" in argv


def test_no_measuring_pass_without_a_loudness_step() -> None:
    listed = [{"op": "encode", "preset": "mp4-480p"}]
    assert plan_measure(steps(listed), PROBE, SOURCE, ATTACHED, SOURCE_GUARD) is None


def test_a_loudness_step_without_sound_is_refused_by_its_name() -> None:
    mute = replace(PROBE, audio=None, streams=PROBE.streams[:1])
    listed = [
        {"op": "crop", "aspect": "1:1"},
        {"op": "loudness"},
        {"op": "encode", "preset": "mp4-480p"},
    ]
    with pytest.raises(InvalidMessage) as info:
        plan_measure(steps(listed), mute, SOURCE, ATTACHED, SOURCE_GUARD)
    assert info.value.message == "steps[1] (loudness): the input has no sound to measure"


def test_the_main_pass_normalizes_and_prints_its_figures_once_measured() -> None:
    listed = steps([{"op": "loudness", "target_lufs": -16}, {"op": "encode", "preset": "mp4-480p"}])
    unmeasured = compile_steps(listed, PROBE, SOURCE, OUT, ATTACHED)
    assert not unmeasured.logged  # `ffapi plan`: loudnorm's one-pass form, at error level
    graph = unmeasured.main.argv[unmeasured.main.argv.index("-filter_complex") + 1]
    assert "loudnorm@step=I=-16.00:TP=-1.00:LRA=11.00,aresample=48000,aformat" in graph
    done = compile_steps(listed, PROBE, SOURCE, OUT, ATTACHED, loudness={0: measured()})
    assert done.logged
    assert done.main.argv[1:7] == LOGGED_FLAGS
    graph = done.main.argv[done.main.argv.index("-filter_complex") + 1]
    assert "measured_I=-41.81" in graph
    assert "linear=true:print_format=json,aresample=48000,aformat" in graph


def test_measure_mode_leaves_the_main_pass_as_it_was() -> None:
    listed = steps([{"op": "loudness", "mode": "measure"}, {"op": "encode", "preset": "mp4-480p"}])
    done = compile_steps(listed, PROBE, SOURCE, OUT, ATTACHED, loudness={0: measured()})
    assert not done.logged
    graph = done.main.argv[done.main.argv.index("-filter_complex") + 1]
    assert "[0:1]aresample=48000,aformat=channel_layouts=stereo[amain]" in graph
    assert "loudnorm" not in graph


def test_a_ladder_normalizes_once_before_its_audio_renditions_split() -> None:
    web = builtin_catalog().presets["web-hls"]
    assert isinstance(web, StreamingPreset)
    two = web.model_copy(update={"audio": (AudioRendition(name="a"), AudioRendition(name="b"))})
    normalizer = tuple(normalize(STEP, measured(), "t0"))
    plan = plan_streaming(two, PROBE, SOURCE, OUT, loudness={0: normalizer})
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    assert graph.count("loudnorm@t0=") == 1
    (audio,) = [s for s in graph.split(";") if s.startswith("[0:1]")]
    assert audio.startswith("[0:1]aresample=async=1:first_pts=0")
    assert audio.endswith(f",{','.join(normalizer)},asplit=2[a0][a1]")
    assert plan.argv[1:7] == LOGGED_FLAGS
    plain = plan_streaming(two, PROBE, SOURCE, OUT)
    assert "loudnorm" not in " ".join(plain.argv)
    assert "-loglevel error" in " ".join(plain.argv)


def _with_ladders(listed: tuple[Any, ...], *targets: float) -> StepsPreset:
    """A job of the steps ``listed``, its encodes of ``loud-N`` pinned as resolve_preset
    would: web-hls, each with a loudness target of its own."""
    web = builtin_catalog().presets["web-hls"]
    assert isinstance(web, StreamingPreset)
    ladders = {
        f"loud-{n}": web.model_copy(
            update={"name": f"loud-{n}", "loudness": LoudnessTarget(target_lufs=t)}
        )
        for n, t in enumerate(targets)
    }
    return StepsPreset(name="steps", steps=listed, encodes=ladders)


def test_a_ladders_target_is_measured_after_every_transform() -> None:
    job = _with_ladders((Trim(op="trim", start=2.0), Encode(op="encode", preset="loud-0")), -16.0)
    measuring = plan_measure(job, PROBE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert measuring is not None
    assert measuring.index == 1
    assert measuring.step.target_lufs == -16.0
    assert "-ss 2.000" in " ".join(measuring.argv)
    done = compile_steps(job, PROBE, SOURCE, OUT, ATTACHED, loudness={0: measured()})
    graph = done.main.argv[done.main.argv.index("-filter_complex") + 1]
    assert "[amain]asplit=1[out1a]" in graph  # the chain's sound is as it was...
    assert graph.count("loudnorm@s1t0=I=-16.00") == 1  # ...and the ladder normalizes its own
    assert done.logged


def test_two_ladders_with_different_targets_are_refused() -> None:
    encodes = (Encode(op="encode", preset="loud-0"), Encode(op="encode", preset="loud-1"))
    job = _with_ladders(encodes, -16.0, -23.0)
    with pytest.raises(InvalidMessage) as info:
        plan_measure(job, PROBE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert info.value.message == (
        "steps[1].preset: its loudness target is not steps[0]'s; a job has one sound to measure"
    )


def test_a_loudness_step_sets_the_sound_over_a_ladders_target() -> None:
    listed = (Loudness(op="loudness", target_lufs=-20), Encode(op="encode", preset="loud-0"))
    job = _with_ladders(listed, -16.0)
    measuring = plan_measure(job, PROBE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert measuring is not None
    assert (measuring.index, measuring.step.target_lufs) == (0, -20.0)
    done = compile_steps(job, PROBE, SOURCE, OUT, ATTACHED, loudness={0: measured()})
    graph = done.main.argv[done.main.argv.index("-filter_complex") + 1]
    assert graph.count("loudnorm") == 1
    assert "loudnorm@step=I=-20.00" in graph
    assert "steps[1]: the loudness step sets the sound; preset loud-0's target is not used" in (
        done.notes
    )
