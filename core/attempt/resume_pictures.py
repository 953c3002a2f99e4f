"""A resumed encode's pictures: the head's made by a cheap pass, the tail's by its range.

A clean encode makes the thumbnails, the poster and the storyboard tiles in its one pass. A
resumed attempt encodes only the tail (from the resume point), whose range encode makes the
tail's share of them (numbered globally, as a split job's ranges do:
:func:`core.streaming.ranges.plan_range` with ``pictures``). The head's (the frames before
the resume point) come from a pass over the head alone (:func:`head_pictures`), run beside
the tail's encode: the same conditioning and picks as the whole encode, and one rung, a
32x18 stand-in (a range plan needs a rung; that small it costs little beside the decode).
Both shares are copied into the package (:func:`core.attempt.chunk_pictures.range_pictures`);
the whole plan's ``finish`` lays the tiles out into sheets and writes the storyboard's VTT,
as for a clean encode.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from core.media.accel import CPU_ONLY
from core.media.hardening import InputGuard
from core.media.probe import ProbeResult
from core.presets import StreamingPreset
from core.streaming.ranges import (
    STAND_IN,
    SegmentGrid,
    SegmentRange,
    picture_span,
    range_span,
)
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.span import VideoSpan


def head_range(grid: SegmentGrid, rows: int) -> SegmentRange:
    """The kept segments' frames: segments ``0..rows`` (end exclusive), from frame 0."""
    cuts = grid.cuts
    if not 0 < rows < len(cuts):
        raise ValueError(f"no head of {rows} segments in a grid of {len(cuts)}")
    return SegmentRange(0, rows, 0, cuts[rows], 0, last=False)


def head_pictures(
    preset: StreamingPreset, probe: ProbeResult, source: PurePosixPath, out: PurePosixPath,
    grid: SegmentGrid, rows: int, guard: InputGuard,
) -> StreamingPlan | None:  # fmt: skip
    """The pass that makes the head's pictures under ``out`` (scratch: its stand-in rung
    is thrown away); None where the preset makes no picture. On the CPU: a decode and a few
    small scalings, nothing for a GPU to do."""
    if preset.thumbnails is None and preset.storyboard is None:
        return None
    span = head_span(grid, rows, probe)
    full = plan_streaming(preset, probe, source, out, CPU_ONLY, guard, span=span)
    if full.ladder is None or not full.ladder.rungs:
        return full
    # one stand-in rung, not the ladder's: each costs a scaling of every decoded frame.
    # The pictures' sizes follow the top rung: kept only where they come out the same
    top = full.ladder.rungs[0].name
    slim = preset.model_copy(update={"ladder": tuple(r for r in preset.ladder if r.name == top)})
    plan = plan_streaming(slim, probe, source, out, CPU_ONLY, guard, span=span)
    same = (plan.thumbnails, plan.storyboard) == (full.thumbnails, full.storyboard)
    return plan if same else full


def head_span(grid: SegmentGrid, rows: int, probe: ProbeResult) -> VideoSpan:
    """The head pass's hooks: the head's frames, their pictures numbered from the first,
    every rung a stand-in."""
    head = head_range(grid, rows)
    pictures = picture_span(grid, head, head, probe)
    return replace(range_span(grid, head), stand_in=STAND_IN, pictures=pictures)
