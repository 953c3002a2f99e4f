"""The byte ranges a split job's chunks read of the input, found in the parent's copy of it.

The parent has the input's index on its disk when it plans the chunks: its top-level boxes
are walked (a header each), its ``moov`` read and its sample index parsed
(:mod:`core.media.mp4_index`), and each picture chunk is given the bytes its range encode
decodes: its window of every track (a margin either side of the seek and the trim), the
first seconds (what ffmpeg reads to open the file) and the boxes that describe them; the
audio chunk, the sound's samples alone (runs between the picture's, one request each: the
unmapped picture is demuxed from the holes and never decoded), where they lie in few enough
runs (at most two a second and ``MAX_RUNS``: half an hour interleaved by the second, as
editors write files; ffmpeg's own interleaves by the frame: its sound is read whole). A
chunk downloads only those, into a sparse file of the input's size (``ObjectStore``'s
``download_spans``). The parent of a job that may be split need not download the input
either: :meth:`Mp4SourceIndex.fetch_head` reads its boxes (a header each, the index whole)
and its opening seconds, enough for ffprobe and for the chunks' spans; a job that is not
split after all downloads the rest then. An input this does not read exactly (not MP4 or
MOV, fragmented, an edit list that moves a track far) gives None: the chunks download it
whole. So does one where the ranges would save little (more than ``MOST`` of the file).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path

import structlog

from core.media.mp4_index import Box, SampleIndex, Span, merge, parse_moov, top_level
from core.models import S3ObjectRef
from core.ports import SpanReads

log = structlog.get_logger("ffapi.sources")

OPENING_SECONDS = 2.0  # what ffmpeg reads of every track to open the file, before its seek
MOST = 0.7  # of the file: a chunk reading more than this reads it whole
MAX_BOXES = 10_000
MAX_MOOV = 256 << 20  # a 2-hour film's index is a few MB
RUNS_PER_SECOND = 2  # a request each: a film interleaved by the second, or the half-second
MAX_RUNS = 2048  # the plan keeps them in the job's record (DynamoDB: 400 KB an item)
SOUND_GAP = 64 << 10  # the sound's runs lie between the picture's: joined only when this close
HEADER_READ = 64 << 10  # read at each top-level box: its header, and a small box whole


class Mp4SourceIndex:
    """``reads``: the object store's ranged reads, for :meth:`fetch_head`."""

    def __init__(self, reads: SpanReads | None = None) -> None:
        self._reads = reads

    async def fetch_head(self, ref: S3ObjectRef, dest: Path) -> bool:
        """Only what probing and splitting the input need, into a sparse file at ``dest``:
        its top-level boxes but the media data (a header each, the ``moov`` whole) and its
        opening seconds of every track; a few ranged reads, however long the film. False
        when it is not an MP4 this reads (or its size is not pinned): ``dest`` is then
        no use, and the input is downloaded whole."""
        if self._reads is None or ref.size is None or ref.size < 16:
            return False
        size, read = ref.size, 0

        async def fetch(spans: Sequence[Span]) -> None:
            nonlocal read
            assert self._reads is not None
            await self._reads.download_spans(ref, spans, dest)
            read += sum(b - a for a, b in spans)

        at, moov = 0, None
        for _ in range(MAX_BOXES):
            if at >= size:
                break
            await fetch([(at, min(size, at + HEADER_READ))])
            box = await asyncio.to_thread(_box_at, dest, at, size)
            if box is None or box.kind == b"moof":
                return False  # not a box, or fragmented: its samples are not indexed up front
            if box.kind == b"moov" and box.size <= MAX_MOOV:
                await fetch([(box.start, box.end)])
                moov = box
            at = box.end
        index = await asyncio.to_thread(_index_at, dest, moov) if moov else None
        if index is None:
            return False
        await fetch(index.spans(0.0, OPENING_SECONDS))
        log.info("source.head", bytes=read, of=size)
        return True

    async def spans(
        self, path: Path, windows: Sequence[tuple[float, float]]
    ) -> list[tuple[Span, ...]] | None:
        """Per window (seconds of the input), the byte ranges a reader of it needs."""
        return await asyncio.to_thread(_spans, path, windows)

    async def sound(self, path: Path) -> tuple[Span, ...] | None:
        """The byte ranges a reader of the whole sound needs (the picture's left out)."""
        return await asyncio.to_thread(_sound, path)


def _spans(path: Path, windows: Sequence[tuple[float, float]]) -> list[tuple[Span, ...]] | None:
    read = _read_index(path)
    if read is None:
        return None
    index, head, size = read
    opening = index.spans(0.0, OPENING_SECONDS)
    gap = min(1 << 20, size // 100)  # spans this close are one request
    found = [tuple(merge([*head, *opening, *index.spans(a, b)], gap)) for a, b in windows]
    if any(_total(w) > MOST * size for w in found):
        return None
    return found


def _sound(path: Path) -> tuple[Span, ...] | None:
    read = _read_index(path)
    if read is None:
        return None
    index, head, size = read
    sound = index.sound(SOUND_GAP)
    if sound is None or len(sound) > min(RUNS_PER_SECOND * index.duration + 16, MAX_RUNS):
        return None  # no sound, or in too many runs: as many requests, and the plan's size
    found = tuple(merge([*head, *index.spans(0.0, OPENING_SECONDS), *sound], SOUND_GAP))
    return found if _total(found) <= MOST * size else None


def _read_index(path: Path) -> tuple[SampleIndex, list[Span], int] | None:
    """The file's sample index, the spans of its boxes but the media data's body, its size."""
    info = path.stat()
    return _index_of(str(path), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _index_of(name: str, size: int, _mtime_ns: int) -> tuple[SampleIndex, list[Span], int] | None:
    """Read once per file as it is (its windows, then its sound: a film's index is parsed
    once, not twice)."""
    path = Path(name)
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
    return index, head, size


def _box_at(path: Path, at: int, size: int) -> Box | None:
    with path.open("rb") as f:
        f.seek(at)
        box = top_level(f.read(16), at, size)
    return box if box is not None and box.end <= size else None


def _index_at(path: Path, moov: Box) -> SampleIndex | None:
    with path.open("rb") as f:
        f.seek(moov.start)
        return parse_moov(f.read(moov.size))


def _total(spans: Sequence[Span]) -> int:
    return sum(end - start for start, end in spans)
