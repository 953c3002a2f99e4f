"""The A/53 caption data a video carries, read: whether CEA-608 field 1 carries anything,
and which CEA-708 services do. Pure: the ``cc_data`` bytes in (as ffmpeg's ``subcc``
stream hands them over, frame after frame), a summary out.

A triplet is ``marker(5) cc_valid(1) cc_type(2)`` and two bytes; one with ``cc_valid`` 0
is padding. ``cc_type`` 0/1: a CEA-608 byte pair of field 1/2 (odd parity; 0x80 0x80 is
padding). 3 starts a DTVCC packet and 2 continues it (CTA-708): the packet's header
``sequence(2) size_code(6)`` gives its length, header included (``size_code * 2`` bytes,
0 meaning 128), and its data is service blocks: ``service(3) block_size(5)``, where
service 7 is followed by ``null(2) extended_service(6)`` (7..63), then ``block_size``
bytes. A block of service 0 is the null block: the rest of the packet is padding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FIELD1, FIELD2, DTVCC_DATA, DTVCC_START = 0, 1, 2, 3  # cc_type
_EXTENDED = 7  # the service number that says an extended one follows


@dataclass(frozen=True, slots=True)
class ServiceBlock:
    service: int  # 1..63
    data: bytes


@dataclass(frozen=True, slots=True)
class CaptionData:
    """What a video's caption data holds: CEA-608 field 1 data (CC1/CC2) other than
    padding, and the CEA-708 services with a block that is not all NUL."""

    field1: bool
    services: frozenset[int]


@dataclass(frozen=True, slots=True)
class CcFrame:
    time: float  # seconds: the frame's presentation time
    data: bytes  # its cc_data triplets


def cc_frames(data: bytes, listing: str) -> list[CcFrame]:
    """``data`` (the frames' cc_data, one after the other) cut into frames by the sizes and
    times ffmpeg's ``framemd5`` muxer listed for the same packets (``#tb 0: 1/12800``, then
    ``stream, dts, pts, duration, size, hash`` a packet). A frame without a time keeps the
    time before it; a listing that outruns the data ends there."""
    num, den, at, time = 1, 1, 0, 0.0
    frames: list[CcFrame] = []
    for line in listing.splitlines():
        if line.startswith("#tb 0:"):
            num, den = (int(x) for x in line.split(":", 1)[1].strip().split("/"))
            continue
        fields = [f.strip() for f in line.split(",")]
        if line.startswith("#") or len(fields) != 6 or not fields[4].isdigit():
            continue
        size = int(fields[4])
        if at + size > len(data):
            break
        time = int(fields[2]) * num / den if fields[2].lstrip("-").isdigit() else time
        frames.append(CcFrame(time, data[at : at + size]))
        at += size
    return frames


def valid_triplets(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(cc_type, byte 1, byte 2)`` of the whole triplets of ``data`` with ``cc_valid`` set
    (a trailing partial one is left out)."""
    whole = len(data) - len(data) % 3
    for head, one, two in zip(data[0:whole:3], data[1:whole:3], data[2:whole:3], strict=True):
        if head & 0x04:
            yield head & 0x03, one, two


def packet_size(header: int) -> int:
    """A DTVCC packet's length in bytes, its header included."""
    code = header & 0x3F
    return 128 if code == 0 else code * 2


def dtvcc_packets(data: bytes) -> Iterator[bytes]:
    """The complete DTVCC packets (header byte first). A packet the next start cuts short,
    or continuation data with no start before it, is dropped."""
    for _, packet in _packets((0.0, kind, one, two) for kind, one, two in valid_triplets(data)):
        yield packet


def timed_packets(frames: Iterable[CcFrame]) -> Iterator[tuple[float, bytes]]:
    """The same over timed frames: each packet with the time of the frame that ends it."""
    triplets = ((f.time, *t) for f in frames for t in valid_triplets(f.data))
    yield from _packets(triplets)


def _packets(triplets: Iterable[tuple[float, int, int, int]]) -> Iterator[tuple[float, bytes]]:
    packet, size, last = bytearray(), 0, b""
    for time, kind, one, two in triplets:
        if kind == DTVCC_START:
            packet, size = bytearray((one, two)), packet_size(one)
        elif kind == DTVCC_DATA and size:
            packet += bytes((one, two))
        if size and len(packet) >= size:
            # a frame repeated (a higher frame rate) repeats its packet, sequence number and
            # all; a new packet has the next sequence number
            if packet[:size] != last:
                last = bytes(packet[:size])
                yield time, last
            packet, size = bytearray(), 0


def service_blocks(packet: bytes) -> Iterator[ServiceBlock]:
    """The service blocks of one DTVCC packet, up to its null block; a block header that
    is broken (an extended number under 7, a block past the packet's end) ends it too."""
    at, end = 1, len(packet)
    while at < end:
        service, size = packet[at] >> 5, packet[at] & 0x1F
        at += 1
        if service == _EXTENDED:
            if at >= end or packet[at] & 0x3F < _EXTENDED:
                return
            service = packet[at] & 0x3F
            at += 1
        if service == 0 or at + size > end:
            return
        yield ServiceBlock(service, packet[at : at + size])
        at += size


def read_cc_data(data: bytes) -> CaptionData:
    field1 = any(kind == FIELD1 and (one | two) & 0x7F for kind, one, two in valid_triplets(data))
    services = {
        block.service
        for packet in dtvcc_packets(data)
        for block in service_blocks(packet)
        if any(block.data)
    }
    return CaptionData(field1, frozenset(services))
