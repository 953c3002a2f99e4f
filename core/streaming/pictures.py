"""Pictures from the same pass as the ladder: a poster, a thumbnail every N seconds, and
storyboard sprite sheets (their WebVTT track is written by :mod:`core.streaming.storyboard`).

Each is a branch of the ladder's ``split``: frames are picked by number from the
constant-rate picture, so "one every N seconds, from the first" is exact, and the count
follows from the frame count alone.

The storyboard's tiles are written one by one in that pass and laid out into sheets by a
second, small ffmpeg run afterwards (:func:`core.streaming.storyboard.sheets_argvs`, once the tiles
are counted: each sheet is sized to the tiles it holds). A ``tile`` filter in the pass
would hold its output back until a whole sheet is full, and ffmpeg reports no progress until
every output has started: with 100 tiles 5 s apart, none for the first 500 s of picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from core.media.plan import poster_pick, poster_time
from core.media.probe import ProbeResult, VideoStream
from core.presets import StreamingPreset
from core.streaming.ladder import FittedLadder, FittedRung
from core.streaming.span import PictureSpan

THUMBNAILS_DIR = "thumbnails"
TILES_DIR = ".storyboard-tiles"  # scratch in the output directory; never published


@dataclass(frozen=True, slots=True)
class ThumbnailPlan:
    poster: str
    pattern: str  # image2 pattern, numbered from 1
    every_frames: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class StoryboardPlan:
    pattern: str  # the sheets
    tiles: str  # the single tiles the pass writes, numbered from 1
    vtt: str
    every_frames: int
    every_seconds: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int


def image_plans(
    preset: StreamingPreset, ladder: FittedLadder, fps: float
) -> tuple[ThumbnailPlan | None, StoryboardPlan | None]:
    top = ladder.rungs[0]
    thumbs = board = None
    if preset.thumbnails:
        width = min(preset.thumbnails.width, top.width)
        thumbs = ThumbnailPlan(
            poster=f"{THUMBNAILS_DIR}/poster.jpg",
            pattern=f"{THUMBNAILS_DIR}/thumb-%05d.jpg",
            every_frames=max(1, round(preset.thumbnails.every_seconds * fps)),
            width=width,
            height=_even_height(width, top),
        )
    if preset.storyboard:
        sb = preset.storyboard
        width = min(sb.tile_width, top.width)
        every = max(1, round(sb.every_seconds * fps))
        board = StoryboardPlan(
            pattern=f"{THUMBNAILS_DIR}/storyboard-%03d.jpg",
            tiles=f"{TILES_DIR}/tile-%05d.jpg",
            vtt=f"{THUMBNAILS_DIR}/storyboard.vtt",
            every_frames=every,
            every_seconds=every / fps,
            tile_width=width,
            tile_height=_even_height(width, top),
            columns=sb.columns,
            rows=sb.rows,
        )
    return thumbs, board


def image_branches(
    thumbs: ThumbnailPlan | None,
    board: StoryboardPlan | None,
    video: VideoStream,
    probe: ProbeResult,
    to_cpu: str = "",
    tag: str = "",
    span: PictureSpan | None = None,
) -> list[tuple[str, str]]:
    """(split label, filter chain) for each picture output; frames picked by number, which
    the constant rate makes exact (one every N seconds, from the first). ``to_cpu`` copies
    the picked frames out of GPU memory on a GPU tier, before the CPU scales them (the
    poster's, before the pick: see ``poster_pick``). ``tag`` prefixes every label. ``span``:
    a range's share (its frames numbered globally; the poster only where it falls)."""
    branches = []
    if thumbs and (span is None or span.poster):
        at = poster_time(video.duration or probe.duration)
        branches.append(
            (
                f"[{tag}p]",
                f"[{tag}p]{poster_pick(at, to_cpu)},setpts=PTS-STARTPTS,"
                f"scale={thumbs.width}:{thumbs.height},setsar=1[{tag}poster]",
            )
        )
    if thumbs:
        branches.append(
            (
                f"[{tag}t]",
                f"[{tag}t]select={_pick(thumbs.every_frames, span)},"
                f"{to_cpu}scale={thumbs.width}:{thumbs.height},setsar=1[{tag}thumbs]",
            )
        )
    if board:
        branches.append(
            (
                f"[{tag}s]",
                f"[{tag}s]select={_pick(board.every_frames, span)},"
                f"{to_cpu}scale={board.tile_width}:{board.tile_height},setsar=1[{tag}board]",
            )
        )
    return branches


def _pick(every: int, span: PictureSpan | None) -> str:
    return span.pick(every) if span else f"not(mod(n\\,{every}))"


def image_outputs(
    out: PurePosixPath, thumbs: ThumbnailPlan | None, board: StoryboardPlan | None,
    tag: str = "", span: PictureSpan | None = None,
) -> list[str]:  # fmt: skip
    args: list[str] = []
    if thumbs and (span is None or span.poster):
        poster = f"[{tag}poster]"
        args += ["-map", poster, "-frames:v", "1", "-q:v", "3", f"file:{out / thumbs.poster}"]
    if thumbs:
        first = span.start_number(thumbs.every_frames) if span else 1
        args += _numbered_jpegs(f"[{tag}thumbs]", out / thumbs.pattern, first)
    if board:
        first = span.start_number(board.every_frames) if span else 1
        args += _numbered_jpegs(f"[{tag}board]", out / board.tiles, first)
    return args


def _numbered_jpegs(label: str, pattern: PurePosixPath, first: int = 1) -> list[str]:
    """One JPEG per frame the branch lets through, numbered from ``first`` (``-fps_mode
    passthrough``: the picked frames are written as they come, never duplicated)."""
    numbered = ("-start_number", str(first)) if first != 1 else ()
    return ["-map", label, "-fps_mode", "passthrough", "-q:v", "4", "-f", "image2",
            *numbered, f"file:{pattern}"]  # fmt: skip


def _even_height(width: int, top: FittedRung) -> int:
    return max(2, round(width * top.height / top.width / 2) * 2)
