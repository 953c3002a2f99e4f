"""Hostile inputs, made here: playlists and scripts that reach for the canary and the secret
file, pictures and files that lie about their size, length and shape, and broken files.

Text fixtures are built per case (their URLs carry the case's tag, so a canary hit names
its case); the media fixtures are encoded once per session (``MediaFixtures``). None of them
contains the secret itself: only its address.
"""

from __future__ import annotations

import random
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FFMPEG = ("ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error")
TEN_HOURS = 36_000


# --- text that names other resources ---------------------------------------------------------


def hls_media(segments: list[str]) -> bytes:
    """An HLS media playlist whose segments are ``segments`` (URLs or paths)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0"]
    for segment in segments:
        lines += ["#EXTINF:10.0,", segment]
    return ("\n".join([*lines, "#EXT-X-ENDLIST", ""])).encode()


def hls_master(child: str) -> bytes:
    """An HLS master playlist with one variant, ``child``."""
    lines = ["#EXTM3U", "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=320x180", child, ""]
    return "\n".join(lines).encode()


def ffconcat(entries: list[str]) -> bytes:
    """A concat demuxer script (``ffconcat version 1.0``) listing ``entries``."""
    return ("\n".join(["ffconcat version 1.0", *(f"file '{e}'" for e in entries), ""])).encode()


def dash_mpd(base_url: str, representation_url: str) -> bytes:
    return f"""<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><BaseURL>{base_url}</BaseURL>
<Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1000" width="64"
 height="64" codecs="avc1.42c00a"><BaseURL>{representation_url}</BaseURL></Representation>
</AdaptationSet></Period></MPD>
""".encode()


def svg(image_urls: list[str]) -> bytes:
    images = "".join(f'<image xlink:href="{u}" width="64" height="64"/>' for u in image_urls)
    return (
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">{images}</svg>\n'
    ).encode()


def xml_entity(path: str, url: str) -> bytes:
    """XML with external entities (XXE): a parser that resolves them reads both."""
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY s SYSTEM "file://{path}">'
        f'<!ENTITY u SYSTEM "{url}">]>\n<x>&s;&u;</x>\n'
    ).encode()


def ass_subtitles(font_path: str, url: str) -> bytes:
    """An ASS script whose override tags name a local file and a URL."""
    return f"""[Script Info]
ScriptType: v4.00+
PlayResX: 64
PlayResY: 64

[V4+ Styles]
Format: Name, Fontname, Fontsize
Style: Default,Arial,20

[Events]
Format: Layer, Start, End, Style, Text
Dialogue: 0,0:00:00.00,0:00:05.00,Default,{{\\fn{font_path}}}{url}
""".encode()


# --- media that lies -------------------------------------------------------------------------


def huge_png(width: int = 16000, height: int = 16000) -> bytes:
    """A valid PNG of ``width`` x ``height`` 1-bit grey pixels, all black: a few tens of KB
    that decode to hundreds of MB."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def claim_duration(mp4: bytes, seconds: int = TEN_HOURS) -> bytes:
    """``mp4`` with every duration its headers state (movie, tracks, media, edit lists)
    set to ``seconds``; the samples stay as they were."""
    data = bytearray(mp4)
    movie_scale = 0
    for kind, at, _ in _boxes(data, 0, len(data)):
        version = data[at]
        if kind == b"mvhd":
            movie_scale = _set_duration(data, at, version, scale_at=(12, 20))
        elif kind == b"tkhd":
            _put_duration(data, at + (28 if version else 20), version, seconds * movie_scale)
        elif kind == b"mdhd":
            _set_duration(data, at, version, scale_at=(12, 20), seconds=seconds)
        elif kind == b"elst":
            count = struct.unpack_from(">I", data, at + 4)[0]
            size = 20 if version else 12
            for i in range(count):
                _put_duration(data, at + 8 + i * size, version, seconds * movie_scale)
    return bytes(data)


def _set_duration(
    data: bytearray, at: int, version: int, scale_at: tuple[int, int], seconds: int = TEN_HOURS
) -> int:
    """mvhd and mdhd: version, flags, two times, the timescale, the duration."""
    offset = scale_at[1] if version else scale_at[0]
    scale = struct.unpack_from(">I", data, at + offset)[0]
    _put_duration(data, at + offset + 4, version, seconds * scale)
    return int(scale)


def _put_duration(data: bytearray, at: int, version: int, value: int) -> None:
    struct.pack_into(">Q" if version else ">I", data, at, value)


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _boxes(data: bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload offset, end) of every box, depth first, into the containers above."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = end - at
        if size < header:
            return
        yield kind, at + header, at + size
        if kind in _CONTAINERS:
            yield from _boxes(data, at + header, at + size)
        at += size


def moov_span(mp4: bytes) -> tuple[int, int]:
    data = bytearray(mp4)
    for kind, at, end in _boxes(data, 0, len(data)):
        if kind == b"moov":
            return at, end
    raise ValueError("no moov box")


def flip_bits(mp4: bytes, seed: int, flips: int = 24) -> bytes:
    """``mp4`` with ``flips`` single bits flipped at random (seeded) inside its moov box."""
    data = bytearray(mp4)
    start, end = moov_span(mp4)
    rng = random.Random(seed)
    for _ in range(flips):
        at = rng.randrange(start, end)
        data[at] ^= 1 << rng.randrange(8)
    return bytes(data)


# --- the media fixtures, encoded once ----------------------------------------------------------


_TS_PACKET = 188
_PTS_HZ = 90_000


def jump_pts(ts: bytes, seconds: float) -> bytes:
    """An MPEG-TS whose middle video frame is stamped ``seconds`` late (its PTS only, as one
    damaged byte does): the file still states its true length (ffprobe reads the first and
    last timestamps), but ffmpeg, left alone, fills the gap with copies of a frame."""
    data = bytearray(ts)
    headers = [
        at for at in _pes_headers(data) if data[at + 3] == 0xE0 and data[at + 7] & 0xC0 == 0xC0
    ]
    at = headers[len(headers) // 2] + 9  # the PTS, after the PES header's fixed part
    pts = (_read_stamp(data, at) + round(seconds * _PTS_HZ)) % (1 << 33)
    marker = data[at] & 0xF0  # "0011": a PTS followed by a DTS
    data[at : at + 5] = bytes([
        marker | (pts >> 29 & 0x0E) | 1, pts >> 22 & 0xFF, (pts >> 14 & 0xFE) | 1,
        pts >> 7 & 0xFF, (pts << 1 & 0xFE) | 1,
    ])  # fmt: skip
    return bytes(data)


def _pes_headers(data: bytearray) -> Iterator[int]:
    """Where each PES packet starts: in a TS packet that opens a payload, after its header
    and adaptation field."""
    for at in range(0, len(data) - _TS_PACKET + 1, _TS_PACKET):
        if not data[at + 1] & 0x40:  # payload_unit_start_indicator
            continue
        start = at + 4 + (1 + data[at + 4] if data[at + 3] & 0x20 else 0)
        if data[start : start + 3] == b"\x00\x00\x01":
            yield start


def _read_stamp(data: bytearray, at: int) -> int:
    b = data[at : at + 5]
    return (b[0] >> 1 & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


@dataclass(frozen=True)
class MediaFixtures:
    clip: bytes  # 2 s, 320x180, H.264/AAC, moov first: a good input
    moov_last: bytes  # the same, moov at the end (the first half has no index)
    png: bytes  # 16000 x 16000
    png_mkv: bytes  # that PNG stream-copied into Matroska, never decoded
    ten_hours: bytes  # a 1 s clip whose headers claim ten hours
    many_streams: bytes  # Matroska, 1 video + 39 audio streams
    pts_jump: bytes  # the clip as MPEG-TS, its middle frame stamped three hours late

    @classmethod
    def make(cls, scratch: Path) -> MediaFixtures:
        scratch.mkdir(parents=True, exist_ok=True)
        png = huge_png()
        (scratch / "big.png").write_bytes(png)
        return cls(
            clip=_encode(scratch / "clip.mp4", seconds=2, faststart=True),
            moov_last=_encode(scratch / "moov-last.mp4", seconds=2, faststart=False),
            png=png,
            png_mkv=_run_to(scratch / "big.mkv", "-i", f"file:{scratch / 'big.png'}", "-c", "copy"),
            ten_hours=claim_duration(_encode(scratch / "one.mp4", seconds=1, faststart=True)),
            many_streams=_many_streams(scratch / "many.mkv", 40),
            pts_jump=jump_pts(
                _run_to(
                    scratch / "clip.ts",
                    "-i",
                    f"file:{scratch / 'clip.mp4'}",
                    "-c",
                    "copy",
                    "-f",
                    "mpegts",
                ),
                3 * 3600,
            ),
        )


def _encode(dest: Path, seconds: int, faststart: bool) -> bytes:
    return _run_to(
        dest,
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=15:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest",
        *(["-movflags", "+faststart"] if faststart else []),
    )  # fmt: skip


def _many_streams(dest: Path, streams: int) -> bytes:
    audio = ["-map", "1:a"] * (streams - 1)
    return _run_to(
        dest,
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=1",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=1",
        "-map", "0:v", *audio, "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "pcm_s16le",
    )  # fmt: skip


def _run_to(dest: Path, *args: str) -> bytes:
    subprocess.run([*FFMPEG, *args, f"file:{dest}"], check=True, capture_output=True, timeout=120)
    return dest.read_bytes()
