"""Ladder fitting over many sources (hypothesis): whatever the width, height, rotation, frame
rate and sample aspect ratio, the ladder never upscales, has even sides, one shape, strictly
descending sizes and at least one rung; the frame rate is capped and never raised."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.media.probe import VideoStream
from core.presets import Rung, StreamingPreset, builtin_catalog
from core.streaming.ladder import ASPECT_TOLERANCE, fit_fps, fit_ladder, ladder_aspect

WEB = builtin_catalog().presets["web-hls"]
assert isinstance(WEB, StreamingPreset)
LADDER = WEB.ladder

sides = st.integers(min_value=2, max_value=8192)
sars = st.sampled_from(
    [
        Fraction(1),
        Fraction(4, 3),
        Fraction(32, 27),
        Fraction(8, 9),
        Fraction(10, 11),
        Fraction(16, 11),
        Fraction(40, 33),
    ]
)
rotations = st.sampled_from([0, 90, 180, 270])
rates = st.sampled_from([0.0, 12.0, 23.976, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0, 120.0, 240.0])
rungs = st.lists(st.integers(144, 4320), min_size=1, max_size=8, unique=True).map(
    lambda sides: tuple(
        Rung(name=f"r{s}", short_side=s, video_kbps=1000, maxrate_kbps=1100, bufsize_kbps=1500)
        for s in sorted(sides, reverse=True)
    )
)


def display(w: int, h: int, sar: Fraction, rotation: int) -> tuple[float, float]:
    stream = VideoStream(
        codec="h264",
        width=w,
        height=h,
        fps=30.0,
        rotation=rotation,
        sample_aspect=sar,
        pix_fmt="yuv420p",
    )
    return stream.display_size


@given(w=sides, h=sides, sar=sars, rotation=rotations, ladder=st.one_of(st.just(LADDER), rungs))
def test_a_fitted_ladder_never_upscales_and_keeps_one_even_shape(
    w: int, h: int, sar: Fraction, rotation: int, ladder: tuple[Rung, ...]
) -> None:
    dw, dh = display(w, h, sar, rotation)
    fitted = fit_ladder(ladder, dw, dh)

    assert fitted.rungs, "at least one rung"
    for rung in fitted.rungs:
        assert rung.width % 2 == 0
        assert rung.height % 2 == 0
        assert rung.width <= max(2, math.ceil(dw))  # never upscaled
        assert rung.height <= max(2, math.ceil(dh))
        assert rung.video_kbps >= 100
    pixels = [r.pixels for r in fitted.rungs]
    assert pixels == sorted(set(pixels), reverse=True), "strictly descending"
    widths, heights = [r.width for r in fitted.rungs], [r.height for r in fitted.rungs]
    assert widths == sorted(widths, reverse=True)
    assert heights == sorted(heights, reverse=True)
    if len(fitted.rungs) > 1:  # one adaptation set: every rung has exactly one shape
        num, den = fitted.aspect
        assert all(r.width * den == r.height * num for r in fitted.rungs)
        # ...and that shape is the source's within the tolerance (square pixels, no squash)
        assert abs(num / den - dw / dh) <= dw / dh * ASPECT_TOLERANCE + 1e-12
    names = [r.name for r in fitted.rungs]
    assert len(names) == len(set(names))


@given(w=sides, h=sides, sar=sars, rotation=rotations)
def test_rungs_are_named_by_the_short_side_and_taller_ones_are_dropped(
    w: int, h: int, sar: Fraction, rotation: int
) -> None:
    dw, dh = display(w, h, sar, rotation)
    fitted = fit_ladder(LADDER, dw, dh)
    short = min(dw, dh)
    decisions = {d.name: d for d in fitted.decisions}
    for rung in LADDER:
        if rung.short_side > math.ceil(short - 1e-9):
            assert not decisions[rung.name].kept
    for kept in fitted.rungs:
        assert min(kept.width, kept.height) <= math.ceil(short)
        if kept.name != "source" and len(fitted.rungs) > 1:
            # a named rung is its name rounded to a whole step of the shared shape
            num, den = fitted.aspect
            step = min(num, den) * (1 if num % 2 == 0 and den % 2 == 0 else 2)
            nominal = next(r.short_side for r in LADDER if r.name == kept.name)
            assert min(kept.width, kept.height) <= nominal + step / 2


@given(source=rates, cap=st.sampled_from([24.0, 25.0, 30.0, 60.0]))
def test_frame_rate_is_capped_never_raised_and_keeps_an_even_cadence(
    source: float, cap: float
) -> None:
    fps = fit_fps(source, cap)
    assert 0 < fps <= cap + 1e-9
    if source > 0:
        assert fps <= source + 1e-9
        ratio = source / fps
        assert abs(ratio - round(ratio)) < 1e-9  # a whole divisor: every n-th frame


@pytest.mark.parametrize(
    ("w", "h", "rotation", "expected"),
    [
        (1920, 1080, 0, [(1920, 1080), (1280, 720), (864, 486), (640, 360)]),
        (1280, 720, 0, [(1280, 720), (864, 486), (640, 360)]),
        (1280, 720, 90, [(720, 1280), (486, 864), (360, 640)]),  # a phone held upright
        (1279, 719, 0, [(1248, 702), (864, 486), (640, 360)]),  # own top rung, 16:9
        (1600, 900, 0, [(1600, 900), (1280, 720), (864, 486), (640, 360)]),
        (3840, 2160, 0, [(1920, 1080), (1280, 720), (864, 486), (640, 360)]),
        (640, 480, 0, [(640, 480), (480, 360)]),
        (320, 180, 0, [(320, 180)]),  # below every rung: one rung at its own size
    ],
)
def test_known_sources(w: int, h: int, rotation: int, expected: list[tuple[int, int]]) -> None:
    dw, dh = display(w, h, Fraction(1), rotation)
    assert [(r.width, r.height) for r in fit_ladder(LADDER, dw, dh).rungs] == expected


def test_a_source_between_rungs_gets_a_bitrate_between_its_neighbours() -> None:
    fitted = fit_ladder(LADDER, 1600, 900)
    top, below = fitted.rungs[0], fitted.rungs[1]
    assert top.name == "source"
    assert below.video_kbps < top.video_kbps < LADDER[0].video_kbps
    reasons = {d.name: d.reason for d in fitted.decisions}
    assert "between rungs" in reasons["source"]
    assert "taller than the source" in reasons["1080p"]


def test_anamorphic_dvd_is_laddered_at_its_display_shape() -> None:
    dw, dh = display(720, 480, Fraction(32, 27), 0)  # 16:9 DVD: 853.33x480 as shown
    assert ladder_aspect(dw, dh) == Fraction(16, 9)
    assert [(r.width, r.height) for r in fit_ladder(LADDER, dw, dh).rungs] == [
        (832, 468),
        (640, 360),
    ]
