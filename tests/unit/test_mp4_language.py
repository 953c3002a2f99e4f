"""core.streaming.mp4_language: the language of an init segment's track, read back by the bit layout
ISO/IEC 14496-12 gives ``mdhd`` (and by ffprobe in tests/integration/test_audio_tracks.py)."""

from __future__ import annotations

import pytest

from core.streaming.mp4_language import tag_language


def box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def mdhd(version: int, language: str = "und") -> bytes:
    times = bytes(28 if version == 1 else 16)  # creation, modification, timescale, duration
    packed = 0
    for letter in language:
        packed = (packed << 5) | (ord(letter) - 0x60)
    return box(b"mdhd", bytes([version, 0, 0, 0]) + times + packed.to_bytes(2, "big") + bytes(2))


def init(version: int) -> bytes:
    media = box(b"mdia", mdhd(version) + box(b"hdlr", bytes(24)))
    return box(b"ftyp", b"iso6") + box(b"moov", box(b"mvhd", bytes(100)) + box(b"trak", media))


def language(data: bytes) -> str:
    at = data.index(b"mdhd") - 4
    version = data[at + 8]
    packed = int.from_bytes(data[at + 12 + (28 if version == 1 else 16) :][:2], "big")
    return "".join(chr(((packed >> shift) & 31) + 0x60) for shift in (10, 5, 0))


@pytest.mark.parametrize("version", [0, 1])
def test_the_language_lands_in_mdhd_and_nothing_else_moves(version: int) -> None:
    before = init(version)
    after = tag_language(before, "spa")
    assert language(before) == "und"
    assert language(after) == "spa"
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(before, after, strict=True)) <= 2
    assert tag_language(after, "spa") == after


@pytest.mark.parametrize("code", ["en", "ENG", "e1g", ""])
def test_what_mdhd_cannot_hold_leaves_the_segment_alone(code: str) -> None:
    assert tag_language(init(0), code) == init(0)


def test_a_damaged_box_tree_is_left_alone() -> None:
    whole = init(0)
    damaged = whole[:12] + b"\xff\xff\xff\xff" + whole[16:]  # moov's size: past the end
    assert tag_language(damaged, "spa") == damaged
    assert tag_language(b"\x00\x00\x00", "spa") == b"\x00\x00\x00"
