"""QC of each CMAF media segment as it lands, while the encode goes on.

A :class:`SegmentCheck` is a :class:`~core.streaming.segment_watch.SegmentSink`: it reads the
boxes of each landed segment (:mod:`core.streaming.fragments`, no ffprobe: the encode owns
the cores) and fails the job with :class:`QcFailed` at the first segment that

- lasts other than its playlist's ``EXTINF`` says, by more than one of its frames (an AAC
  segment's first one lacks, in its ``EXTINF``, the priming frame its edit list hides);
- is video and does not open on a sync sample (a player switching rungs there would show
  garbage);
- does not start where the previous segment of its playlist ended (a gap or an overlap in
  the track's decode timeline, to the tick);
- is audio and starts more than ``DRIFT_LIMIT`` (the whole-package QC's) away from the video
  segment that starts nearest to it, each counted from its track's first segment (the sound
  has slipped from the picture since the start). ffmpeg 5.1's ``dash`` muxer cuts the audio when the
  video's keyframe is muxed, ahead of it by the interleaving (32-43 ms between the decode
  times, measured at 30 fps), so one frame would fail sound packages; what this catches is
  sound that has slipped.

The sink is told before the upload, so a segment that fails is never sent and nothing that
names it (a playlist, the MPD) is written. The details name the segment by its path
relative to the job's output directory. MPEG-TS segments (``hls-ts``) are not checked here:
their packets are only read by ffprobe, and the whole-package QC after the encode covers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from core.errors import QcFailed
from core.ports import LocalFiles
from core.streaming.fragments import FragmentFacts, TrackDefaults, read_fragment, read_init
from core.streaming.qc import DRIFT_LIMIT
from core.streaming.segment_watch import LandedSegment

_EXTINF_ROUNDING = 1e-3  # the playlist's EXTINF is printed to microseconds; slack for that


@dataclass(frozen=True, slots=True)
class SegmentTimes:
    """Where a checked segment lies on its track, in seconds."""

    start: float
    end: float
    ticks_end: int  # where the next segment of its playlist must start, in ticks


class SegmentCheck:
    """Per-segment QC of one package (``out``: the job's output directory)."""

    def __init__(self, files: LocalFiles, out: Path) -> None:
        self._files = files
        self._out = out
        self._tracks: dict[str, TrackDefaults] = {}  # by init segment
        self._last: dict[str, SegmentTimes] = {}  # by playlist: its last segment checked
        self._origins: dict[str, float] = {}  # by playlist: where its first segment starts
        self._video_starts: list[float] = []
        self._audio: list[tuple[LandedSegment, float]] = []  # waiting for their video

    async def landed(self, segments: Sequence[LandedSegment]) -> None:
        for segment in segments:
            if segment.init is not None and segment.path.endswith(".m4s"):
                await self._check(segment, segment.init)
        self._check_drift()

    async def _check(self, segment: LandedSegment, init: str) -> None:
        track = await self._track(init)
        data = await self._files.read_bytes(self._out / segment.path)
        facts = read_fragment(data, track)
        if track is None or facts is None:
            _fail(segment, "fragment", "no readable moof/traf/tfdt, or its init has no mdhd")
        self._check_duration(segment, facts, track.timescale)
        if track.handler == "vide" and not facts.starts_with_sync:
            _fail(segment, "keyframes", "does not start on a keyframe")
        self._check_timeline(segment, facts, track.timescale)
        # from the track's own first segment: an offset at the start (a source whose tracks
        # begin apart) is the whole-package QC's to judge; this is the drift as it grows
        start = facts.decode_time / track.timescale
        start -= self._origins.setdefault(segment.playlist, start)
        if track.handler == "vide":
            self._video_starts.append(start)
        elif track.handler == "soun":
            self._audio.append((segment, start))

    async def _track(self, init: str) -> TrackDefaults | None:
        if init not in self._tracks:
            found = read_init(await self._files.read_bytes(self._out / init))
            if found is None:
                return None
            self._tracks[init] = found
        return self._tracks[init]

    def _check_duration(self, segment: LandedSegment, facts: FragmentFacts, scale: int) -> None:
        seconds = facts.duration / scale
        frame = seconds / facts.samples if facts.samples else 0.0
        if abs(seconds - segment.duration) > frame + _EXTINF_ROUNDING:
            _fail(segment, "durations", f"lasts {seconds:.6f} s where its playlist says "
                                        f"{segment.duration:.6f} s")  # fmt: skip

    def _check_timeline(self, segment: LandedSegment, facts: FragmentFacts, scale: int) -> None:
        last = self._last.get(segment.playlist)
        if last is not None and facts.decode_time != last.ticks_end:
            gap = (facts.decode_time - last.ticks_end) / scale
            what = "a gap" if gap > 0 else "an overlap"
            _fail(segment, "timeline", f"{what} of {abs(gap):.6f} s after the previous segment")
        start = facts.decode_time / scale
        end_ticks = facts.decode_time + facts.duration
        self._last[segment.playlist] = SegmentTimes(start, end_ticks / scale, end_ticks)

    def _check_drift(self) -> None:
        """Each audio segment against the video segment starting nearest to it, once the
        video has passed it (the renditions land a tick apart)."""
        if not self._video_starts:
            return
        waiting = []
        for segment, start in self._audio:
            if max(self._video_starts) < start:
                waiting.append((segment, start))
                continue
            drift = min(abs(start - video) for video in self._video_starts)
            if drift > DRIFT_LIMIT:
                limit = f"limit {DRIFT_LIMIT * 1000:.0f} ms"
                _fail(segment, "av_drift", f"starts {drift * 1000:.0f} ms from the nearest "
                                           f"video segment ({limit})")  # fmt: skip
        self._audio = waiting


def _fail(segment: LandedSegment, check: str, detail: str) -> NoReturn:
    raise QcFailed(
        f"segment {segment.path} failed QC: {check}: {detail}",
        details={"segment": segment.path, "check": check, "detail": detail},
    )
