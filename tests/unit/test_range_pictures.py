"""A split job's pictures (core.streaming.ranges' ``pictures=True``, PictureSpan): across the
ranges of a grid, every thumbnail, storyboard tile and the poster is picked by exactly one
range, at the frame the whole encode picks it, under the number the whole encode gives it;
a range's warm-up picks none."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import PurePosixPath

import pytest

from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import StreamingPreset
from core.streaming.ranges import SegmentGrid, picture_span, plan_range, poster_frame, source_grid
from core.streaming.span import PictureSpan
from tests.shipped_presets import shipped

WEB = shipped("web-hls", StreamingPreset)  # a thumbnail every 10 s, a tile every 5 s


def probe(fps: float, duration: float) -> ProbeResult:
    video = VideoStream(
        codec="h264", width=1280, height=720, fps=fps, rotation=0,
        sample_aspect=Fraction(1), pix_fmt="yuv420p", duration=duration,
    )  # fmt: skip
    audio = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)
    return ProbeResult(format_name="mov", duration=duration, size=1, video=video, audio=audio)


def picked(span: PictureSpan, every: int, frames: int) -> dict[int, int]:
    """What ``select`` lets through of ``frames`` frames of the range's encode (n from 0),
    as image2 numbers them from the span's start number: {number: global frame}."""
    expr = span.pick(every).replace("\\,", ",")
    match = re.fullmatch(r"not\(mod\(n\+(\d+),\d+\)\)\*gte\(n,(-?\d+)\)", expr)
    assert match is not None
    offset, first = map(int, match.groups())
    through = [n + offset for n in range(frames) if (n + offset) % every == 0 and n >= first]
    return {span.start_number(every) + i: g for i, g in enumerate(through)}


@pytest.mark.parametrize(
    ("fps", "duration", "chunk_seconds"),
    [(30.0, 24.0, 10.0), (30000 / 1001, 125.0, 20.0), (25.0, 61.0, 8.0), (24.0, 40.0, 4.0)],
)
def test_every_picture_is_made_by_one_range_under_the_whole_encodes_number(
    fps: float, duration: float, chunk_seconds: float
) -> None:
    p = probe(fps, duration)
    grid = source_grid(WEB, p)
    assert grid is not None
    for every in (round(10 * grid.rate), round(5 * grid.rate)):  # thumbnails, tiles
        made: dict[int, int] = {}
        for chunk in grid.split(chunk_seconds):
            encoded = grid.warmed(chunk)
            span = picture_span(grid, chunk, encoded, p)
            mine = picked(span, every, chunk.end - encoded.start)
            assert not set(mine) & set(made)  # no picture twice
            made |= mine
        whole = range(0, grid.frames, every)  # the whole encode's: not(mod(n, every))
        assert made == {i + 1: f for i, f in enumerate(whole)}
        assert len(made) == math.ceil(grid.frames / every)


def test_a_picture_on_a_range_boundary_is_the_later_ranges_and_a_warmup_picks_none() -> None:
    grid = SegmentGrid(Fraction(30), 4.0, 720)  # 24 s; chunks at 0, 12, 20 s
    chunks = grid.split(10.0)
    assert [c.start for c in chunks] == [0, 360, 600]
    middle, last = chunks[1], chunks[2]
    # the middle range's warm-up (8-12 s) holds frame 300 (10 s): the first range's
    span = picture_span(grid, middle, grid.warmed(middle), probe(30.0, 24.0))
    assert picked(span, 300, middle.end - grid.warmed(middle).start) == {}
    assert picked(span, 150, middle.end - grid.warmed(middle).start) == {4: 450}
    # frame 600 (20 s) starts the last range: its thumbnail 3, its tile 5
    span = picture_span(grid, last, grid.warmed(last), probe(30.0, 24.0))
    assert picked(span, 300, last.end - grid.warmed(last).start) == {3: 600}
    assert picked(span, 150, last.end - grid.warmed(last).start) == {5: 600}


@pytest.mark.parametrize("duration", [0.5, 24.0, 61.0, 600.0])
def test_the_poster_is_one_ranges(duration: float) -> None:
    p = probe(30.0, duration)
    grid = source_grid(WEB, p)
    assert grid is not None
    owners = [
        c for c in grid.split(4.0) if picture_span(grid, c, grid.warmed(c), p).poster
    ]  # fmt: skip
    assert len(owners) == 1
    at = poster_frame(grid, p)
    assert owners[0].start <= at
    assert owners[0].last or at < owners[0].end


def test_a_range_with_pictures_numbers_them_in_its_argv() -> None:
    p = probe(30.0, 24.0)
    grid = source_grid(WEB, p)
    assert grid is not None
    last = grid.split(10.0)[-1]  # from 20 s: thumbnail 3, tile 5, no poster
    ranged = plan_range(WEB, p, PurePosixPath("/w/s"), PurePosixPath("/w/r"), last, pictures=True)
    assert ranged is not None
    assert ranged.plan.thumbnails
    assert ranged.plan.storyboard
    argv = list(ranged.plan.argv)
    graph = argv[argv.index("-filter_complex") + 1]
    assert "select=not(mod(n+570\\,300))*gte(n\\,30)" in graph  # a second of warm-up
    starts = [argv[i + 1] for i, a in enumerate(argv) if a == "-start_number"]
    assert starts == ["3", "5"]
    assert not any(a.endswith("poster.jpg") for a in argv)
    plain = plan_range(WEB, p, PurePosixPath("/w/s"), PurePosixPath("/w/r"), last)
    assert plain is not None
    assert plain.plan.thumbnails is None  # the default: none
