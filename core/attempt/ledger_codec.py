"""The segment ledger (:mod:`core.attempt.ledger`) as the job record keeps it: one compact
attribute, bytes.

A two-hour film at 4 s segments in seven playlists is 12,600 segments, and a DynamoDB item
holds 400 KB. As JSON under zlib the sizes (six or seven decimal digits each, no two alike)
took 85 KB; here a small JSON header says each playlist's name, init segment, count and
paths (a numbered template, ``[prefix, first number, width, suffix]``, where the paths
follow ffmpeg's ``%05d`` numbering, as they do; else listed), and two binary columns follow
it: the durations as varints of their differences (almost all 0: one byte, which zlib
squeezes to bits) and the sizes as varints (three bytes each). The film takes about 40 KB
(``tests/unit/test_ledger.py``).

Layout, all under zlib: varint(header length), the header (UTF-8 JSON), then for each
playlist its ``n`` durations (zigzag varints of each one less the one before), then its
``n`` sizes (varints).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator, Sequence

from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt, ValidationError

from core.attempt.ledger import LedgerSegment, PlaylistLedger, SegmentLedger

LEDGER_VERSION = 1
# The most a ledger may take in the record: beyond it an attempt stops recording (its
# resume covers the rows recorded so far); far beyond any real film's.
MAX_LEDGER_BYTES = 256 * 1024
_MAX_INFLATED = 8 * 1024 * 1024  # a corrupt ledger stops here
_DIGITS = re.compile(r"\d+")
_LONGEST_VARINT = 10  # bytes: 64 bits


class LedgerUnreadable(ValueError):
    """The stored bytes are no ledger this version reads: the record has none to resume."""


class _Playlist(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    m: str  # the media playlist
    i: str | None = None  # its init segment
    n: NonNegativeInt = 0  # its segments
    t: tuple[str, NonNegativeInt, PositiveInt, str] | None = None  # their paths, numbered
    l: tuple[str, ...] | None = None  # noqa: E741 (the header's keys are letters) or listed


class _Header(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    v: int
    f: str
    p: tuple[_Playlist, ...] = ()


def encode_ledger(ledger: SegmentLedger) -> bytes:
    """The ledger as the record keeps it (read back by :func:`decode_ledger`)."""
    header = {
        "v": LEDGER_VERSION,
        "f": ledger.fingerprint,
        "p": [_head(p) for p in ledger.playlists],
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    body = bytearray(_varint(len(text)))
    body += text
    for playlist in ledger.playlists:
        body += _columns(playlist.segments)
    return zlib.compress(bytes(body), 9)


def _head(playlist: PlaylistLedger) -> dict[str, object]:
    paths = [s.path for s in playlist.segments]
    head: dict[str, object] = {"m": playlist.playlist, "n": len(paths)}
    if playlist.init is not None:
        head["i"] = playlist.init
    if (template := _template(paths)) is not None:
        head["t"] = list(template)
    elif paths:
        head["l"] = paths
    return head


def _columns(segments: Sequence[LedgerSegment]) -> bytes:
    out, before = bytearray(), 0
    for segment in segments:
        change = segment.duration_us - before
        out += _varint(change * 2 if change >= 0 else -change * 2 - 1)  # zigzag
        before = segment.duration_us
    for segment in segments:
        out += _varint(segment.size)
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _template(paths: Sequence[str]) -> tuple[str, int, int, str] | None:
    """``(prefix, first, width, suffix)`` when path ``k`` is prefix + (first + k), zero
    padded to width, + suffix, for one run of digits in the first path (the rightmost that
    fits: "seg-0-00001.m4s" numbers its segments, not its "4"); else None."""
    if not paths:
        return None
    for run in reversed(list(_DIGITS.finditer(paths[0]))):
        prefix, suffix = paths[0][: run.start()], paths[0][run.end() :]
        first, width = int(run.group()), len(run.group())
        made = (_numbered(prefix, first + k, width, suffix) for k in range(len(paths)))
        if all(a == b for a, b in zip(made, paths, strict=True)):
            return prefix, first, width, suffix
    return None


def _numbered(prefix: str, number: int, width: int, suffix: str) -> str:
    return f"{prefix}{number:0{width}d}{suffix}"


def decode_ledger(data: bytes) -> SegmentLedger:
    """The ledger :func:`encode_ledger` stored; :class:`LedgerUnreadable` when it is not one
    (corrupt, inflating beyond reason, or of another version)."""
    try:
        inflater = zlib.decompressobj()
        body = inflater.decompress(data, _MAX_INFLATED)
    except zlib.error as exc:
        raise LedgerUnreadable("not a segment ledger: no zlib stream") from exc
    if inflater.unconsumed_tail or not inflater.eof:
        raise LedgerUnreadable("the ledger is cut short, or inflates beyond its limit")
    reader = _Reader(body)
    length = reader.varint()
    try:
        header = _Header.model_validate_json(reader.take(length))
    except ValidationError as exc:
        raise LedgerUnreadable(f"not a segment ledger: {exc.error_count()} errors") from exc
    if header.v != LEDGER_VERSION:
        raise LedgerUnreadable(f"ledger version {header.v}, this worker reads {LEDGER_VERSION}")
    playlists = tuple(_playlist(p, reader) for p in header.p)
    if not reader.done:
        raise LedgerUnreadable("bytes after the ledger's last column")
    return SegmentLedger(header.f, playlists)


def _playlist(head: _Playlist, reader: _Reader) -> PlaylistLedger:
    durations = list(_durations(reader, head.n))
    sizes = [reader.varint() for _ in range(head.n)]
    segments = tuple(
        LedgerSegment(p, d, z) for p, d, z in zip(_paths(head), durations, sizes, strict=True)
    )
    return PlaylistLedger(head.m, head.i, segments)


def _paths(head: _Playlist) -> Sequence[str]:
    if head.t is not None:
        prefix, first, width, suffix = head.t
        return [_numbered(prefix, first + k, width, suffix) for k in range(head.n)]
    paths = head.l or ()
    if len(paths) != head.n:
        raise LedgerUnreadable(f"playlist {head.m}: {len(paths)} paths for {head.n} segments")
    return paths


def _durations(reader: _Reader, count: int) -> Iterator[int]:
    duration = 0
    for _ in range(count):
        zigzag = reader.varint()
        duration += zigzag // 2 if zigzag % 2 == 0 else -(zigzag + 1) // 2
        if duration < 0:
            raise LedgerUnreadable("a negative segment duration")
        yield duration


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def done(self) -> bool:
        return self._at == len(self._data)

    def take(self, count: int) -> bytes:
        if self._at + count > len(self._data):
            raise LedgerUnreadable("the ledger is cut short")
        part = self._data[self._at : self._at + count]
        self._at += count
        return part

    def varint(self) -> int:
        data, at, value = self._data, self._at, 0
        for shift in range(0, 7 * _LONGEST_VARINT, 7):
            if at >= len(data):
                raise LedgerUnreadable("the ledger is cut short")
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self._at = at
                return value
        raise LedgerUnreadable("a number longer than 64 bits")
