"""The segment ledger: which media segments of which playlists an attempt has in the bucket.

An attempt uploads segments while it encodes (``core.attempt.upload``); the ledger is what
the job record keeps of them (``JobStore.note_segments``, fenced by the attempt), so that an
attempt after a lost worker keeps them and encodes from the last complete segment boundary
on (:mod:`core.attempt.resume`). Per media playlist (a path relative to the job's output
directory, ``cmaf/media_0.m3u8``) it holds the segments uploaded in order without holes:
each one's path, duration and size. A *row* is a segment number every playlist has; the
rows are the count of leading ones, and the boundary is where the next row starts.

The segments are reusable only by an encode with the same settings on the same encoder:
the ledger carries the :func:`plan_fingerprint` of the encode that made them.

Durations are kept in microseconds, as exact as the playlists' EXTINF (six decimals):
milliseconds, summed over the 1,800 segments of a two-hour film, could drift the boundary
by most of a second.

The record keeps it as one compact attribute (:mod:`core.attempt.ledger_codec`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LedgerSegment:
    path: str  # relative to the job's output directory: "cmaf/seg-0-00001.m4s"
    duration_us: int  # microseconds, as the playlist's EXTINF says
    size: int  # bytes


@dataclass(frozen=True, slots=True)
class PlaylistLedger:
    """One media playlist's segments in the bucket, from its first, without holes."""

    playlist: str  # relative to the job's output directory: "cmaf/media_0.m3u8"
    init: str | None = None  # its init segment (CMAF)
    segments: tuple[LedgerSegment, ...] = ()

    def start_us(self, index: int) -> int:
        """Where segment ``index`` (0-based) starts: the sum of the durations before it."""
        return sum(s.duration_us for s in self.segments[:index])

    def head(self, count: int) -> PlaylistLedger:
        return PlaylistLedger(self.playlist, self.init, self.segments[:count])


@dataclass(frozen=True, slots=True)
class SegmentLedger:
    """The playlists of one encode, in the plan's order (its first video rung first)."""

    fingerprint: str  # plan_fingerprint of the encode that made the segments
    playlists: tuple[PlaylistLedger, ...] = ()

    @property
    def rows(self) -> int:
        """The count of leading segment numbers every playlist has."""
        return min((len(p.segments) for p in self.playlists), default=0)

    @property
    def segment_count(self) -> int:
        return sum(len(p.segments) for p in self.playlists)

    def head(self, rows: int) -> SegmentLedger:
        """The first ``rows`` rows of every playlist."""
        return SegmentLedger(self.fingerprint, tuple(p.head(rows) for p in self.playlists))

    def boundary_us(self) -> int:
        """Where the row after the last complete one starts, in the first playlist."""
        return self.playlists[0].start_us(self.rows) if self.playlists else 0

    def playlist(self, name: str) -> PlaylistLedger | None:
        return next((p for p in self.playlists if p.playlist == name), None)


def plan_fingerprint(
    spec_hash: str, argv: Sequence[str], *, tier: str, encoder: str, roots: Sequence[str] = ()
) -> str:
    """What makes an encode's segments interchangeable with another's: the preset's spec
    hash, the accelerator tier and its encoder, and the ffmpeg argv without its paths
    (each ``file:`` argument, and every ``roots`` prefix, such as the job directory, that a
    filter graph may name). Take it of the whole-range plan: a resumed attempt's ranged
    argv (its seek and start number) must match the attempt it continues."""
    parts = [spec_hash, tier, encoder, *(_pathless(arg, roots) for arg in argv)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def _pathless(arg: str, roots: Sequence[str]) -> str:
    if arg.startswith("file:"):
        return "file:"
    for root in roots:
        if root:
            arg = arg.replace(root, "<root>")
    return arg
