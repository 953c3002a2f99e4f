"""The pictures a package's pass wrote, counted against what the picture's length calls for:
a thumbnail every N frames and a poster, and the storyboard's sheets (QC's image checks)."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping

from core.streaming.pictures import StoryboardPlan, ThumbnailPlan
from core.streaming.storyboard import sheet_count, tile_count


def picture_problems(
    thumbnails: ThumbnailPlan | None,
    storyboard: StoryboardPlan | None,
    sizes: Mapping[str, int],
    frames: int,
) -> list[str]:
    """What is missing or too many, in words (none: every picture is there)."""
    problems: list[str] = []
    if thumbnails:
        expected = math.ceil(frames / thumbnails.every_frames) if frames else 0
        found = count_named(sizes, thumbnails.pattern)
        if found != expected or thumbnails.poster not in sizes:
            problems.append(
                f"{found} thumbnails for {expected} expected, poster "
                f"{'present' if thumbnails.poster in sizes else 'missing'}"
            )
    if storyboard:
        found, expected = count_named(sizes, storyboard.pattern), sheet_count(storyboard, frames)
        if found != expected:
            problems.append(
                f"{found} storyboard sheets for {expected} expected "
                f"({tile_count(storyboard, frames)} tiles)"
            )
    return problems


def count_named(sizes: Mapping[str, int], pattern: str) -> int:
    """The files in ``sizes`` that ``pattern`` (``dir/name-%05d.jpg``) names."""
    directory, name = posixpath.split(pattern)
    regex = re.compile(
        re.escape(name).replace(re.escape("%05d"), r"\d{5}").replace(re.escape("%03d"), r"\d{3}")
    )
    return sum(
        1
        for p in sizes
        if posixpath.dirname(p) == directory and regex.fullmatch(posixpath.basename(p))
    )
