"""A resumed encode's pictures (core.attempt.resume_pictures): the head pass and the tail's
range together pick every thumbnail, storyboard tile and the poster exactly once, at the
frame and under the number the whole encode gives it, wherever the resume point falls."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from core.attempt.resume_pictures import head_pictures, head_range, head_span
from core.media.hardening import SOURCE_GUARD
from core.streaming.ranges import STAND_IN, picture_span, poster_frame, source_grid
from tests.unit.test_range_pictures import WEB, picked, probe


@pytest.mark.parametrize(
    ("fps", "duration"), [(30.0, 24.0), (30000 / 1001, 125.0), (25.0, 61.0), (24.0, 40.0)]
)
def test_the_head_and_the_tail_pick_every_picture_once(fps: float, duration: float) -> None:
    p = probe(fps, duration)
    grid = source_grid(WEB, p)
    assert grid is not None
    for rows in range(1, len(grid.cuts)):
        head, tail = head_range(grid, rows), grid.tail(rows)
        encoded = grid.warmed(tail)
        head_share = head_span(grid, rows, p).pictures
        tail_share = picture_span(grid, tail, encoded, p)
        assert head_share is not None
        for every in (round(10 * grid.rate), round(5 * grid.rate)):  # thumbnails, tiles
            mine = picked(head_share, every, head.end)
            theirs = picked(tail_share, every, grid.frames - encoded.start)
            assert not set(mine) & set(theirs)
            whole = {i + 1: f for i, f in enumerate(range(0, grid.frames, every))}
            assert {**mine, **theirs} == whole
        assert head_share.poster != tail_share.poster  # the poster: one of the two
        assert head_share.poster == (poster_frame(grid, p) < head.end)


def test_the_head_pass_decodes_the_head_alone_with_stand_in_rungs() -> None:
    p = probe(30.0, 24.0)
    grid = source_grid(WEB, p)
    assert grid is not None
    plan = head_pictures(WEB, p, PurePosixPath("/s"), PurePosixPath("/o"), grid, 4, SOURCE_GUARD)
    assert plan is not None
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    assert f"trim=start_pts=0:end_pts={grid.cuts[4]}" in graph
    assert graph.count("scale={}:{}".format(*STAND_IN)) == len(plan.video) == 1
    assert plan.thumbnails is not None
    assert plan.storyboard is not None
    bare = WEB.model_copy(update={"thumbnails": None, "storyboard": None})
    assert head_pictures(bare, p, PurePosixPath("/s"), PurePosixPath("/o"), grid, 4,
                         SOURCE_GUARD) is None  # fmt: skip


def test_a_head_is_at_least_one_segment_and_leaves_one() -> None:
    grid = source_grid(WEB, probe(30.0, 24.0))
    assert grid is not None
    assert head_range(grid, 1).end == grid.cuts[1]
    for rows in (0, len(grid.cuts)):
        with pytest.raises(ValueError, match="no head"):
            head_range(grid, rows)
