"""The report of a ``scenes`` step (``scenes.json``), from the lines its scan printed.

The scan (:func:`core.steps.branches.scenes_branch`) ends in ``metadata=print``: for each
picked frame, one line with its time, then its metadata, the scene score among them::

    frame:1    pts:50      pts_time:2
    lavfi.scene_score=0.646577

The first frame is always picked: it opens scene 1 (its score is 0, nothing before it).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from core.steps.branches import MAX_SCENE_PICTURES, SCENE_PATTERN

_TIME = re.compile(r"^frame:\s*\d+\s+pts:\s*\S+\s+pts_time:\s*(\S+)\s*$")
_SCORE = re.compile(r"^lavfi\.scene_score=(\S+)\s*$")


class Scene(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int  # from 1
    start: float  # seconds on the transformed picture
    end: float
    score: float  # how far its first frame differs from the one before (0 to 1)
    thumbnail: str | None  # the picture's file name in the step's folder


class ScenesReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    threshold: float
    count: int
    scenes: tuple[Scene, ...]


def parse_scenes(
    text: str, duration: float, threshold: float, thumbnails: bool = True
) -> ScenesReport:
    """Scenes from the scan's printout; each ends where the next starts, the last at
    ``duration`` (the transformed picture's). Lines it does not know are skipped."""
    picks: list[tuple[float, float]] = []
    for line in text.splitlines():
        if m := _TIME.match(line):
            picks.append((float(m.group(1)), 0.0))
        elif (m := _SCORE.match(line)) and picks:
            picks[-1] = (picks[-1][0], float(m.group(1)))
    scenes = tuple(
        Scene(
            index=i + 1,
            start=round(start, 6),
            end=round(picks[i + 1][0] if i + 1 < len(picks) else max(duration, start), 6),
            score=score,
            thumbnail=(SCENE_PATTERN % (i + 1) if thumbnails and i < MAX_SCENE_PICTURES else None),
        )
        for i, (start, score) in enumerate(picks)
    )
    return ScenesReport(threshold=threshold, count=len(scenes), scenes=scenes)
