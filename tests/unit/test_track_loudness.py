"""Loudness on every audio track a ladder keeps: each track measured by a loudnorm of its
own (named, so that its figures are found by name in the log) and normalized alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.errors import TranscodeFailed
from core.media.accel import AccelTier, TierChoice
from core.media.hardening import SOURCE_GUARD
from core.presets import LoudnessTarget, StreamingPreset, builtin_catalog
from core.steps.compile import compile_steps
from core.steps.loudness import LoudnessMeasure, normalize, parse_named, tracks_report
from core.steps.loudness_pass import by_track, plan_measure, steps_report
from core.steps.model import Loudness
from core.streaming.renditions import plan_streaming
from tests.unit.test_compile import ATTACHED, OUT, SOURCE, steps
from tests.unit.test_step_tracks import THREE, statements_of

# ffmpeg 5.1's log of two named measuring loudnorms (two tracks of one file), at info level
LOG = """\
size=N/A time=00:00:03.01 bitrate=N/A speed=33.1x
[loudnorm@t0 @ 0x55a3a41c0680] 
{
\t"input_i" : "-21.82",
\t"input_tp" : "-17.68",
\t"input_lra" : "0.10",
\t"input_thresh" : "-31.82",
\t"output_i" : "-23.01",
\t"output_tp" : "-18.88",
\t"output_lra" : "0.00",
\t"output_thresh" : "-33.01",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.01"
}
[loudnorm@t1 @ 0x55a3a4307a40] 
{
\t"input_i" : "-35.34",
\t"input_tp" : "-27.26",
\t"input_lra" : "0.00",
\t"input_thresh" : "-45.34",
\t"output_i" : "-23.02",
\t"output_tp" : "-14.95",
\t"output_lra" : "0.00",
\t"output_thresh" : "-33.02",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.02"
}
"""  # noqa: W291 (ffmpeg's own trailing space)
STEP = Loudness(op="loudness", target_lufs=-16, true_peak_db=-1.5, lra=11)


def web_hls(target: float = -16.0) -> StreamingPreset:
    web = builtin_catalog().presets["web-hls"]
    assert isinstance(web, StreamingPreset)
    return web.model_copy(update={"loudness": LoudnessTarget(target_lufs=target)})


def measures() -> dict[int, LoudnessMeasure]:
    named = parse_named(LOG)
    return {0: named["t0"], 1: named["t1"], 2: replace(named["t1"], input_i=-30.0)}


def test_each_named_loudnorm_s_figures_are_found_by_its_name() -> None:
    named = parse_named("Input #0 ...\n" + LOG)
    assert sorted(named) == ["t0", "t1"]
    assert (named["t0"].input_i, named["t1"].input_i) == (-21.82, -35.34)
    assert by_track(named, (0, 1)) == {0: named["t0"], 1: named["t1"]}


def test_a_track_whose_figures_are_missing_fails_the_pass() -> None:
    with pytest.raises(TranscodeFailed):
        by_track(parse_named(LOG), (0, 1, 2))


def test_a_ladder_normalizes_each_track_alone_before_its_renditions_split() -> None:
    normalizers = {n: tuple(normalize(STEP, m, f"t{n}")) for n, m in measures().items()}
    plan = plan_streaming(web_hls(), THREE, SOURCE, OUT, loudness=normalizers)
    graph = plan.argv[plan.argv.index("-filter_complex") + 1].split(";")
    for track, index, measured in ((0, 1, "-21.82"), (1, 2, "-35.34"), (2, 3, "-30.00")):
        (chain,) = [s for s in graph if s.startswith(f"[0:{index}]")]
        assert f"loudnorm@t{track}=I=-16.00" in chain
        assert f"measured_I={measured}" in chain
        assert chain.count("loudnorm") == 1
        assert "asplit=" in chain.split(f"loudnorm@t{track}")[1]  # before the split


def test_a_steps_ladder_s_target_measures_every_track_it_keeps() -> None:
    job = steps([{"op": "trim", "start": 1.0, "end": 5.0}, {"op": "encode", "preset": "web-hls"}])
    job = job.model_copy(update={"encodes": {"web-hls": web_hls()}})
    measuring = plan_measure(job, THREE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert measuring is not None
    assert measuring.tracks == (0, 1, 2)
    graph = statements_of(measuring.argv)
    for track in (0, 1, 2):
        assert sum(f"loudnorm@t{track}=I=-16.00" in s for s in graph) == 1
    maps = [measuring.argv[i + 1] for i, a in enumerate(measuring.argv) if a == "-map"]
    assert maps == ["[loud0]", "[loud1]", "[loud2]"]
    assert "-ss 1.000" in " ".join(measuring.argv)  # the trim seeks every track
    main = compile_steps(
        job, THREE, SOURCE, OUT, ATTACHED, TierChoice(AccelTier.CPU), loudness=measures()
    )
    chains = statements_of(main.main.argv)
    for track, measured in ((0, "-21.82"), (1, "-35.34"), (2, "-30.00")):
        (chain,) = [s for s in chains if f"loudnorm@s1t{track}=" in s]
        assert f"measured_I={measured}" in chain
    assert main.logged


def test_a_loudness_step_measures_the_one_sound_it_makes() -> None:
    job = steps([{"op": "loudness"}, {"op": "encode", "preset": "web-hls"}])
    measuring = plan_measure(job, THREE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert measuring is not None
    assert measuring.tracks == (0,)


def test_the_report_gives_the_first_track_and_every_track_s_own() -> None:
    measured = measures()
    languages = {0: "eng", 1: "spa", 2: "fra"}
    made = {n: replace(m, kind="linear", output_i=-16.0) for n, m in measured.items()}
    report = tracks_report(STEP, measured, made, languages)
    assert report.input.integrated_lufs == -21.82  # the first track's, at the top
    assert [(t.track, t.language, t.mode) for t in report.tracks] == [
        (0, "eng", "linear"),
        (1, "spa", "linear"),
        (2, "fra", "linear"),
    ]
    assert [t.gain_db for t in report.tracks] == [5.82, 19.34, 14.0]
    one = tracks_report(STEP, {0: measured[0]}, {0: made[0]}, languages)
    assert one.tracks == []


def test_a_steps_report_takes_each_track_s_figures_from_its_ladder() -> None:
    job = steps([{"op": "text", "text": "x"}, {"op": "encode", "preset": "web-hls"}])
    job = job.model_copy(update={"encodes": {"web-hls": web_hls()}})
    measuring = plan_measure(job, THREE, SOURCE, ATTACHED, SOURCE_GUARD)
    assert measuring is not None
    measured = measures()
    named = {f"s1t{n}": replace(m, kind="linear", output_i=-16.0) for n, m in measured.items()}
    steps_of, report = steps_report(job, measuring, measured, named, THREE)
    assert steps_of == (1,)
    assert [(t.track, t.mode) for t in report.tracks] == [
        (0, "linear"),
        (1, "linear"),
        (2, "linear"),
    ]
    assert report.tracks[1].output is not None
    assert report.tracks[1].output.integrated_lufs == -16.0
