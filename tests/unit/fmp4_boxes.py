"""Tiny fMP4 init and media segments built box by box, for the fragment reader and the
per-segment QC (the real muxer's bytes are read in tests/integration/test_segment_watch.py)."""

from __future__ import annotations

from collections.abc import Sequence

SYNC = 0x02000000  # depends on no other sample
NON_SYNC = 0x01010000  # depends on others, sample_is_non_sync_sample


def box(kind: bytes, *children: bytes) -> bytes:
    body = b"".join(children)
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def full(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + body)


def u32(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "big") for v in values)


def init_segment(timescale: int, handler: bytes = b"vide", *, version: int = 0) -> bytes:
    times = bytes(16) if version == 1 else bytes(8)  # creation, modification
    mdhd = full(b"mdhd", version, 0, times + u32(timescale) + bytes(8 if version else 4) + u32(0))
    hdlr = full(b"hdlr", 0, 0, u32(0) + handler + bytes(12) + b"\0")
    trex = full(b"trex", 0, 0, u32(1, 1, 0, 0, 0))
    moov = box(b"moov", box(b"trak", box(b"mdia", mdhd, hdlr)), box(b"mvex", trex))
    return box(b"ftyp", b"iso6", u32(0)) + moov


def media_segment(
    decode_time: int, durations: Sequence[int], first_flags: int = SYNC, *,
    per_sample_flags: bool = False, default_duration: int | None = None, tfdt_version: int = 1,
) -> bytes:  # fmt: skip
    """One fragment: ``durations`` per sample in the trun (or all ``default_duration`` in the
    tfhd); the first sample's flags in the trun's first_sample_flags (or per sample)."""
    tfhd_flags = 0x020000 | 0x20 | (0x08 if default_duration is not None else 0)
    tfhd_body = u32(1) + (u32(default_duration) if default_duration is not None else b"")
    tfhd = full(b"tfhd", 0, tfhd_flags, tfhd_body + u32(NON_SYNC))
    time = decode_time.to_bytes(8 if tfdt_version == 1 else 4, "big")
    tfdt = full(b"tfdt", tfdt_version, 0, time)
    trun_flags = 0x01 | (0x100 if default_duration is None else 0) | 0x200
    trun_flags |= 0x400 if per_sample_flags else 0x04
    head = u32(len(durations), 0) + (b"" if per_sample_flags else u32(first_flags))
    samples = b""
    for n, duration in enumerate(durations):
        samples += u32(duration) if default_duration is None else b""
        samples += u32(100)  # size
        if per_sample_flags:
            samples += u32(first_flags if n == 0 else NON_SYNC)
    trun = full(b"trun", 0, trun_flags, head + samples)
    moof = box(b"moof", full(b"mfhd", 0, 0, u32(1)), box(b"traf", tfhd, tfdt, trun))
    return box(b"styp", b"msdh") + moof + box(b"mdat", bytes(100 * len(durations)))
