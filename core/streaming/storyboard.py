"""The storyboard's sprite sheets and WebVTT track: one cue per tile, pointing into its sheet.

Players (video.js, Shaka, JW, Vidstack) read ``sheet.jpg#xywh=x,y,w,h`` cues to show a
preview while seeking. The tiles are the frames ``select`` picked, one every N frames of a
constant-rate picture, so their count and times follow from the frame count alone. Sheets
hold columns x rows tiles in reading order; the last (or only) one is no bigger than the
tiles it holds, so a 30 s clip's six tiles make a 960x90 sheet, not a black 1600x900 one.
"""

from __future__ import annotations

import math
import posixpath
from pathlib import PurePosixPath

from core.media.hardening import InputGuard
from core.media.plan import GLOBAL_FLAGS
from core.streaming.pictures import StoryboardPlan

# The tiles are our own JPEGs: local files and the image2 demuxer only.
_TILES = InputGuard(formats=("image2",), codecs=None, max_pixels=None, max_streams=None)


def tile_count(plan: StoryboardPlan, frames: int) -> int:
    return math.ceil(frames / plan.every_frames) if frames > 0 else 0


def sheet_count(plan: StoryboardPlan, frames: int) -> int:
    return math.ceil(tile_count(plan, frames) / (plan.columns * plan.rows))


def sheet_grid(plan: StoryboardPlan, tiles: int) -> tuple[int, int]:
    """(columns, rows) of a sheet holding ``tiles`` tiles: the plan's, or fewer for fewer
    tiles. The tiles keep their places (slot i at column i % columns, row i // columns)."""
    held = min(tiles, plan.columns * plan.rows)
    columns = max(1, min(plan.columns, held))
    return columns, max(1, math.ceil(held / columns))


def sheets_argvs(
    plan: StoryboardPlan, out: PurePosixPath, tiles: int
) -> tuple[tuple[str, ...], ...]:
    """Lay the pass's ``tiles`` out into sheets: every full sheet in one run, then the last,
    part-filled one in a run of its own at its own size (the ``tile`` filter has one grid).
    Reads only our own numbered JPEGs: the image2 demuxer, local files."""
    per_sheet = plan.columns * plan.rows
    full, rest = divmod(tiles, per_sheet)
    runs = []
    if full:
        runs.append(_sheets_argv(plan, out, 0, full, (plan.columns, plan.rows)))
    if rest:
        runs.append(_sheets_argv(plan, out, full, 1, sheet_grid(plan, rest)))
    return tuple(runs)


def _sheets_argv(
    plan: StoryboardPlan, out: PurePosixPath, first: int, sheets: int, grid: tuple[int, int]
) -> tuple[str, ...]:
    """``sheets`` sheets from the ``first`` (from 0), each ``grid`` tiles."""
    return (
        "ffmpeg", *GLOBAL_FLAGS, *_TILES.flags("image2"),
        "-framerate", "1", "-start_number", str(first * plan.columns * plan.rows + 1),
        "-i", f"file:{out / plan.tiles}",
        "-vf", f"tile={grid[0]}x{grid[1]}", "-frames:v", str(sheets), "-fps_mode", "passthrough",
        "-q:v", "4", "-start_number", str(first + 1), "-f", "image2",
        f"file:{out / plan.pattern}",
    )  # fmt: skip


def storyboard_vtt(plan: StoryboardPlan, frames: int, fps: float) -> str:
    per_sheet = plan.columns * plan.rows
    end_of_picture = frames / fps
    lines = ["WEBVTT", ""]
    for tile in range(tile_count(plan, frames)):
        start = tile * plan.every_frames / fps
        end = min((tile + 1) * plan.every_frames / fps, end_of_picture)
        sheet, slot = divmod(tile, per_sheet)
        x = (slot % plan.columns) * plan.tile_width
        y = (slot // plan.columns) * plan.tile_height
        name = posixpath.basename(plan.pattern) % (sheet + 1)
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{name}#xywh={x},{y},{plan.tile_width},{plan.tile_height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
