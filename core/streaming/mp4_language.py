"""The language of an fMP4 initialization segment's track, written into its ``mdhd`` box.

ffmpeg 5.1's ``dash`` muxer hands its per-representation muxers no stream metadata, so every
audio init segment says ``und`` whatever ``-metadata:s:a:N language=`` asked; the MPD and the
master playlist carry the language, and this puts it in the segments too (what a player or
tool that reads the media itself sees). ISO/IEC 14496-12: ``mdhd`` is a full box in
``moov/trak/mdia``; after its times, timescale and duration (32-bit in version 0, 64-bit in
version 1) come 16 bits: a pad bit and three letters, each as 5 bits of (letter - 0x60).
"""

from __future__ import annotations

import re

_CONTAINERS = (b"moov", b"trak", b"mdia")
_ISO639_2 = re.compile(r"[a-z]{3}")


def tag_language(init: bytes, language: str) -> bytes:
    """``init`` with every ``mdhd`` stating ``language`` (three lowercase letters; anything
    else, or a segment without the box, is returned unchanged)."""
    if not _ISO639_2.fullmatch(language):
        return init
    packed = 0
    for letter in language:
        packed = (packed << 5) | (ord(letter) - 0x60)
    out = bytearray(init)
    for offset in _mdhd_offsets(out, 0, len(out)):
        out[offset : offset + 2] = packed.to_bytes(2, "big")
    return bytes(out)


def _mdhd_offsets(data: bytearray, start: int, end: int) -> list[int]:
    """Where the language field of each ``mdhd`` between ``start`` and ``end`` lies."""
    found: list[int] = []
    at = start
    while at + 8 <= end:
        size, kind = int.from_bytes(data[at : at + 4], "big"), bytes(data[at + 4 : at + 8])
        header = 8
        if size == 1 and at + 16 <= end:  # a 64-bit size follows the type
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:  # the box runs to the end
            size = end - at
        if size < header or at + size > end:
            break  # not a box: leave the rest alone
        if kind in _CONTAINERS:
            found += _mdhd_offsets(data, at + header, at + size)
        elif kind == b"mdhd" and size >= header + 4:
            version = data[at + header]
            field = at + header + 4 + (28 if version == 1 else 16)
            if field + 2 <= at + size:
                found.append(field)
        at += size
    return found
