"""core.storyboard: the WebVTT track of sprite tiles, from a hand-built StoryboardPlan."""

from __future__ import annotations

import itertools
import re

import pytest

from core.pictures import StoryboardPlan
from core.storyboard import sheet_count, storyboard_vtt, tile_count

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
        xywh = tuple(int(v) for v in c.groups()[1:])
        out.append((seconds(*t.groups()[:4]), seconds(*t.groups()[4:]), c.group(1), xywh))
    return out


def test_counts():
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


def test_the_file_starts_with_webvtt_and_has_one_cue_per_tile():
    vtt = storyboard_vtt(plan(), frames=1860, fps=30.0)  # 62 s: 12 full tiles and a part
    assert vtt.startswith("WEBVTT\n\n")
    assert vtt.endswith("\n")
    parsed = cues(vtt)
    assert len(parsed) == tile_count(plan(), 1860) == 13
    lines = vtt.splitlines()
    assert lines[2] == "00:00:00.000 --> 00:00:05.000"
    assert lines[3] == "storyboard-001.jpg#xywh=0,0,160,90"
    assert lines[-2] == "00:01:00.000 --> 00:01:02.000"


def test_cues_are_contiguous_and_the_last_ends_at_the_picture_end():
    frames, fps = 1000, 29.97
    parsed = cues(storyboard_vtt(plan(), frames, fps))
    assert parsed[0][0] == 0.0
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(parsed):
        assert end == start
    assert all(start < end for start, end, _, _ in parsed)
    assert parsed[-1][1] == pytest.approx(frames / fps, abs=0.0005)
    assert parsed[1][0] == pytest.approx(150 / fps, abs=0.0005)  # 5.005 s at 29.97


def test_timestamps_past_an_hour():
    vtt = storyboard_vtt(plan(every_frames=300), frames=30 * 3725, fps=30.0)
    assert "01:00:00.000 --> 01:00:10.000" in vtt
    assert vtt.splitlines()[-2] == "01:02:00.000 --> 01:02:05.000"


def test_tiles_wrap_by_columns_then_rows_then_roll_over_to_the_next_sheet():
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


def test_the_default_grid_rolls_over_after_a_hundred_tiles():
    parsed = cues(storyboard_vtt(plan(), frames=150 * 101, fps=30.0))
    assert parsed[99][2:] == ("storyboard-001.jpg", (1440, 810, 160, 90))
    assert parsed[100][2:] == ("storyboard-002.jpg", (0, 0, 160, 90))
    assert parsed[100][0] == 500.0


def test_no_frames_no_cues():
    assert storyboard_vtt(plan(), frames=0, fps=30.0) == "WEBVTT\n"
    assert cues(storyboard_vtt(plan(), frames=0, fps=30.0)) == []
