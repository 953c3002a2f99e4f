"""Streams that broadcast and disc captures carry and that ffmpeg 5.1 cannot encode, written
byte by byte: a bitmap subtitle to start from, DVB teletext and SCTE-35 cues in MPEG-TS.

- :func:`pgs_subtitles`: a Blu-ray (PGS, ``.sup``) subtitle of one box shown for a second.
  ffmpeg encodes bitmap subtitles only from bitmap subtitles (``dvbsub``/``dvdsub`` refuse
  text), and decodes this one to make the DVB and DVD subtitle streams.
- :func:`add_teletext_and_cues`: an ffmpeg-made transport stream with two more elementary
  streams in its first program, as a DVB multiplex has them: teletext (stream type 0x06 with
  a teletext descriptor, EN 300 472) and SCTE-35 splice information (stream type 0x86, with
  the program's CUEI registration). ffmpeg has no teletext encoder and its muxer writes no
  SCTE-35; ffprobe reads both (``dvb_teletext``, ``scte_35``).
"""

from __future__ import annotations

import struct

PACKET = 188
TELETEXT_PID = 0x0120
CUES_PID = 0x0130


def pgs_subtitles(width: int, height: int, start: float = 0.1, seconds: float = 1.0) -> bytes:
    """One white 64x16 box near the bottom, shown at ``start`` and cleared ``seconds`` later."""
    on, off = round(start * 90_000), round((start + seconds) * 90_000)
    return _display_set(on, width, height, True) + _display_set(off, width, height, False)


def _segment(kind: int, pts: int, body: bytes) -> bytes:
    return b"PG" + struct.pack(">IIBH", pts, pts, kind, len(body)) + body


def _display_set(pts: int, width: int, height: int, shown: bool) -> bytes:
    box_w, box_h, x, y = 64, 16, 16, height - 32
    # presentation composition: epoch start with one object, or a normal case with none
    pcs = struct.pack(
        ">HHBHBBBB",
        width,
        height,
        0x10,
        0 if shown else 1,
        0x80 if shown else 0,
        0,
        0,
        1 if shown else 0,
    )
    if shown:
        pcs += struct.pack(">HBBHH", 0, 0, 0, x, y)
    out = _segment(0x16, pts, pcs)
    out += _segment(0x17, pts, struct.pack(">BBHHHH", 1, 0, x, y, box_w, box_h))  # window
    if shown:
        palette = bytes([0, 0, 1, 235, 128, 128, 255])  # id, version; entry 1: opaque white
        # run-length lines: box_w pixels of colour 1 (0x00, 0b11 + 14-bit run, colour), end
        line = bytes([0, 0xC0 | (box_w >> 8), box_w & 0xFF, 1, 0, 0])
        rle = line * box_h
        ods = struct.pack(">HBB", 0, 0, 0xC0) + (len(rle) + 4).to_bytes(3, "big")
        ods += struct.pack(">HH", box_w, box_h) + rle
        out += _segment(0x14, pts, palette) + _segment(0x15, pts, ods)
    return out + _segment(0x80, pts, b"")


def add_teletext_and_cues(ts: bytes) -> bytes:
    """``ts`` (ffmpeg's mpegts muxer output) with teletext and SCTE-35 in its first program:
    the first program's PMT rewritten, and one teletext PES and one splice_null section
    after each copy of it."""
    packets = [ts[at : at + PACKET] for at in range(0, len(ts), PACKET)]
    pmt_pid = _first_pmt_pid(packets)
    first_pts = _first_pts(packets)
    out: list[bytes] = []
    counter = 0
    for packet in packets:
        if _pid(packet) == pmt_pid and packet[1] & 0x40:
            out.append(_with_more_streams(packet))
            out.append(_teletext(first_pts + counter * 45_000, counter))
            out.append(_ts_packet(CUES_PID, counter, b"\x00" + _splice_null()))
            counter += 1
        else:
            out.append(packet)
    return b"".join(out)


def _pid(packet: bytes) -> int:
    return ((packet[1] & 0x1F) << 8) | packet[2]


def _payload(packet: bytes) -> bytes:
    at = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)  # past an adaptation field
    return packet[at:]


def _first_pmt_pid(packets: list[bytes]) -> int:
    pat = next(_payload(p) for p in packets if _pid(p) == 0)
    section = pat[1 + pat[0] :]  # past the pointer field
    for at in range(8, 8 + ((section[1] & 0x0F) << 8 | section[2]) - 9, 4):
        program = int.from_bytes(section[at : at + 2], "big")
        if program:  # program 0 points at the network information table
            return int.from_bytes(section[at + 2 : at + 4], "big") & 0x1FFF
    raise ValueError("no program in the PAT")


def _first_pts(packets: list[bytes]) -> int:
    """The first PTS of any PES (the teletext is timed from it)."""
    for packet in packets:
        body = _payload(packet)
        if packet[1] & 0x40 and body[:3] == b"\x00\x00\x01" and body[7] & 0x80:
            p = body[9:14]
            return ((p[0] >> 1) & 7) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1
    raise ValueError("no PES with a PTS")


def _with_more_streams(packet: bytes) -> bytes:
    """The PMT packet with a CUEI registration and the teletext and SCTE-35 entries."""
    payload = _payload(packet)
    section = payload[1 + payload[0] :]
    length = (section[1] & 0x0F) << 8 | section[2]
    body = section[3 : 3 + length - 4]  # program number .. end of the stream loop, no CRC
    info_len = (body[7] & 0x0F) << 8 | body[8]
    cuei = b"\x05\x04CUEI"
    head = body[:7] + struct.pack(">H", 0xF000 | (info_len + len(cuei))) + body[9 : 9 + info_len]
    streams = body[9 + info_len :]
    teletext_descriptor = b"\x56\x05deu" + bytes([(1 << 3) | 1, 0x00])  # initial page, 100
    streams += _stream_entry(0x06, TELETEXT_PID, teletext_descriptor)
    streams += _stream_entry(0x86, CUES_PID, b"")
    new_body = head + cuei + streams
    new_section = bytes([0x02]) + struct.pack(">H", 0xB000 | (len(new_body) + 4)) + new_body
    new_section += struct.pack(">I", crc32_mpeg(new_section))
    header = bytes([0x47, 0x40 | (_pid(packet) >> 8), _pid(packet) & 0xFF, 0x10 | packet[3] & 0x0F])
    return (header + b"\x00" + new_section).ljust(PACKET, b"\xff")


def _stream_entry(stream_type: int, pid: int, descriptors: bytes) -> bytes:
    return struct.pack(">BHH", stream_type, 0xE000 | pid, 0xF000 | len(descriptors)) + descriptors


def _teletext(pts: int, counter: int) -> bytes:
    """One PES of EBU teletext as DVB carries it: a header 0x24 bytes long, the data
    identifier, then three stuffing data units of 44 bytes (no page is on air)."""
    stamp = bytes([0x21 | (pts >> 29) & 0x0E, (pts >> 22) & 0xFF, 0x01 | (pts >> 14) & 0xFE,
                   (pts >> 7) & 0xFF, 0x01 | (pts << 1) & 0xFE])  # fmt: skip
    header = b"\x80\x80\x24" + stamp + b"\xff" * (0x24 - 5)
    units = b"\x10" + (b"\xff\x2c" + b"\xff" * 44) * 3
    pes = b"\x00\x00\x01\xbd" + struct.pack(">H", len(header) + len(units)) + header + units
    return _ts_packet(TELETEXT_PID, counter, pes)


def _splice_null() -> bytes:
    """An SCTE-35 splice_info_section carrying splice_null (the heartbeat between cues)."""
    body = bytes([0x00, 0x00, 0, 0, 0, 0, 0x00, 0xFF, 0xF0, 0x00, 0x00, 0x00, 0x00])
    section = bytes([0xFC]) + struct.pack(">H", 0x3000 | (len(body) + 4)) + body
    return section + struct.pack(">I", crc32_mpeg(section))


def _ts_packet(pid: int, counter: int, payload: bytes) -> bytes:
    """One packet starting a unit; a short payload is padded by an adaptation field."""
    assert len(payload) <= PACKET - 4
    pad = PACKET - 4 - len(payload)
    if pad == 0:
        return bytes([0x47, 0x40 | pid >> 8, pid & 0xFF, 0x10 | counter & 0x0F]) + payload
    field = bytes([pad - 1]) + (b"\x00" + b"\xff" * (pad - 2) if pad > 1 else b"")
    return bytes([0x47, 0x40 | pid >> 8, pid & 0xFF, 0x30 | counter & 0x0F]) + field + payload


def crc32_mpeg(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected, no final xor): PSI sections."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc
