"""A clip whose H.264 carries CEA-608 captions, as a broadcast or a camera file does: ffmpeg
writes no 608 itself, so the caption data goes into A/53 SEI messages (ITU-T T.35, "GA94")
put before each picture of a raw H.264 stream, which is then muxed into MP4.

The captions are pop-on: loaded off screen from frame 10, shown at frame 30 (End Of
Caption) and cleared at frame 75 (Erase Displayed Memory); at 25 fps, from 1.2 s to 3.0 s.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.steps_job import make

TEXT = "HELLO CC"
SHOWN, CLEARED = 30, 75  # frames
_RCL, _ENM, _EOC, _EDM = (0x14, 0x20), (0x14, 0x2E), (0x14, 0x2F), (0x14, 0x2C)
_PADDING = (0x80, 0x80)


def _odd_parity(byte: int) -> int:
    return byte | (0x80 if bin(byte).count("1") % 2 == 0 else 0)


def _escaped(payload: bytes) -> bytes:
    """Emulation prevention: no 00 00 0x (x <= 3) inside a NAL unit."""
    out, zeros = bytearray(), 0
    for byte in payload:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sei(cc_data: bytes) -> bytes:
    """An A/53 SEI NAL unit carrying ``cc_data`` (whole triplets, at most 31)."""
    count = len(cc_data) // 3
    assert len(cc_data) == 3 * count
    assert 1 <= count <= 31
    body = bytes([0xB5, 0x00, 0x31]) + b"GA94" + bytes([0x03, 0x40 | count, 0xFF])
    body += cc_data + b"\xff"
    return b"\x00\x00\x00\x01\x06" + _escaped(bytes([4, len(body)]) + body + b"\x80")


def field1(pair: tuple[int, int]) -> bytes:
    """A valid CEA-608 field 1 triplet."""
    return bytes([0xFC, _odd_parity(pair[0]), _odd_parity(pair[1])])


PADDING = field1(_PADDING)


def plan_608() -> dict[int, bytes]:
    """Each frame's CEA-608 triplet that is not padding, by frame number."""
    text = TEXT.encode()
    pairs = [_RCL, _RCL, _ENM, _ENM] + [(text[i], text[i + 1]) for i in range(0, len(text), 2)]
    plan = dict(enumerate(pairs, start=10))
    plan.update({SHOWN: _EOC, SHOWN + 1: _EOC, CLEARED: _EDM, CLEARED + 1: _EDM})
    return {frame: field1(pair) for frame, pair in plan.items()}


def with_captions(raw: bytes, plan: dict[int, bytes]) -> bytes:
    """``raw`` (Annex B H.264, no B-frames) with an A/53 SEI before each picture: the
    frame's ``cc_data`` from ``plan``, else one padding pair."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", raw)]
    out, frame = bytearray(), 0
    for n, at in enumerate(starts):
        begin = at - 1 if at > 0 and raw[at - 1] == 0 else at
        nxt = starts[n + 1] if n + 1 < len(starts) else None
        end = len(raw) if nxt is None else nxt - (1 if raw[nxt - 1] == 0 else 0)
        if raw[at + 3] & 0x1F in (1, 5):  # a slice: a picture starts
            out += sei(plan.get(frame, PADDING))
            frame += 1
        out += raw[begin:end]
    return bytes(out)


def captioned_clip(tmp: Path, seconds: int = 6, plan: dict[int, bytes] | None = None) -> Path:
    """An MP4 (H.264 with A/53 captions: ``plan``, CEA-608 by default; AAC) of ``seconds``
    at 320x240, 25 fps."""
    raw = make(tmp, "raw.h264", "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={seconds}",
               "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-pix_fmt", "yuv420p",
               "-f", "h264")  # fmt: skip
    captioned = tmp / "captioned.h264"
    captioned.write_bytes(with_captions(raw.read_bytes(), plan_608() if plan is None else plan))
    return make(tmp, "captioned.mp4", "-r", "25", "-f", "h264", "-i", str(captioned),
                "-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:v", "copy", "-c:a", "aac",
                "-shortest")  # fmt: skip
