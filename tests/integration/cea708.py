"""CEA-708 captions in a clip's H.264, written and read back by hand (independently of the
worker's own reader).

Written: DTVCC packets in the A/53 SEI before each picture (``cc_type`` 3 starts a packet,
2 continues it), each packet one service block of service 1. A pop-on caption: a hidden
window defined and filled at frame 10, shown at frame 30 (DisplayWindows), cleared and
hidden at frame 75. Read: an output rendition's H.264 as Annex B, its SEI NAL units, their
A/53 ``cc_data``, the DTVCC packets and the service blocks in them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import m3u8

from tests.hls_entries import uri_of
from tests.integration.cea608 import PADDING, SHOWN

TEXT = "HELLO 708"
CLEARED = 75
# DefineWindow 0: hidden, row and column lock, anchored bottom centre, 1 row, 32 columns
_DEFINE = bytes([0x98, 0x18, 0x41, 0x50, 0x70, 0x1F, 0x09])
_DISPLAY, _CLEAR, _HIDE = bytes([0x89, 0x01]), bytes([0x88, 0x01]), bytes([0x8A, 0x01])


def packet(sequence: int, service: int, block: bytes) -> bytes:
    """A DTVCC packet of one service block (services 1..6), padded to an even size."""
    data = bytes([(service << 5) | len(block)]) + block
    if len(data) % 2 == 0:  # header and data: an even number of bytes
        data += b"\x00"  # a null block header: padding
    size = len(data) + 1
    return bytes([(sequence % 4) << 6 | size // 2]) + data


def triplets(dtvcc: bytes) -> bytes:
    """A DTVCC packet as cc_data triplets: a start (cc_type 3), then continuations (2)."""
    pairs = [dtvcc[i : i + 2] for i in range(0, len(dtvcc), 2)]
    return b"".join(bytes([0xFF if n == 0 else 0xFE]) + p for n, p in enumerate(pairs))


def plan_708() -> dict[int, bytes]:
    """Each frame's cc_data: the 608 padding pair first, then a packet where there is one."""
    blocks = {10: _DEFINE + TEXT.encode(), SHOWN: _DISPLAY, CLEARED: _CLEAR + _HIDE}
    return {
        frame: PADDING + triplets(packet(n, 1, block))
        for n, (frame, block) in enumerate(blocks.items())
    }


def _unescaped(nal: bytes) -> bytes:
    return re.sub(b"\x00\x00\x03", b"\x00\x00", nal)


def _cc_data(sei: bytes) -> bytes:
    """The A/53 cc_data of one SEI NAL unit's payloads (nothing if it has none)."""
    at, found = 1, b""
    while at < len(sei) - 1:
        kind = size = 0
        while sei[at] == 0xFF:
            kind, at = kind + 255, at + 1
        kind, at = kind + sei[at], at + 1
        while sei[at] == 0xFF:
            size, at = size + 255, at + 1
        size, at = size + sei[at], at + 1
        payload = sei[at : at + size]
        if kind == 4 and payload[3:8] == b"GA94\x03":
            found += payload[10 : 10 + 3 * (payload[8] & 0x1F)]
        at += size
    return found


def service_blocks(h264: bytes) -> list[tuple[int, bytes]]:
    """(service, data) of every service block in the stream's DTVCC packets."""
    cc = b"".join(
        _cc_data(_unescaped(nal)) for nal in re.split(b"\x00\x00\x01", h264) if nal[:1] == b"\x06"
    )
    packets: list[bytearray] = []
    for i in range(0, len(cc) - 2, 3):
        if cc[i] & 0x07 == 0x07:
            packets.append(bytearray(cc[i + 1 : i + 3]))
        elif cc[i] & 0x07 == 0x06 and packets:
            packets[-1] += cc[i + 1 : i + 3]
    blocks: list[tuple[int, bytes]] = []
    for p in packets:
        at = 1
        while at < min(len(p), (p[0] & 0x3F) * 2 or 128) and p[at] >> 5 != 0:
            blocks.append((p[at] >> 5, bytes(p[at + 1 : at + 1 + (p[at] & 0x1F)])))
            at += 1 + (p[at] & 0x1F)
    return blocks


def rendition_h264(playlist: Path, dest: Path) -> bytes:
    """A fMP4 rendition (its init and segments, joined) as Annex B H.264."""
    media = m3u8.load(str(playlist))
    base = playlist.parent
    init = [base / uri_of(media.segment_map[0])] if media.segment_map else []
    parts = [*init, *(base / uri_of(s) for s in media.segments)]
    joined = dest.with_suffix(".mp4")
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(joined), "-map", "0:v", "-c:v",
                    "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(dest)],
                   check=True)  # fmt: skip
    return dest.read_bytes()
