"""The storyboard's WebVTT track: one cue per tile, pointing into its sprite sheet.

Players (video.js, Shaka, JW, Vidstack) read ``sheet.jpg#xywh=x,y,w,h`` cues to show a
preview while seeking. The tiles are the frames ``select`` picked, one every N frames of a
constant-rate picture, so their count and times follow from the frame count alone.
"""

from __future__ import annotations

import math
import posixpath

from core.pictures import StoryboardPlan


def tile_count(plan: StoryboardPlan, frames: int) -> int:
    return math.ceil(frames / plan.every_frames) if frames > 0 else 0


def sheet_count(plan: StoryboardPlan, frames: int) -> int:
    return math.ceil(tile_count(plan, frames) / (plan.columns * plan.rows))


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
