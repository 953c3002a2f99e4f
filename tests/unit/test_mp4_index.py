"""core.media.mp4_index on hand-made sample tables: offsets from chunk offsets and
sample-to-chunk runs (32- and 64-bit), decode times from time-to-sample runs, a window
reaching back to its sync sample, every track's bytes merged; the tables it does not read
exactly (stz2, an edit list moving a track far, a fragmented file's empty tables) refused."""

from __future__ import annotations

import struct

from core.media.mp4_index import Box, merge, parse_moov, top_level


def box(kind: bytes, *children: bytes) -> bytes:
    body = b"".join(children)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, body: bytes, version: int = 0) -> bytes:
    return box(kind, struct.pack(">I", version << 24) + body)


def table(fmt: str, rows: list[tuple[int, ...]]) -> bytes:
    return struct.pack(">I", len(rows)) + b"".join(struct.pack(fmt, *r) for r in rows)


def trak(
    handler: bytes, *, timescale: int, stts: list[tuple[int, int]], sizes: list[int],
    stsc: list[tuple[int, int, int]], chunks: list[int], sync: list[int] | None = None,
    wide: bool = False, edits: list[tuple[int, int]] | None = None, stz2: bool = False,
) -> bytes:  # fmt: skip
    stbl = [
        full(b"stts", table(">II", list(stts))),
        full(b"stsc", table(">III", list(stsc))),
        full(b"co64", table(">Q", [(c,) for c in chunks])) if wide
        else full(b"stco", table(">I", [(c,) for c in chunks])),
        full(b"stz2" if stz2 else b"stsz", struct.pack(">II", 0, len(sizes))
             + b"".join(struct.pack(">I", s) for s in sizes)),
    ]  # fmt: skip
    if sync is not None:
        stbl.append(full(b"stss", table(">I", [(n,) for n in sync])))
    mdhd = full(b"mdhd", struct.pack(">IIII", 0, 0, timescale, 0))
    hdlr = full(b"hdlr", struct.pack(">I4s", 0, handler) + bytes(12))
    parts = [box(b"mdia", mdhd, hdlr, box(b"minf", box(b"stbl", *stbl)))]
    if edits is not None:
        parts.insert(
            0, box(b"edts", full(b"elst", table(">IiI", [(d, m, 1 << 16) for d, m in edits])))
        )
    return box(b"trak", *parts)


def moov(*traks: bytes) -> bytes:
    return box(b"moov", full(b"mvhd", struct.pack(">III", 0, 0, 1000) + bytes(80)), *traks)


VIDEO = dict(
    timescale=30, stts=[(9, 1)], sizes=[100] * 9,
    stsc=[(1, 2, 1), (3, 1, 1)],  # chunks 1-2 hold two samples, from chunk 3 on one
    chunks=[1000, 2000, 3000, 4000, 5000, 6000, 7000], sync=[1, 5, 9],
)  # fmt: skip


def test_offsets_follow_the_chunks_and_the_runs() -> None:
    index = parse_moov(moov(trak(b"vide", **VIDEO)))  # type: ignore[arg-type]
    assert index is not None
    [video] = index.tracks
    assert video.offsets == [1000, 1100, 2000, 2100, 3000, 4000, 5000, 6000, 7000]
    assert video.times == list(range(9))
    assert video.sync == [0, 4, 8]
    wide = parse_moov(moov(trak(b"vide", wide=True, **VIDEO)))  # type: ignore[arg-type]
    assert wide is not None
    assert wide.tracks[0].offsets == video.offsets


def test_a_window_reaches_back_to_its_sync_sample_and_merges_the_tracks() -> None:
    audio = trak(b"soun", timescale=10, stts=[(3, 1)], sizes=[50, 50, 50],
                 stsc=[(1, 1, 1)], chunks=[1200, 3100, 6100])  # fmt: skip
    index = parse_moov(moov(trak(b"vide", **VIDEO), audio))  # type: ignore[arg-type]
    assert index is not None
    # samples 6-7 (0.2-0.23 s) of the video: from sync sample 4 (4000) to 7's end (6100);
    # the audio's sample at 0.2 s (its third, at 6100-6150) joins the span it touches
    assert index.spans(6 / 30, 7 / 30) == [(3000, 6150)]
    assert index.spans(0.0, 0.0) == [(1000, 1100), (1200, 1250)]


def test_tables_it_does_not_read_exactly_are_refused() -> None:
    assert parse_moov(moov(trak(b"vide", stz2=True, **VIDEO))) is None  # type: ignore[arg-type]
    far = trak(b"vide", edits=[(2000, -1), (9000, 0)], **VIDEO)  # type: ignore[arg-type]
    assert parse_moov(moov(far)) is None  # an empty edit of 2 s: the times move too far
    near = trak(b"vide", edits=[(9000, 1)], **VIDEO)  # type: ignore[arg-type]
    assert parse_moov(moov(near)) is not None  # a priming sample skipped: within the margin
    empty = trak(b"vide", timescale=30, stts=[], sizes=[], stsc=[], chunks=[])
    assert parse_moov(moov(empty)) is None  # fragmented: the samples are in moof boxes
    assert parse_moov(b"not a box at all") is None


def test_top_level_boxes_and_merged_spans() -> None:
    assert top_level(struct.pack(">I4s", 24, b"ftyp")) == Box(b"ftyp", 0, 24)
    large = struct.pack(">I4sQ", 1, b"mdat", 5 << 32)
    assert top_level(large, 32) == Box(b"mdat", 32, 5 << 32)
    assert top_level(struct.pack(">I4s", 0, b"mdat"), 40, file_size=1000) == Box(b"mdat", 40, 960)
    assert top_level(b"\x00\x00\x00\x10\x00\x01\x02\x03") is None  # not a box's name
    assert merge([(50, 60), (0, 10), (12, 20)], gap=2) == [(0, 20), (50, 60)]
