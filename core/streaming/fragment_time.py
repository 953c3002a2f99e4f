"""Moving a CMAF media segment to its place in the whole timeline: its decode time and its
sequence number, rewritten in place (the same size, so nothing else moves).

ffmpeg 5.1's ``dash`` muxer starts every track's decode time at 0 whatever the packets'
timestamps (``-copyts`` and ``-output_ts_offset`` reach the MPD's ``S@t`` only), so a range
encode's segments say they start at 0 (:mod:`core.streaming.ranges`). ISO/IEC 14496-12: the
``sidx`` before a fragment states its earliest presentation time (32-bit in version 0, 64-bit
in version 1, after reference id and timescale); ``moof/mfhd`` its sequence number (32-bit);
``moof/traf/tfdt`` its track's base media decode time (32 or 64-bit by version). ffmpeg
writes version 1 of both times; a version-0 field that the shift would overflow is refused.
"""

from __future__ import annotations

_CONTAINERS = (b"moof", b"traf")


def retime(segment: bytes, ticks: int, sequence: int) -> bytes:
    """``segment`` with every ``tfdt`` and ``sidx`` time ``ticks`` later (in the track's
    timescale) and every ``mfhd`` saying ``sequence``."""
    out = bytearray(segment)
    _walk(out, 0, len(out), ticks, sequence)
    return bytes(out)


def _walk(data: bytearray, start: int, end: int, ticks: int, sequence: int) -> None:
    at = start
    while at + 8 <= end:
        size, kind = int.from_bytes(data[at : at + 4], "big"), bytes(data[at + 4 : at + 8])
        header = 8
        if size == 1 and at + 16 <= end:
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise ValueError(f"not an fMP4 segment: a box overruns at byte {at}")
        body = at + header
        if kind in _CONTAINERS:
            _walk(data, body, at + size, ticks, sequence)
        elif kind == b"tfdt":
            _add(data, body + 4, 8 if data[body] == 1 else 4, ticks)
        elif kind == b"sidx":  # version, flags, reference id, timescale, then the time
            _add(data, body + 12, 8 if data[body] == 1 else 4, ticks)
        elif kind == b"mfhd":
            data[body + 4 : body + 8] = sequence.to_bytes(4, "big")
        at += size


def _add(data: bytearray, offset: int, width: int, ticks: int) -> None:
    value = int.from_bytes(data[offset : offset + width], "big") + ticks
    if not 0 <= value < 1 << (8 * width):
        raise ValueError(f"a {8 * width}-bit time cannot hold {value}")
    data[offset : offset + width] = value.to_bytes(width, "big")
