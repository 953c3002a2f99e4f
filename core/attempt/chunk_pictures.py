"""A split job's pictures: each range's share (thumbnails, storyboard tiles, the poster where
it falls; :class:`core.streaming.span.PictureSpan`) taken from its scratch encode into the
job's output directory for upload under the parent's prefix; and, at the stitch, which of
the fetched files are the package's already (uploaded by their range) and which tiles are
scratch to withdraw from the bucket once the sheets are laid out.

The tiles travel through the bucket (under the parent's ``.storyboard-tiles/``, a few KB
each) because a sheet holds tiles of several ranges: only the stitch sees them all.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path

from core.jobs.chunk_model import ChunkEnding, PieceFile
from core.ports import LocalFiles
from core.streaming.pictures import THUMBNAILS_DIR, TILES_DIR
from core.streaming.renditions import StreamingPlan

_PICTURE_DIRS = (THUMBNAILS_DIR, TILES_DIR)


async def range_pictures(
    files: LocalFiles, plan: StreamingPlan, made: Path, out: Path
) -> list[PieceFile]:
    """The pictures the range's encode wrote under ``made`` (its output directory),
    copied to ``out`` (same paths: numbered as the whole encode numbers them)."""
    if plan.thumbnails is None and plan.storyboard is None:
        return []
    await files.make_dirs(out, _PICTURE_DIRS)
    found: list[PieceFile] = []
    for directory in _PICTURE_DIRS:
        for name, size in sorted((await files.sizes(made / directory)).items()):
            path = f"{directory}/{name}"
            await files.write_bytes(out / path, await files.read_bytes(made / path))
            found.append(PieceFile(path=path, size=size))
    return found


def is_tile(path: str) -> bool:
    return posixpath.dirname(path) == TILES_DIR


def uploaded(ended: Sequence[ChunkEnding]) -> frozenset[str]:
    """What the chunks put in the bucket already: the stitch does not upload it again."""
    return frozenset(f.path for e in ended for f in e.files)


def tiles(ended: Sequence[ChunkEnding]) -> list[str]:
    """The storyboard tiles the ranges put in the bucket: scratch once the sheets exist."""
    return [f.path for e in ended for f in e.files if is_tile(f.path)]
