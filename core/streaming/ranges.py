"""Encoding a time range of a CMAF ladder whose segments are exactly the whole encode's there.

Resuming after a lost worker and splitting one long job across workers both need this: the
segment grid of a source, chunks of whole segments, and the plan of one chunk's encode.

**The grid.** Every rung forces a keyframe every ``G`` frames of the conditioned constant
rate, ``G = ceil(S * rate)`` (:mod:`core.media.gop`, :func:`core.media.encoders.ladder_args`):
each GOP lasts at least ``S`` and less than a frame more (120 frames, 4.004 s, at 30000/1001).
The ``dash`` muxer (``use_timeline=1``) cuts a segment at a keyframe only once the current
segment has lasted ``seg_duration`` (compared exactly, in microseconds); measured, with
keyframes forced at ``gte(t,n_forced*S)`` instead, 30000/1001 had a 119-frame GOP once every
~8 segments (frame 1079 after 960) where the muxer did NOT cut, and a 7.97 s segment QC
rejected. Now every keyframe is a cut. :class:`SegmentGrid` still derives the cuts from the
muxer's rule (``cuts``), so that ranges reproduce the whole encode whatever it does.

**The range encode** (ffmpeg 5.1, measured): input ``-ss`` a second before the range with
``-copyts -start_at_zero``, so the decoded frames keep the whole encode's timestamps (the
same ``fps`` filter output frame numbers), then ``trim=start_pts=A:end_pts=B`` on the
conditioned frames: frame-exact whatever the seek lands on. ffmpeg's ``t`` in
``-force_key_frames expr:`` counts from the encode's own first frame (``forced_kf_ref_pts``),
not from the timestamps, and so does ``n``: a range forces ``gte(n+A,(n_forced+K)*G)`` (A: its
first frame, K: its first keyframe on the grid), the whole encode's frame number, in integers.

**Timestamps.** With ``-copyts`` the muxer's MPD already says the global ``S@t``, but the
fMP4 fragments do not: the mov muxer inside ``dash`` restarts every track's decode time at 0
(``tfdt`` 0, ``sidx`` earliest presentation 0, ``mfhd`` sequence 1) and writes the offset as
an empty edit in the range's own init segment. ``-output_ts_offset 12.012`` (measured) does
the same: MPD ``t=360360``, ``tfdt`` 0, an empty edit of 12012 ms. So a range's init segments
are thrown away (range 0's are byte-for-byte the whole encode's, and kept), and every media
segment is rewritten by :mod:`core.streaming.fragment_time` (``tfdt`` and ``sidx`` plus the
tick its encode starts at, ``mfhd`` its global number) and renamed to its global number (the
muxer has no start number: ``$Number$`` starts at 1).

**Warm-up.** x264's rate control starts cold: the first ~10 frames of any encode are worse
(SSIM 0.990 against 0.996). A range therefore encodes ``WARMUP_SECONDS`` (1 s, in frames on
the grid's rate, never more than the segment before it) before its chunk and throws them
away. The muxer cuts a segment only once it has lasted ``seg_duration``, so a warm-up
shorter than a segment would merge into the chunk's first one: a range's muxer is given
``RANGE_SEG_DURATION`` (0.1 s) instead, and cuts at every keyframe, which are its first
frame and the grid's (``-sc_threshold 0``, keyint = GOP): the warm-up is its own segment
and the chunk's cuts are the whole encode's. Measured (``bench/range_warmup.py``, 360p, the
least SSIM over frames 357-362 around the boundary, at 30 and 30000/1001 fps; the clip's
average 0.9960/0.9959, the test's bound 0.003 below): no warm-up 0.9900/0.9877, 0.5 s
0.9946/0.9933 (0.0004 inside the bound), 1 s 0.9945/0.9950, a whole segment 0.9943/0.9952,
the whole encode 0.9952/0.9956.

**Audio** is not in the ranges (AAC priming at each range's edge would click): one audio plan
(:func:`plan_audio_part`) encodes it whole with the preset's settings, in the whole plan's
muxer with a black stand-in for the picture, so that the muxer cuts the audio where the
whole encode's video cuts it and writes the whole package's manifests (same representation
ids, names, master and MPD): :mod:`core.streaming.stitch` puts the ranges' video into them.
Measured (x264, CPU): its audio init and segments are byte-for-byte the whole encode's (the
stand-in's encoder has the same B-frame delay, so the muxer interleaves and cuts alike). The
stand-in's rungs are 32x18: the stitcher takes the video's sizes and codecs from the first
range. Its frame count is the probe's estimate (:func:`source_grid`).

**Pictures.** Asked to (``pictures=True``: a split job's ranges), a range makes its share of
the thumbnails and storyboard tiles: those whose global frame number (one every N from the
whole picture's frame 0) is among the frames it owns (from its chunk's first frame, not its
warm-up's, to its end), numbered as the whole encode numbers them (image2's
``-start_number``), and the poster where its frame falls (:class:`PictureSpan`); so each
picture is made by exactly one range, and the stitch lays the tiles out into the sheets.
MPEG-TS (``hls-ts``) packages are not made by ranges: :func:`plan_range` returns None, and the
caller encodes whole.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import PurePosixPath

from core.media.accel import CPU_ONLY, TierChoice
from core.media.frames import FramePath
from core.media.gop import keyframe_expression, segment_gop, segment_length
from core.media.hardening import SOURCE_GUARD, InputGuard
from core.media.plan import GLOBAL_FLAGS, LOGGED_FLAGS, encode_cap, poster_time
from core.media.probe import ProbeResult
from core.presets import StreamingPreset
from core.streaming.audio_tracks import kept_tracks
from core.streaming.ladder import fit_fps
from core.streaming.renditions import LadderSource, StreamingPlan, ladder_encode, plan_streaming
from core.streaming.span import PictureSpan, VideoSpan, conditioned_rate

PREROLL_SECONDS = 1.0  # decoded before a range and trimmed away: the seek need not be exact
# Encoded before a range and thrown away (frames on the grid's rate, at most the segment
# before it): x264's rate control starts cold (SSIM 0.990 over the first 10 frames against
# 0.996 after, at the start of a whole encode too). Measured: see the module's docstring.
WARMUP_SECONDS = 1.0
# A range's muxer cuts at every keyframe (the first frame's, then the grid's): shorter than
# any warm-up, so that the warm-up is its own segment and the chunk's cuts are the grid's.
RANGE_SEG_DURATION = "0.1"
# The audio part's picture: black, every rung this small (the frames cost nothing to encode;
# at the rungs' own sizes the stand-in took 38 % of a whole 720p encode's CPU).
STAND_IN = (32, 18)


def keyframe_frames(rate: Fraction, segment_seconds: float, frames: int) -> tuple[int, ...]:
    """The frames the whole encode makes keyframes: every GOP (:func:`segment_gop`)."""
    return tuple(range(0, frames, segment_gop(rate, segment_seconds)))


@dataclass(frozen=True, slots=True)
class SegmentRange:
    """Whole segments of the whole encode: ``count`` from 0-based ``first``, frames
    ``start``..``end`` (end exclusive) of the conditioned rate."""

    first: int
    count: int
    start: int
    end: int
    keyframe: int  # the place of ``start`` among the forced keyframes (n_forced's offset)
    last: bool  # runs to the picture's end

    @property
    def numbers(self) -> range:
        """The muxer's ``$Number$`` of its segments in the whole package (from 1)."""
        return range(self.first + 1, self.first + self.count + 1)


@dataclass(frozen=True, slots=True)
class SegmentGrid:
    """Where the whole encode's keyframes and segment cuts fall, in frames."""

    rate: Fraction
    segment_seconds: float
    frames: int  # of the conditioned picture

    @property
    def keyframes(self) -> tuple[int, ...]:
        return keyframe_frames(self.rate, self.segment_seconds, self.frames)

    @property
    def cuts(self) -> tuple[int, ...]:
        """The first frame of every segment: a keyframe once the segment has lasted
        ``seg_duration`` (the muxer compares exactly, in microseconds)."""
        return _cuts(self.rate, self.segment_seconds, self.frames)

    def _keyframe(self, frame: int) -> int:
        keys = self.keyframes
        return bisect.bisect_left(keys, frame)

    def warmed(self, chunk: SegmentRange, seconds: float = WARMUP_SECONDS) -> SegmentRange:
        """``chunk`` with up to ``seconds`` of frames before it, in the segment before it:
        what a range encodes (its muxer cuts the warm-up off as one segment, ``first``)."""
        if chunk.first == 0 or seconds <= 0:
            return chunk
        frames = math.ceil(round(seconds * self.rate, 6))
        start = max(self.cuts[chunk.first - 1], chunk.start - frames)
        return replace(chunk, first=chunk.first - 1, count=chunk.count + 1, start=start,
                       keyframe=self._keyframe(start))  # fmt: skip

    def tail(self, first: int) -> SegmentRange:
        """From 0-based segment ``first`` to the end: a resumed encode's range."""
        cuts = self.cuts
        if not 0 <= first < len(cuts):
            raise ValueError(f"no segment {first + 1} in a grid of {len(cuts)}")
        return SegmentRange(first, len(cuts) - first, cuts[first], self.frames,
                            self._keyframe(cuts[first]), last=True)  # fmt: skip

    def seconds(self, frame: int) -> float:
        return float(frame / self.rate)

    def split(self, chunk_seconds: float) -> tuple[SegmentRange, ...]:
        """Chunks of whole segments, each starting at the first cut at or after a multiple
        of ``chunk_seconds`` (a long segment passing several multiples makes one chunk)."""
        if chunk_seconds <= 0:
            raise ValueError("chunk_seconds must be positive")
        cuts = self.cuts
        times = [c / self.rate for c in cuts]
        firsts, m = {0}, 1
        while m * chunk_seconds < self.frames / self.rate:
            at = bisect.bisect_left(times, m * chunk_seconds)  # the first cut at or after
            if at < len(cuts):
                firsts.add(at)
            m += 1
        starts = sorted(firsts)
        ends = [*starts[1:], len(cuts)]
        return tuple(
            SegmentRange(
                first=a, count=b - a, start=cuts[a],
                end=cuts[b] if b < len(cuts) else self.frames,
                keyframe=self._keyframe(cuts[a]), last=b == len(cuts),
            )
            for a, b in zip(starts, ends, strict=True)
        )  # fmt: skip


@functools.lru_cache(maxsize=16)
def _cuts(rate: Fraction, segment_seconds: float, frames: int) -> tuple[int, ...]:
    least = segment_length(segment_seconds)  # seg_duration as the muxer reads it, exactly
    cuts = [0]
    for n in keyframe_frames(rate, segment_seconds, frames)[1:]:
        if Fraction(n - cuts[-1]) / rate >= least:
            cuts.append(n)
    return tuple(cuts)


def split_ranges(
    duration: float, segment_seconds: float, chunk_seconds: float, rate: Fraction = Fraction(30)
) -> tuple[SegmentRange, ...]:
    """Chunks of whole segments of a picture of ``duration`` seconds at ``rate``."""
    frames = math.ceil(round(duration * rate, 6))
    return SegmentGrid(rate, segment_seconds, frames).split(chunk_seconds)


def source_grid(preset: StreamingPreset, probe: ProbeResult) -> SegmentGrid | None:
    """The grid of the whole encode of ``probe`` (None: no picture to grid)."""
    video = probe.video
    if video is None or not preset.ladder:
        return None
    rate = Fraction(conditioned_rate(fit_fps(video.fps, preset.max_fps)))
    frames = math.ceil(round(picture_end(probe) * rate, 6))  # those before the trim's end
    if video.duration > 0:  # ... that the source has (44.0106 s at 29.97: 1319, not 1320)
        frames = min(frames, round(video.duration * rate))
    return SegmentGrid(rate, preset.segment_seconds, frames)


def picture_end(probe: ProbeResult) -> float:
    """Where the whole plan trims the picture (as :mod:`core.streaming.renditions` does)."""
    video, cap = probe.video, encode_cap(probe)
    if video is None or video.duration <= 0:
        return cap
    end = math.ceil((video.start + video.duration) * 1000) / 1000
    return min(end, cap) if cap else end


def range_span(grid: SegmentGrid, chunk: SegmentRange) -> VideoSpan:
    """The hooks of ``chunk``'s encode in the whole plan (see the module's docstring)."""
    seek = max(0.0, grid.seconds(chunk.start) - PREROLL_SECONDS)
    end = "" if chunk.last else f":end_pts={chunk.end}"  # the last: the picture's own end
    return VideoSpan(
        input_args=("-copyts", "-start_at_zero", "-ss", f"{seek:.6f}"),
        trim=f",trim=start_pts={chunk.start}{end}",
        keyframes=range_keyframes(grid, chunk),
        seg_duration=RANGE_SEG_DURATION,
    )


def range_keyframes(grid: SegmentGrid, chunk: SegmentRange) -> str:
    """The whole encode's keyframes for a range starting at frame A, keyframe K: ffmpeg's
    ``n`` counts the range's own frames, so ``n+A`` is the whole encode's frame number."""
    gop = segment_gop(grid.rate, grid.segment_seconds)
    return keyframe_expression(gop, chunk.start, chunk.keyframe)


@dataclass(frozen=True, slots=True)
class RangePlan:
    plan: StreamingPlan  # the video rungs of the range, written under ``out``
    chunk: SegmentRange  # the segments it makes for the package
    grid: SegmentGrid
    warmup: int  # segments it encodes before ``chunk``'s, thrown away (0 or 1)


def _pictures_off(preset: StreamingPreset) -> StreamingPreset:
    return preset.model_copy(update={"thumbnails": None, "storyboard": None})


def plan_range(
    preset: StreamingPreset,
    probe: ProbeResult,
    source: PurePosixPath,
    out: PurePosixPath,
    chunk: SegmentRange,
    choice: TierChoice = CPU_ONLY,
    guard: InputGuard = SOURCE_GUARD,
    warmup: float = WARMUP_SECONDS,
    pictures: bool = False,
) -> RangePlan | None:
    """The encode of ``chunk``'s video rungs (and ``warmup`` seconds before them) into
    ``out``, and its share of the preset's pictures when ``pictures``; None where a range
    cannot be made (hls-ts, or no picture): the caller encodes whole."""
    grid = source_grid(preset, probe)
    if preset.kind != "cmaf" or grid is None or not _starts_at_zero(probe):
        return None
    encoded = grid.warmed(chunk, warmup)
    span = range_span(grid, encoded)
    if pictures:
        span = replace(span, pictures=picture_span(grid, chunk, encoded, probe))
    else:
        preset = _pictures_off(preset)
    plan = plan_streaming(preset, probe, source, out, choice, guard, span=span)
    return RangePlan(plan, chunk, grid, chunk.first - encoded.first)


def picture_span(
    grid: SegmentGrid, chunk: SegmentRange, encoded: SegmentRange, probe: ProbeResult
) -> PictureSpan:
    """``chunk``'s share of the pictures, its encode starting at ``encoded.start``."""
    return PictureSpan(
        offset=encoded.start, first=chunk.start, poster=owns(chunk, poster_frame(grid, probe))
    )


def poster_frame(grid: SegmentGrid, probe: ProbeResult) -> int:
    """The frame the poster is picked at: the first at or after its time (as ``poster_pick``
    writes it, to the millisecond)."""
    video = probe.video
    at = poster_time((video.duration if video else 0.0) or probe.duration)
    return math.ceil(Fraction(f"{at:.3f}") * grid.rate)


def owns(chunk: SegmentRange, frame: int) -> bool:
    """``frame`` is among ``chunk``'s (the last runs on: a frame past the picture's end is
    its, as the poster then is its last frame)."""
    return chunk.start <= frame and (chunk.last or frame < chunk.end)


def _starts_at_zero(probe: ProbeResult) -> bool:
    """The picture's first frame is the grid's frame 0: a video that starts after the file
    does (its ``fps`` output starting later) is encoded whole."""
    return probe.video is not None and abs(probe.video.start) < 1e-3


def plan_audio_part(
    preset: StreamingPreset,
    probe: ProbeResult,
    source: PurePosixPath,
    out: PurePosixPath,
    guard: InputGuard = SOURCE_GUARD,
    loudness: Mapping[int, tuple[str, ...]] | None = None,
) -> StreamingPlan | None:
    """The whole audio, as the whole plan encodes it, with a black stand-in picture through
    the same ladder (None: no picture or not CMAF). Its video segments are scratch; its
    audio segments and its manifests are the package's (:mod:`core.streaming.stitch`).
    ``loudness``: each kept track's normalizer, as :func:`plan_streaming` takes them."""
    grid, video = source_grid(preset, probe), probe.video
    if preset.kind != "cmaf" or grid is None or video is None:
        return None
    tracks = kept_tracks(preset, probe)
    frames = FramePath.plan(CPU_ONLY, video, "yuv420p", cpu_filters=False)
    sound = f"[0:{tracks[0].index}]" if tracks else None
    labels = LadderSource("[stand]", sound, loudness=loudness or {}, tracks=tracks)
    # black, progressive, SDR: nothing to condition
    stand_in = replace(video, field_order="progressive", color_transfer=None, pix_fmt="yuv420p")
    probe = replace(probe, video=stand_in)
    stand = VideoSpan(sound=True, stand_in=STAND_IN)
    graph, args, plan = ladder_encode(_pictures_off(preset), probe, out, frames, labels, stand)
    # as many frames as the picture, so that the muxer cuts where it cuts the picture
    size = "x".join(map(str, STAND_IN))
    black = f"color=c=black:s={size}:r={grid.rate},trim=end_frame={grid.frames}[stand]"
    flags = LOGGED_FLAGS if loudness and any(loudness.values()) else GLOBAL_FLAGS
    argv = ("ffmpeg", *flags, *guard.flags(guard.demuxer(probe.format_name)),
            "-i", f"file:{source}", "-filter_complex", ";".join((black, *graph)),
            *args)  # fmt: skip
    return replace(plan, argv=argv)
