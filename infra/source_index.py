"""The byte ranges a split job's chunks read of the input, found in the parent's download.

The parent has the whole input on its disk when it plans the chunks: its top-level boxes
are walked (a header each), its ``moov`` read and its sample index parsed
(:mod:`core.media.mp4_index`), and each picture chunk is given the bytes its range encode
decodes: its window of every track (a margin either side of the seek and the trim), the
first seconds (what ffmpeg reads to open the file) and the boxes that describe them. A chunk
downloads only those, into a sparse file of the input's size (``ObjectStore``'s
``download_spans``). An input this does not read exactly (not MP4 or MOV, fragmented, an
edit list that moves a track far) gives None: the chunks download it whole. So does one
where the ranges would save little (more than ``MOST`` of the file).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from core.media.mp4_index import Box, Span, merge, parse_moov, top_level

OPENING_SECONDS = 2.0  # what ffmpeg reads of every track to open the file, before its seek
MOST = 0.7  # of the file: a chunk reading more than this reads it whole
MAX_BOXES = 10_000
MAX_MOOV = 256 << 20  # a 2-hour film's index is a few MB


class Mp4SourceIndex:
    async def spans(
        self, path: Path, windows: Sequence[tuple[float, float]]
    ) -> list[tuple[Span, ...]] | None:
        """Per window (seconds of the input), the byte ranges a reader of it needs."""
        return await asyncio.to_thread(_spans, path, windows)


def _spans(path: Path, windows: Sequence[tuple[float, float]]) -> list[tuple[Span, ...]] | None:
    size = path.stat().st_size
    with path.open("rb") as f:
        boxes: list[Box] = []
        while len(boxes) < MAX_BOXES and (at := boxes[-1].end if boxes else 0) < size:
            f.seek(at)
            box = top_level(f.read(16), at, size)
            if box is None or box.end > size:
                return None
            boxes.append(box)
        moov = [b for b in boxes if b.kind == b"moov"]
        if len(moov) != 1 or moov[0].size > MAX_MOOV or not any(b.kind == b"mdat" for b in boxes):
            return None
        f.seek(moov[0].start)
        index = parse_moov(f.read(moov[0].size))
    if index is None:
        return None
    # every box but the media data whole, and the media data's header (a reader walks it)
    head = [(b.start, b.end) if b.kind != b"mdat" else (b.start, b.start + 16) for b in boxes]
    opening = index.spans(0.0, OPENING_SECONDS)
    gap = min(1 << 20, size // 100)  # spans this close are one request
    found = [tuple(merge([*head, *opening, *index.spans(a, b)], gap)) for a, b in windows]
    if any(_total(w) > MOST * size for w in found):
        return None
    return found


def _total(spans: Sequence[Span]) -> int:
    return sum(end - start for start, end in spans)
