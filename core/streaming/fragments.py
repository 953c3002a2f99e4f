"""What a CMAF media segment says of itself, read from its boxes (no ffprobe, no decode).

The per-segment QC runs while the encode still has every core: reading a few boxes is
enough to know where a segment starts, how long it lasts and whether it opens on a keyframe.
ISO/IEC 14496-12: a media segment is ``moof`` (``traf``: ``tfhd``, ``tfdt``, ``trun``) then
``mdat``; the times are in the track's timescale, which only the init segment's ``mdhd``
states (and ``trex`` in ``mvex`` may hold the track's default sample duration and flags).
One track per segment (CMAF); a segment of several fragments is read whole. A box that does
not parse ends the reading of its parent: the facts say what was found.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# views, not copies: a segment's mdat is megabytes, and only its neighbours are read
_Bytes = bytes | memoryview

_NON_SYNC = 0x00010000  # sample_is_non_sync_sample, in a sample's flags

# tfhd flags: which optional fields follow the track ID, and their sizes, in order
_TFHD_FIELDS = ((0x01, "base", 8), (0x02, "index", 4), (0x08, "duration", 4),
                (0x10, "size", 4), (0x20, "flags", 4))  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrackDefaults:
    """An init segment's facts about its track."""

    timescale: int  # ticks per second (``mdhd``)
    handler: str = ""  # ``hdlr``'s handler type: "vide", "soun"
    sample_duration: int | None = None  # ``trex``'s default, when a fragment states none
    sample_flags: int | None = None


@dataclass(frozen=True, slots=True)
class FragmentFacts:
    """A media segment's facts, in its track's ticks."""

    decode_time: int  # ``tfdt`` of its first fragment: where it starts on the track
    duration: int  # the sum of its samples' durations
    samples: int
    starts_with_sync: bool  # the first sample a sync sample (no flags stated: it is)


def read_init(data: bytes) -> TrackDefaults | None:
    """The track's timescale and defaults from an init segment; None without ``mdhd``."""
    timescale = None
    duration = flags = None
    handler = ""
    for kind, body in _walk(memoryview(data), (b"moov", b"trak", b"mdia", b"mvex")):
        if kind == b"mdhd" and len(body) >= 24:
            at = 4 + (16 if body[0] == 1 else 8)  # version, flags; creation, modification
            timescale = _u32(body, at)
        elif kind == b"hdlr" and len(body) >= 12:
            handler = bytes(body[8:12]).decode("latin-1")
        elif kind == b"trex" and len(body) >= 24:
            duration, flags = _u32(body, 12), _u32(body, 20)
    if not timescale:
        return None
    return TrackDefaults(timescale, handler, duration, flags)


def read_fragment(data: bytes, defaults: TrackDefaults | None = None) -> FragmentFacts | None:
    """A media segment's start, length, sample count and first sample's sync flag; None
    when it holds no ``traf`` with a ``tfdt``."""
    decode_time: int | None = None
    duration = samples = 0
    first_sync = True
    for traf in (body for kind, body in _walk(memoryview(data), (b"moof",)) if kind == b"traf"):
        run = _read_traf(traf, defaults)
        if run is None:
            continue
        start, ticks, count, sync = run
        if decode_time is None:
            decode_time, first_sync = start, sync
        duration += ticks
        samples += count
    if decode_time is None:
        return None
    return FragmentFacts(decode_time, duration, samples, first_sync)


def _read_traf(
    traf: memoryview, defaults: TrackDefaults | None
) -> tuple[int, int, int, bool] | None:
    """(decode time, duration, samples, first sample sync) of one track fragment."""
    tfhd: dict[str, int] = {}
    decode_time = None
    duration = samples = 0
    first_sync = True
    for kind, body in _walk(traf, ()):
        if kind == b"tfhd":
            tfhd = _read_tfhd(body)
        elif kind == b"tfdt" and len(body) >= 8:
            decode_time = _u64(body, 4) if body[0] == 1 and len(body) >= 12 else _u32(body, 4)
        elif kind == b"trun":
            ticks, count, sync = _read_trun(body, tfhd, defaults)
            first_sync = sync if samples == 0 else first_sync
            duration, samples = duration + ticks, samples + count
    if decode_time is None:
        return None
    return decode_time, duration, samples, first_sync


def _read_tfhd(body: memoryview) -> dict[str, int]:
    flags = _u24(body, 1)
    found: dict[str, int] = {}
    at = 8  # version, flags, track ID
    for bit, name, size in _TFHD_FIELDS:
        if flags & bit:
            if at + size > len(body):
                break
            found[name] = _u64(body, at) if size == 8 else _u32(body, at)
            at += size
    return found


def _read_trun(
    body: memoryview, tfhd: dict[str, int], defaults: TrackDefaults | None
) -> tuple[int, int, bool]:
    """(duration, samples, first sample sync) of one track run."""
    if len(body) < 8:
        return 0, 0, True
    flags, count = _u24(body, 1), _u32(body, 4)
    at = 8 + (4 if flags & 0x01 else 0)  # data offset
    first_flags = None
    if flags & 0x04:
        first_flags, at = _u32(body, at), at + 4
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
    width = 4 * len(fields)
    count = min(count, (len(body) - at) // width) if width else count
    default = tfhd.get("duration", defaults.sample_duration if defaults else None) or 0
    duration = 0
    for n in range(count):
        sample = at + n * width
        duration += _u32(body, sample) if flags & 0x100 else default
        if n == 0 and first_flags is None and flags & 0x400:
            first_flags = _u32(body, sample + 4 * fields.index(0x400))
    if first_flags is None:
        first_flags = tfhd.get("flags", defaults.sample_flags if defaults else None)
    # no flags anywhere: a sample's flags are all zero, which says sync
    return duration, count, not (first_flags or 0) & _NON_SYNC


def _walk(data: memoryview, containers: tuple[bytes, ...]) -> Iterator[tuple[bytes, memoryview]]:
    """Every box (type, body) at the top level of ``data``, and inside the ``containers``."""
    at = 0
    while at + 8 <= len(data):
        size, kind = _u32(data, at), bytes(data[at + 4 : at + 8])
        header = 8
        if size == 1 and at + 16 <= len(data):  # a 64-bit size follows the type
            size, header = _u64(data, at + 8), 16
        elif size == 0:  # the box runs to the end
            size = len(data) - at
        if size < header or at + size > len(data):
            return  # not a box (or cut short): stop here
        body = data[at + header : at + size]
        yield kind, body
        if kind in containers:
            yield from _walk(body, containers)
        at += size


def _u24(data: _Bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 3], "big")


def _u32(data: _Bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def _u64(data: _Bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "big")
