"""Where a time range of an MP4 (or MOV) input lies in the file: its sample index read.

A chunk of a split job decodes only its range of the input (a second or so either side), so
it needs only the bytes of those samples, and the boxes that describe them: a 2-hour film's
chunk reads a 120th of it. :func:`top_level` lists the file's boxes (the ``moov`` may come
after the ``mdat``, or before it); :func:`parse_moov` reads each track's sample table
(``stts`` times, ``stsz`` sizes, ``stsc`` + ``stco``/``co64`` offsets, ``stss`` sync
samples); :meth:`SampleIndex.spans` gives the byte ranges of every track's samples whose
decode time falls in a window, the video's reaching back to the sync sample before it.

Only what this reads exactly is answered: a fragmented file (its samples in ``moof`` boxes),
a ``stz2`` table, an edit list that moves a track by more than ``MAX_SHIFT`` seconds, or a
table that does not add up is None, and the caller reads the whole file, as before. Pure:
the bytes come from the caller.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from itertools import accumulate

MAX_SHIFT = 1.5  # seconds an edit list may move a track's times (the window's margin covers it)
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
Span = tuple[int, int]  # [start, end) in the file


@dataclass(frozen=True, slots=True)
class Box:
    kind: bytes
    start: int  # the header's first byte, in the file
    size: int  # header included

    @property
    def end(self) -> int:
        return self.start + self.size


def top_level(head: bytes, at: int = 0, file_size: int | None = None) -> Box | None:
    """The box whose header starts ``head`` (read at ``at`` in the file); None when
    ``head`` is too short or is no box header."""
    if len(head) < 8:
        return None
    size, kind = struct.unpack(">I4s", head[:8])
    if size == 1:
        if len(head) < 16:
            return None
        (size,) = struct.unpack(">Q", head[8:16])
    elif size == 0:  # to the end of the file
        if file_size is None:
            return None
        size = file_size - at
    if size < 8 or not all(32 <= c < 127 for c in kind):
        return None
    return Box(kind, at, size)


@dataclass(frozen=True, slots=True)
class Track:
    video: bool
    timescale: int
    times: list[int]  # each sample's decode time, in the track's timescale
    offsets: list[int]
    sizes: list[int]
    sync: list[int] | None  # 0-based sync samples, None: every sample is one

    def span(self, start: float, end: float) -> Span | None:
        """The bytes of the samples decoded in [start, end] seconds (the video's from the
        sync sample at or before ``start``)."""
        first = bisect.bisect_left(self.times, start * self.timescale)
        last = bisect.bisect_right(self.times, end * self.timescale) - 1
        if self.video and self.sync is not None:
            back = bisect.bisect_right(self.sync, first) - 1
            first = self.sync[back] if back >= 0 else 0
        first = min(max(first, 0), len(self.times) - 1)
        last = min(max(last, first), len(self.times) - 1)
        offsets, sizes = self.offsets[first : last + 1], self.sizes[first : last + 1]
        return min(offsets), max(o + s for o, s in zip(offsets, sizes, strict=True))

    def runs(self) -> list[Span]:
        """The bytes of all its samples, as the runs they lie in (a chunk's samples are one
        run): a track interleaved with others is read without them."""
        ends = [o + s for o, s in zip(self.offsets, self.sizes, strict=True)]
        return merge(list(zip(self.offsets, ends, strict=True)), 0)


@dataclass(frozen=True, slots=True)
class SampleIndex:
    tracks: tuple[Track, ...]

    @property
    def duration(self) -> float:
        """Seconds, the longest track's decode times."""
        return max(t.times[-1] / t.timescale for t in self.tracks)

    def sound(self, gap: int) -> list[Span] | None:
        """Every sound track's samples (runs closer than ``gap`` joined); None without one."""
        runs = [r for t in self.tracks if not t.video for r in t.runs()]
        return merge(runs, gap) if runs else None

    def spans(self, start: float, end: float) -> list[Span]:
        """Every track's bytes for [start, end] seconds, overlapping ones merged."""
        return merge([s for t in self.tracks if (s := t.span(start, end)) is not None], 0)


def merge(spans: list[Span], gap: int = 1 << 20) -> list[Span]:
    """Sorted spans joined where they overlap or lie within ``gap`` bytes of each other (one
    request rather than two)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def parse_moov(moov: bytes) -> SampleIndex | None:
    """The sample index of a ``moov`` box (its bytes, header included); None when it is not
    one this reads exactly."""
    try:
        boxes = _children(moov, 8)
        timescale = _movie_timescale(boxes.get(b"mvhd", []))
        tracks = [_track(t, timescale) for t in boxes.get(b"trak", [])]
    except (struct.error, ValueError, IndexError, ZeroDivisionError):
        return None
    kept = tuple(t for t in tracks if t is not None)
    if len(kept) != len(tracks) or not kept:
        return None
    return SampleIndex(kept)


def _children(data: bytes, at: int) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    while at + 8 <= len(data):
        box = top_level(data[at : at + 16], at, len(data))
        if box is None or box.end > len(data):
            raise ValueError("a box runs past its parent")
        found.setdefault(box.kind, []).append(data[at : box.end])
        at = box.end
    return found


def _payload(box: bytes) -> bytes:
    (size,) = struct.unpack(">I", box[:4])
    return box[16:] if size == 1 else box[8:]


def _movie_timescale(mvhd: list[bytes]) -> int:
    body = _payload(mvhd[0])
    (timescale,) = struct.unpack(">I", body[20:24] if body[0] == 1 else body[12:16])
    return int(timescale)


def _track(trak: bytes, movie_timescale: int) -> Track | None:
    boxes = _children(trak, 8)
    mdia = _children(boxes[b"mdia"][0], 8)
    mdhd = _payload(mdia[b"mdhd"][0])
    (timescale,) = struct.unpack(">I", mdhd[20:24] if mdhd[0] == 1 else mdhd[12:16])
    video = _payload(mdia[b"hdlr"][0])[8:12] == b"vide"
    stbl = _children(_children(mdia[b"minf"][0], 8)[b"stbl"][0], 8)
    if b"stz2" in stbl or b"stsz" not in stbl:
        return None
    shift = _edit_shift(boxes.get(b"edts", []), movie_timescale, timescale)
    if shift is None or abs(shift) > MAX_SHIFT:
        return None
    sizes = _sizes(_payload(stbl[b"stsz"][0]))
    times = _times(_payload(stbl[b"stts"][0]))
    offsets = _offsets(stbl, sizes)
    if not sizes or len(times) != len(sizes) or len(offsets) != len(sizes):
        return None  # fragmented (no samples here) or a table that does not add up
    sync = _sync(stbl.get(b"stss", []))
    return Track(video, timescale, times, offsets, sizes, sync)


def _edit_shift(edts: list[bytes], movie_timescale: int, timescale: int) -> float | None:
    """Seconds the edit list moves the track's times (an empty edit delays it; a media time
    skips its start); None for an edit list of more than one media segment."""
    if not edts:
        return 0.0
    elst = _children(edts[0], 8).get(b"elst")
    if not elst:
        return 0.0
    body = _payload(elst[0])
    wide = body[0] == 1
    (count,) = struct.unpack(">I", body[4:8])
    row = ">QqI" if wide else ">IiI"
    delay, media = 0.0, []
    rows = body[8 : 8 + count * struct.calcsize(row)]
    for duration, media_time, _ in struct.iter_unpack(row, rows):
        if media_time == -1:
            delay += duration / movie_timescale
        else:
            media.append(media_time / timescale)
    if len(media) > 1:
        return None
    return delay - (media[0] if media else 0.0)


def _sizes(stsz: bytes) -> list[int]:
    size, count = struct.unpack(">II", stsz[4:12])
    if size:
        return [size] * count
    return [s for (s,) in struct.iter_unpack(">I", stsz[12 : 12 + 4 * count])]


def _times(stts: bytes) -> list[int]:
    (count,) = struct.unpack(">I", stts[4:8])
    deltas: list[int] = []
    for n, delta in struct.iter_unpack(">II", stts[8 : 8 + 8 * count]):
        deltas.extend([delta] * n)
    return [0, *accumulate(deltas)][: len(deltas)]


def _offsets(stbl: dict[bytes, list[bytes]], sizes: list[int]) -> list[int]:
    if b"co64" in stbl:
        body, row = _payload(stbl[b"co64"][0]), ">Q"
    else:
        body, row = _payload(stbl[b"stco"][0]), ">I"
    (count,) = struct.unpack(">I", body[4:8])
    chunks = [c for (c,) in struct.iter_unpack(row, body[8 : 8 + count * struct.calcsize(row)])]
    stsc = _payload(stbl[b"stsc"][0])
    (runs,) = struct.unpack(">I", stsc[4:8])
    table = list(struct.iter_unpack(">III", stsc[8 : 8 + 12 * runs]))
    offsets: list[int] = []
    for k, (first, per_chunk, _) in enumerate(table):
        last = table[k + 1][0] - 1 if k + 1 < len(table) else len(chunks)
        for chunk in range(first - 1, last):
            at = chunks[chunk]
            for _ in range(per_chunk):
                if len(offsets) == len(sizes):
                    return offsets
                offsets.append(at)
                at += sizes[len(offsets) - 1]
    return offsets


def _sync(stss: list[bytes]) -> list[int] | None:
    if not stss:
        return None
    body = _payload(stss[0])
    (count,) = struct.unpack(">I", body[4:8])
    return [n - 1 for (n,) in struct.iter_unpack(">I", body[8 : 8 + 4 * count])]
