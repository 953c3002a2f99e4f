"""core.streaming.storyboard: the WebVTT track of sprite tiles, from a hand-built StoryboardPlan."""

from __future__ import annotations

import itertools
import re
from pathlib import PurePosixPath

import pytest

from core.streaming.pictures import StoryboardPlan
from core.streaming.storyboard import (
    sheet_count,
    sheet_grid,
    sheets_argvs,
    storyboard_vtt,
    tile_count,
)

CUE_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})$")
CUE_TEXT = re.compile(r"^(storyboard-\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$")


def plan(every_frames: int = 150, columns: int = 10, rows: int = 10) -> StoryboardPlan:
    return StoryboardPlan(
        pattern="thumbnails/storyboard-%03d.jpg",
        tiles=".storyboard-tiles/tile-%05d.jpg",
        vtt="thumbnails/storyboard.vtt",
        every_frames=every_frames,
        every_seconds=every_frames / 30,
        tile_width=160,
        tile_height=90,
        columns=columns,
        rows=rows,
    )


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def cues(vtt: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    """(start, end, sheet, (x, y, w, h)) of every cue, checking each line's format."""
    assert vtt.endswith("\n")
    assert not vtt.endswith("\n\n\n")
    blocks = vtt.removesuffix("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    out = []
    for block in blocks[1:]:
        timing, text = block.split("\n")
        t, c = CUE_TIME.match(timing), CUE_TEXT.match(text)
        assert t, timing
        assert c, text
        x, y, w, h = (int(v) for v in c.groups()[1:])
        out.append((seconds(*t.groups()[:4]), seconds(*t.groups()[4:]), c.group(1), (x, y, w, h)))
    return out


def test_counts() -> None:
    p = plan(every_frames=150, columns=10, rows=10)
    assert tile_count(p, 0) == 0
    assert sheet_count(p, 0) == 0
    assert tile_count(p, 1) == 1
    assert tile_count(p, 150) == 1
    assert tile_count(p, 151) == 2
    assert tile_count(p, 1860) == 13
    assert sheet_count(p, 1860) == 1
    assert tile_count(p, 150 * 100) == 100
    assert sheet_count(p, 150 * 100) == 1
    assert sheet_count(p, 150 * 100 + 1) == 2


def test_the_file_starts_with_webvtt_and_has_one_cue_per_tile() -> None:
    vtt = storyboard_vtt(plan(), frames=1860, fps=30.0)  # 62 s: 12 full tiles and a part
    assert vtt.startswith("WEBVTT\n\n")
    assert vtt.endswith("\n")
    parsed = cues(vtt)
    assert len(parsed) == tile_count(plan(), 1860) == 13
    lines = vtt.splitlines()
    assert lines[2] == "00:00:00.000 --> 00:00:05.000"
    assert lines[3] == "storyboard-001.jpg#xywh=0,0,160,90"
    assert lines[-2] == "00:01:00.000 --> 00:01:02.000"


def test_cues_are_contiguous_and_the_last_ends_at_the_picture_end() -> None:
    frames, fps = 1000, 29.97
    parsed = cues(storyboard_vtt(plan(), frames, fps))
    assert parsed[0][0] == 0.0
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(parsed):
        assert end == start
    assert all(start < end for start, end, _, _ in parsed)
    assert parsed[-1][1] == pytest.approx(frames / fps, abs=0.0005)
    assert parsed[1][0] == pytest.approx(150 / fps, abs=0.0005)  # 5.005 s at 29.97


def test_timestamps_past_an_hour() -> None:
    vtt = storyboard_vtt(plan(every_frames=300), frames=30 * 3725, fps=30.0)
    assert "01:00:00.000 --> 01:00:10.000" in vtt
    assert vtt.splitlines()[-2] == "01:02:00.000 --> 01:02:05.000"


def test_tiles_wrap_by_columns_then_rows_then_roll_over_to_the_next_sheet() -> None:
    p = plan(every_frames=30, columns=3, rows=2)
    parsed = cues(storyboard_vtt(p, frames=30 * 14, fps=30.0))
    assert len(parsed) == 14
    assert sheet_count(p, 30 * 14) == 3
    assert [(sheet, xywh[:2]) for _, _, sheet, xywh in parsed] == [
        ("storyboard-001.jpg", (0, 0)),
        ("storyboard-001.jpg", (160, 0)),
        ("storyboard-001.jpg", (320, 0)),
        ("storyboard-001.jpg", (0, 90)),
        ("storyboard-001.jpg", (160, 90)),
        ("storyboard-001.jpg", (320, 90)),
        ("storyboard-002.jpg", (0, 0)),
        ("storyboard-002.jpg", (160, 0)),
        ("storyboard-002.jpg", (320, 0)),
        ("storyboard-002.jpg", (0, 90)),
        ("storyboard-002.jpg", (160, 90)),
        ("storyboard-002.jpg", (320, 90)),
        ("storyboard-003.jpg", (0, 0)),
        ("storyboard-003.jpg", (160, 0)),
    ]
    assert all(xywh[2:] == (160, 90) for _, _, _, xywh in parsed)


def test_the_default_grid_rolls_over_after_a_hundred_tiles() -> None:
    parsed = cues(storyboard_vtt(plan(), frames=150 * 101, fps=30.0))
    assert parsed[99][2:] == ("storyboard-001.jpg", (1440, 810, 160, 90))
    assert parsed[100][2:] == ("storyboard-002.jpg", (0, 0, 160, 90))
    assert parsed[100][0] == 500.0


def test_no_frames_no_cues() -> None:
    assert storyboard_vtt(plan(), frames=0, fps=30.0) == "WEBVTT\n"
    assert cues(storyboard_vtt(plan(), frames=0, fps=30.0)) == []


def after(argv: tuple[str, ...], flag: str, nth: int = 0) -> str:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag][nth]


def sheet_size(p: StoryboardPlan, tiles: int) -> tuple[int, int]:
    columns, rows = sheet_grid(p, tiles)
    return columns * p.tile_width, rows * p.tile_height


GRIDS = [(1, (1, 1)), (6, (6, 1)), (10, (10, 1)), (11, (10, 2)), (23, (10, 3)),
         (100, (10, 10)), (250, (10, 10))]  # fmt: skip


@pytest.mark.parametrize(("tiles", "grid"), GRIDS)
def test_a_sheet_is_as_big_as_the_tiles_it_holds(tiles: int, grid: tuple[int, int]) -> None:
    assert sheet_grid(plan(), tiles) == grid


def test_a_30s_clip_makes_one_960x90_sheet_and_its_cues_lie_on_it() -> None:
    """Six tiles, 5 s apart: the sheet the issue saw at 1600x900, five sixths of it black."""
    p, frames = plan(), 30 * 30
    tiles = tile_count(p, frames)
    assert tiles == 6
    assert sheet_size(p, tiles) == (960, 90)
    for _, _, sheet, (x, y, w, h) in cues(storyboard_vtt(p, frames, 30.0)):
        assert sheet == "storyboard-001.jpg"
        assert x + w <= 960
        assert y + h <= 90


def test_every_cue_lies_on_its_sheet_however_the_tiles_fall() -> None:
    p = plan(every_frames=30, columns=3, rows=2)
    for seconds in range(1, 20):
        tiles = tile_count(p, 30 * seconds)
        per_sheet = p.columns * p.rows
        for _, _, sheet, (x, y, w, h) in cues(storyboard_vtt(p, 30 * seconds, 30.0)):
            index = int(sheet[len("storyboard-") : -len(".jpg")]) - 1
            held = min(per_sheet, tiles - index * per_sheet)
            width, height = sheet_size(p, held)
            assert x + w <= width, (seconds, sheet, x)
            assert y + h <= height, (seconds, sheet, y)


def test_full_sheets_in_one_run_and_the_last_at_its_own_size() -> None:
    p, out = plan(every_frames=30, columns=3, rows=2), PurePosixPath("/w/out")
    full, last = sheets_argvs(p, out, 14)  # two sheets of 3x2 and one of two tiles
    for argv in (full, last):
        assert after(argv, "-format_whitelist") == "image2"
        assert after(argv, "-i") == "file:/w/out/.storyboard-tiles/tile-%05d.jpg"
        assert argv[-1] == "file:/w/out/thumbnails/storyboard-%03d.jpg"
    assert (after(full, "-start_number"), after(full, "-vf"), after(full, "-frames:v")) == (
        "1",
        "tile=3x2",
        "2",
    )
    assert after(full, "-start_number", 1) == "1"  # the first sheet's number
    assert (after(last, "-start_number"), after(last, "-vf"), after(last, "-frames:v")) == (
        "13",
        "tile=2x1",
        "1",
    )
    assert after(last, "-start_number", 1) == "3"


def test_one_run_when_the_sheets_are_all_full_or_there_is_only_one() -> None:
    p, out = plan(), PurePosixPath("o")
    (only,) = sheets_argvs(p, out, 6)
    assert (after(only, "-vf"), after(only, "-start_number")) == ("tile=6x1", "1")
    (full,) = sheets_argvs(p, out, 200)
    assert (after(full, "-vf"), after(full, "-frames:v")) == ("tile=10x10", "2")
    assert sheets_argvs(p, out, 0) == ()
