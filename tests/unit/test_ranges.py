"""core.streaming.ranges: the whole encode's segment grid (as ffmpeg 5.1 forces keyframes and
the dash muxer cuts), chunks of whole segments (hypothesis), and the range and audio plans."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from fractions import Fraction
from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import StreamingPreset
from core.streaming.ranges import (
    SegmentGrid,
    keyframe_frames,
    plan_audio_part,
    plan_range,
    source_grid,
    split_ranges,
)
from core.streaming.renditions import plan_streaming
from tests.shipped_presets import shipped

NTSC = Fraction(30000, 1001)
RATES = [Fraction(30), NTSC, Fraction(24000, 1001), Fraction(25), Fraction(60000, 1001)]
WEB = shipped("web-hls", StreamingPreset)
SOURCE, OUT = PurePosixPath("/w/in/source"), PurePosixPath("/w/r1")


def probe(fps: float = 30000 / 1001, duration: float = 44.0106, start: float = 0.0) -> ProbeResult:
    video = VideoStream(codec="h264", width=1280, height=720, fps=fps, rotation=0,
                        sample_aspect=Fraction(1), pix_fmt="yuv420p", duration=duration,
                        start=start)  # fmt: skip
    audio = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)
    return ProbeResult(format_name="mov", duration=duration, size=1, video=video, audio=audio)


def test_ntsc_keyframes_are_a_fixed_gop_apart_and_every_one_is_a_cut() -> None:
    """44 s at 30000/1001, 4 s: every 120 frames (4.004 s), where forcing keyframes at
    multiples of 4 s had made 960 -> 1079 and a 239-frame segment."""
    grid = SegmentGrid(NTSC, 4.0, 1319)
    assert grid.keyframes == tuple(range(0, 1319, 120))
    assert grid.cuts == grid.keyframes


def test_integer_rates_key_every_segment() -> None:
    assert keyframe_frames(Fraction(30), 4.0, 720) == tuple(range(0, 720, 120))
    assert SegmentGrid(Fraction(25), 6.0, 1000).cuts == tuple(range(0, 1000, 150))


@given(st.sampled_from(RATES), st.sampled_from([2.0, 4.0, 6.0, 10.0]), st.integers(1, 20_000))
def test_every_keyframe_the_whole_encode_forces_is_a_cut(
    rate: Fraction, seconds: float, frames: int
) -> None:
    grid = SegmentGrid(rate, seconds, frames)
    assert grid.cuts == grid.keyframes
    gaps = {b - a for a, b in itertools.pairwise(grid.keyframes)}
    assert all(seconds <= g / rate < seconds + 1 / rate for g in gaps)


@given(
    st.floats(0.5, 4000.0),
    st.sampled_from([2.0, 4.0, 6.0]),
    st.floats(1.0, 900.0),
    st.sampled_from(RATES),
)
def test_chunks_tile_the_picture_in_whole_segments(
    duration: float, seconds: float, chunk: float, rate: Fraction
) -> None:
    chunks = split_ranges(duration, seconds, chunk, rate)
    frames = math.ceil(round(duration * rate, 6))
    grid = SegmentGrid(rate, seconds, frames)
    assert chunks[0].start == 0
    assert chunks[-1].end == frames
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    assert all(c.start in grid.cuts and c.start < c.end and c.count >= 1 for c in chunks)
    assert sum(c.count for c in chunks) == len(grid.cuts)
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(grid.keyframes[c.keyframe] == c.start for c in chunks)
    assert [n for c in chunks for n in c.numbers] == list(range(1, len(grid.cuts) + 1))
    for c in chunks:
        warmed = grid.warmed(c)  # at most the segment before, the first chunk none
        assert warmed.first == max(0, c.first - 1)
        assert warmed.end == c.end
        assert warmed.start == max(grid.cuts[warmed.first], c.start - round(grid.rate))
        assert grid.keyframes[warmed.keyframe] == c.start


def test_the_grid_counts_the_frames_the_source_has() -> None:
    grid = source_grid(WEB, probe())
    assert grid is not None
    assert grid.frames == 1319
    assert grid.rate == NTSC


def test_a_range_plan_seeks_before_it_trims_by_frame_and_keys_on_the_whole_grid() -> None:
    p = probe()
    grid = source_grid(WEB, p)
    assert grid is not None
    chunk = grid.split(12.0)[2]  # segments 7-9: frames 720-1079
    ranged = plan_range(WEB, p, SOURCE, OUT, chunk)
    assert ranged is not None
    assert ranged.warmup == 1
    argv = list(ranged.plan.argv)
    seek = argv.index("-ss")
    assert argv[seek - 2 : seek + 2] == ["-copyts", "-start_at_zero", "-ss", "22.023000"]
    assert seek < argv.index("-i")
    graph = argv[argv.index("-filter_complex") + 1]
    assert "trim=start_pts=690:end_pts=1080,split=" in graph  # a second of warm-up
    keys = argv[argv.index("-force_key_frames:v") + 1]
    assert keys == "expr:gte(n+690,(n_forced+6)*120)"  # the first forced: 720, keyframe 6
    assert argv[argv.index("-seg_duration") + 1] == "0.1"  # a cut at every keyframe
    assert not any(a.startswith("-c:a") for a in argv)
    assert "[0:1]" not in graph
    assert ranged.plan.thumbnails is None
    assert ranged.plan.storyboard is None
    assert argv[-1] == "file:/w/r1/cmaf/manifest.mpd"


def test_the_last_range_runs_to_the_pictures_end() -> None:
    grid = source_grid(WEB, probe())
    assert grid is not None
    ranged = plan_range(WEB, probe(), SOURCE, OUT, grid.split(12.0)[-1], warmup=0)
    assert ranged is not None
    graph = ranged.plan.argv[ranged.plan.argv.index("-filter_complex") + 1]
    assert "trim=end=44.011,trim=start_pts=1080,split" in graph


def test_no_range_for_hls_ts_or_a_late_picture() -> None:
    grid = source_grid(WEB, probe())
    assert grid is not None
    chunk = grid.split(12.0)[1]
    ts = shipped("hls-ts", StreamingPreset)
    assert plan_range(ts, probe(), SOURCE, OUT, chunk) is None
    assert plan_audio_part(ts, probe(), SOURCE, OUT) is None
    assert plan_range(WEB, probe(start=0.5), SOURCE, OUT, chunk) is None
    assert plan_range(WEB, replace(probe(), video=None), SOURCE, OUT, chunk) is None


def test_the_audio_part_is_the_whole_plan_with_a_black_picture_of_as_many_frames() -> None:
    plan = plan_audio_part(WEB, probe(), SOURCE, OUT)
    assert plan is not None
    argv = list(plan.argv)
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.startswith("color=c=black:s=32x18:r=30000/1001,trim=end_frame=1319[stand];")
    assert graph.count("scale=32:18:") == 3  # every rung a stand-in
    assert "[stand]format=yuv420p,fps=30000/1001,trim=end=44.011,split=" in graph
    assert argv.count("-i") == 1
    assert "-c:a:0" in argv
    assert [r.name for r in plan.video] == ["720p", "480p", "360p"]
    assert plan.thumbnails is None
    assert plan.storyboard is None
    assert "id=0,streams=v id=1,seg_duration=8,streams=a" in argv


def test_a_resumed_encode_runs_from_a_segment_to_the_end() -> None:
    grid = SegmentGrid(NTSC, 4.0, 1319)
    tail = grid.tail(9)
    assert (tail.first, tail.count, tail.start, tail.end, tail.keyframe) == (9, 2, 1080, 1319, 9)
    assert tail.last
    assert grid.warmed(tail).start == 1080 - 30  # a second of warm-up
    assert grid.warmed(tail, 8.0).start == 960  # never more than the segment before


def test_the_audio_part_normalizes_as_the_whole_plan_does() -> None:
    normalizer = ("loudnorm=I=-16:TP=-1.5:LRA=11:linear=true",)
    plan = plan_audio_part(WEB, probe(), SOURCE, OUT, loudness={0: normalizer})
    whole = plan_streaming(WEB, probe(), SOURCE, OUT, loudness={0: normalizer})
    assert plan is not None
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    sound = [s for s in graph.split(";") if s.startswith("[0:1]")]
    assert sound == [s for s in whole.argv[whole.argv.index("-filter_complex") + 1].split(";")
                     if s.startswith("[0:1]")]  # fmt: skip
    assert normalizer[0] in sound[0]
