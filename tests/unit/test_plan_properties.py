"""Properties of planning over many sources (hypothesis): whatever the source, the output size
is even, capped, never larger than the source, keeps the shape, and the argv stays safe."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from core.media.plan import fit_size, plan_mp4
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import Mp4Preset, builtin_catalog

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
PRESETS = {n: p for n, p in builtin_catalog().presets.items() if isinstance(p, Mp4Preset)}
SAFE_GRAPH = re.compile(r"^[A-Za-z0-9\[\]:=,;._\-]+$")


@given(w=st.floats(2, 8192), h=st.floats(2, 8192), cap=st.sampled_from([360, 480, 720, 1080]))
def test_fitted_sizes_are_even_capped_and_never_larger(w: float, h: float, cap: int) -> None:
    width, height = fit_size(w, h, cap)
    assert width % 2 == 0
    assert height % 2 == 0
    assert 2 <= min(width, height) <= cap  # the short side is capped, whichever it is
    # Never past the source: at most its exact size rounded up (853.33 may become 854).
    assert height <= max(2, math.ceil(h))
    assert width <= max(2, math.ceil(w))
    # Each side is its exact scaled size rounded to even once (and clamped to the source).
    scale = min(1.0, cap / min(w, h))
    assert abs(height - h * scale) <= 1.0 + 1e-6 or height == 2
    assert abs(width - w * scale) <= 1.0 + 1e-6 or width == 2


@given(
    w=sides,
    h=sides,
    sar=sars,
    rotation=rotations,
    fps=rates,
    preset=st.sampled_from(sorted(PRESETS)),
    has_audio=st.booleans(),
)
def test_every_plan_is_a_safe_argv_with_a_numeric_filter_graph(
    w: int, h: int, sar: Fraction, rotation: int, fps: float, preset: str, has_audio: bool
) -> None:
    video = VideoStream(
        codec="h264",
        width=w,
        height=h,
        fps=fps,
        rotation=rotation,
        sample_aspect=sar,
        pix_fmt="yuv420p",
    )
    audio = AudioStream(codec="aac", channels=2, sample_rate=48000) if has_audio else None
    probe = ProbeResult(format_name="mov", duration=12.5, size=1, video=video, audio=audio)
    plan = plan_mp4(PRESETS[preset], probe, PurePosixPath("/w/in/source"), PurePosixPath("/w/out"))

    assert all(isinstance(arg, str) for arg in plan.argv)
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    assert SAFE_GRAPH.match(graph), graph
    assert plan.width % 2 == 0
    assert plan.height % 2 == 0
    assert min(plan.width, plan.height) <= PRESETS[preset].max_height
    assert 0 < plan.fps <= PRESETS[preset].max_fps
    assert ("0:a:0" in plan.argv) is has_audio
    display_w, display_h = video.display_size
    assert plan.height <= max(2, math.ceil(display_h))
    assert plan.width <= max(2, math.ceil(display_w))
