"""The quality gate a package passes before anything of it is published.

Pure: the caller measures (parses the manifests, reads the packets of each rendition) and
this module judges. A failed check fails the job with ``qc_failed``; the report goes into
``job.json`` and the completion event either way.

The checks: every referenced file present, durations, segment lengths, keyframes at every
segment start at one time across rungs, audio/video drift under 100 ms, each video rung
within its maxrate as its VBV buffer allows, and the picture counts.
:class:`PacketFold` folds a rendition's packets one at a time (one entry per segment).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from core.streaming.playlists import MediaPlaylist, peak_rate

DRIFT_LIMIT = 0.1  # seconds between the picture and the sound


@dataclass(frozen=True, slots=True)
class Packet:
    pts: float
    duration: float
    key: bool
    pos: int  # byte offset in the file probed
    size: int = 0  # bytes of the elementary stream (the container's wrapping not counted)


@dataclass(frozen=True, slots=True)
class RenditionFacts:
    name: str
    kind: Literal["video", "audio"]
    playlist: MediaPlaylist
    duration: float  # measured from the packets
    segment_starts: tuple[float, ...]  # pts of each segment's first packet
    segment_keyframes: tuple[bool, ...]  # whether that packet is a keyframe
    frames: int
    segment_bits: tuple[int, ...] = ()  # the elementary stream's bits in each segment


class PacketFold:
    """A rendition's facts, folded from its packets one at a time in any order: memory is
    one entry per segment, not per packet (a five-hour rendition has half a million)."""

    def __init__(self, segment_offsets: Sequence[int]) -> None:
        """``segment_offsets``: where each media segment starts in the probed file (the
        init segment, when there is one, comes before the first)."""
        self._offsets = list(segment_offsets)
        self._first: dict[int, Packet] = {}  # segment index -> its packet nearest the start
        self._bytes = [0] * len(self._offsets)  # segment index -> its packets' bytes
        self._start = math.inf
        self._end = -math.inf
        self.count = 0

    def add(self, packet: Packet) -> None:
        self.count += 1
        self._start = min(self._start, packet.pts)
        self._end = max(self._end, packet.pts + packet.duration)
        segment = bisect.bisect_right(self._offsets, packet.pos) - 1
        if segment < 0:  # in the init segment
            return
        self._bytes[segment] += packet.size
        held = self._first.get(segment)
        if held is None or packet.pos < held.pos:
            self._first[segment] = packet

    def facts(
        self, name: str, kind: Literal["video", "audio"], playlist: MediaPlaylist
    ) -> RenditionFacts:
        # A segment holding no packet starts, as far as the packets tell, at the next one's.
        firsts: list[Packet] = []
        nearest: Packet | None = None
        for index in reversed(range(len(self._offsets))):
            nearest = self._first.get(index, nearest)
            if nearest is not None:
                firsts.append(nearest)
        firsts.reverse()
        starts = tuple(p.pts for p in firsts)
        keys = tuple(p.key for p in firsts)
        duration = self._end - self._start if self.count else 0.0
        bits = tuple(8 * b for b in self._bytes)
        return RenditionFacts(name, kind, playlist, duration, starts, keys, self.count, bits)


def facts_from_packets(
    name: str,
    kind: Literal["video", "audio"],
    playlist: MediaPlaylist,
    packets: Sequence[Packet],
    segment_offsets: Sequence[int],
) -> RenditionFacts:
    fold = PacketFold(segment_offsets)
    for packet in packets:
        fold.add(packet)
    return fold.facts(name, kind, playlist)


class QcCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class QcReport(BaseModel):
    passed: bool
    checks: list[QcCheck]

    def failures(self) -> list[QcCheck]:
        return [c for c in self.checks if not c.passed]


@dataclass(frozen=True, slots=True)
class RateCap:
    """A video rung's constrained VBR, as its encoder was given it."""

    name: str  # the rendition's
    maxrate: int  # bits per second
    bufsize: int  # bits


@dataclass(frozen=True, slots=True)
class QcInputs:
    source_duration: float  # 0.0: unknown
    segment_seconds: float
    fps: float  # of the video renditions; 0 when there are none
    renditions: tuple[RenditionFacts, ...]
    missing: tuple[str, ...]  # files a manifest references that do not exist
    mismatched: tuple[str, ...]  # where the HLS and DASH manifests disagree
    images: tuple[str, ...] = ()  # problems found with thumbnails and the storyboard
    rate_caps: tuple[RateCap, ...] = ()  # the video rungs' maxrate and buffer


def evaluate(facts: QcInputs) -> QcReport:
    checks = [
        _references(facts),
        _durations(facts),
        _segment_lengths(facts),
        _keyframes(facts),
        _drift(facts),
        _bitrates(facts),
    ]
    if facts.images:
        checks.append(QcCheck(name="images", passed=False, detail="; ".join(facts.images)))
    return QcReport(passed=all(c.passed for c in checks), checks=checks)


def _references(facts: QcInputs) -> QcCheck:
    problems = [f"missing {m}" for m in facts.missing[:5]] + list(facts.mismatched[:5])
    total = sum(len(r.playlist.files) for r in facts.renditions)
    detail = "; ".join(problems) if problems else f"{total} files referenced, all present"
    return QcCheck(name="references", passed=not problems, detail=detail)


def _durations(facts: QcInputs) -> QcCheck:
    if facts.source_duration <= 0:
        return QcCheck(name="durations", passed=True, detail="source duration unknown")
    off = [
        f"{r.name} {r.duration:.3f}s"
        for r in facts.renditions
        if abs(r.duration - facts.source_duration) > facts.segment_seconds
        or abs(r.playlist.duration - facts.source_duration) > facts.segment_seconds
    ]
    detail = (
        f"more than {facts.segment_seconds:g}s from the source's {facts.source_duration:.3f}s: "
        + ", ".join(off)
        if off
        else f"every rendition within {facts.segment_seconds:g}s of {facts.source_duration:.3f}s"
    )
    return QcCheck(name="durations", passed=not off, detail=detail)


def _segment_lengths(facts: QcInputs) -> QcCheck:
    """Every segment within the target (plus a frame's rounding), none but the last short."""
    target, slack = facts.segment_seconds, 0.5
    bad = []
    for r in facts.renditions:
        lengths = [seconds for _, seconds in r.playlist.segments]
        if any(s > target + slack for s in lengths) or any(
            s < target - slack for s in lengths[:-1]
        ):
            bad.append(f"{r.name} {[round(s, 3) for s in lengths]}")
        elif r.playlist.target_duration and any(
            round(s) > r.playlist.target_duration for s in lengths
        ):
            bad.append(f"{r.name} exceeds EXT-X-TARGETDURATION {r.playlist.target_duration}")
    detail = "; ".join(bad) if bad else f"segments of {target:g}s (the last may be shorter)"
    return QcCheck(name="segment_durations", passed=not bad, detail=detail)


def _keyframes(facts: QcInputs) -> QcCheck:
    video = [r for r in facts.renditions if r.kind == "video"]
    if not video:
        return QcCheck(name="keyframes", passed=True, detail="no video renditions")
    bad = [
        f"{r.name} segment {i + 1} starts without a keyframe"
        for r in video
        for i, key in enumerate(r.segment_keyframes)
        if not key
    ]
    bad += [
        f"{r.name} has {len(r.segment_starts)} readable segments of {len(r.playlist.segments)}"
        for r in video
        if len(r.segment_starts) != len(r.playlist.segments)
    ]
    half_frame = 0.5 / facts.fps if facts.fps else 0.02
    reference = video[0]
    for r in video[1:]:
        pairs = zip(reference.segment_starts, r.segment_starts, strict=False)
        if len(r.segment_starts) != len(reference.segment_starts) or any(
            abs(a - b) > half_frame for a, b in pairs
        ):
            bad.append(f"{r.name} segment starts differ from {reference.name}")
    detail = (
        "; ".join(bad[:5])
        if bad
        else (f"{len(video)} renditions, every segment starts on a keyframe at the same time")
    )
    return QcCheck(name="keyframes", passed=not bad, detail=detail)


def _drift(facts: QcInputs) -> QcCheck:
    video = [r for r in facts.renditions if r.kind == "video"]
    audio = [r for r in facts.renditions if r.kind == "audio"]
    if not video or not audio:
        return QcCheck(name="av_drift", passed=True, detail="no audio and video to compare")
    worst = max(abs(v.duration - a.duration) for v in video for a in audio)
    passed = worst < DRIFT_LIMIT
    detail = f"largest audio/video duration difference {worst * 1000:.0f} ms" + (
        "" if passed else f" (limit {DRIFT_LIMIT * 1000:.0f} ms)"
    )
    return QcCheck(name="av_drift", passed=passed, detail=detail)


def _bitrates(facts: QcInputs) -> QcCheck:
    """Every video rendition within its rung's maxrate, as far as the encoder's VBV (a leaky
    bucket of bufsize bits, drained at maxrate) lets a conforming stream go: over any run of
    segments lasting t seconds, at most maxrate * t + bufsize bits, since the buffer can be
    full at the run's start and no fuller. So one segment may rise above maxrate by
    bufsize / its length (a 4 s segment with a 1.4 s buffer: 35 %), a longer run by less,
    and nothing more is tolerated: beyond that the encoder did not keep to its maxrate.
    Counted on the elementary stream (packet sizes): the fMP4 or TS wrapping is no part of
    the encoder's budget, and over hours of segments it would add up past any buffer."""
    caps = {cap.name: cap for cap in facts.rate_caps}
    rated = [(r, caps[r.name]) for r in facts.renditions if r.kind == "video" and r.name in caps]
    if not rated:
        return QcCheck(name="bitrates", passed=True, detail="no video rung with a maxrate")
    bad, peaks = [], []
    for r, cap in rated:
        seconds = [length for _, length in r.playlist.segments]
        bits = (list(r.segment_bits) + [0] * len(seconds))[: len(seconds)]
        peak = peak_rate(bits, seconds, r.playlist.target_duration or facts.segment_seconds)
        peaks.append(f"{r.name} {peak / 1000:.0f}/{cap.maxrate / 1000:.0f}")
        excess, first, last = _largest_excess(bits, seconds, cap.maxrate)
        if excess > cap.bufsize:
            bad.append(
                f"{r.name} segments {first + 1}-{last + 1} carry {excess / 1000:.0f} kbit over "
                f"its maxrate of {cap.maxrate / 1000:.0f} kb/s, more than its "
                f"{cap.bufsize / 1000:.0f} kbit buffer allows (peak "
                f"{peak / 1000:.0f} kb/s)"
            )
    detail = (
        "; ".join(bad)
        if bad
        else ("within maxrate and buffer; peak/maxrate kb/s: " + ", ".join(peaks))
    )
    return QcCheck(name="bitrates", passed=not bad, detail=detail)


def _largest_excess(
    bits: Sequence[int], seconds: Sequence[float], maxrate: int
) -> tuple[float, int, int]:
    """The run of consecutive segments whose bits exceed maxrate * their length the most
    (Kadane's scan, one pass): (excess bits, first segment, last segment)."""
    best, best_run = -math.inf, (0, 0)
    run, start = 0.0, 0
    for i, (b, s) in enumerate(zip(bits, seconds, strict=True)):
        if run <= 0:
            run, start = 0.0, i
        run += b - maxrate * s
        if run > best:
            best, best_run = run, (start, i)
    return best, *best_run
