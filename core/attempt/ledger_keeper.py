"""Keeping the job record's segment ledger (:mod:`core.attempt.ledger`) while an attempt
uploads its segments.

Told of each segment once its upload has completed (:meth:`SegmentLedgerKeeper.uploaded`),
in whatever order the uploads finish, the keeper extends each playlist's run of segments
without holes (a segment ahead of a gap waits for it) and writes the ledger to the job
store, fenced by the attempt: only when the row count advanced, at most once per
``interval`` seconds (a write rewrites the whole item, so its cost grows with the ledger),
and once more on :meth:`flush`, after the encode. A resumed attempt starts from the rows it
keeps and :meth:`begin` writes them at once: the previous attempt's ledger may name
segments this one is about to overwrite.

The ledger saves work on a retry; it is never the job's failure. A write that fails (the
store unreachable) is logged and tried again with the next segment. A write *refused* says
the attempt must stop, as a lease renewal's does: :class:`core.errors.JobCancelled` when a
cancel was requested (``on_cancel`` is told first, as the progress reporter tells it), and
:class:`core.errors.LeaseLost` when another attempt holds the job, or it ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import structlog

from core.attempt.ledger import LedgerSegment, PlaylistLedger, SegmentLedger
from core.attempt.ledger_codec import MAX_LEDGER_BYTES, encode_ledger
from core.errors import FfapiError, JobCancelled, LeaseLost
from core.ports import JobStore
from core.streaming.audio_tracks import several_tracks

if TYPE_CHECKING:
    from core.streaming.renditions import StreamingPlan

log = structlog.get_logger("ffapi.ledger")

DEFAULT_INTERVAL = 15.0  # seconds between ledger writes, at least


class UploadedSegment(Protocol):
    """What the keeper reads of a segment: ``core.streaming.segment_watch.LandedSegment``."""

    @property
    def playlist(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def init(self) -> str | None: ...
    @property
    def index(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def size(self) -> int: ...


class _Run:
    """One playlist's segments without holes, and those that arrived ahead of a gap."""

    def __init__(self, start: PlaylistLedger) -> None:
        self.playlist = start.playlist
        self.init = start.init
        self.segments = list(start.segments)
        self.ahead: dict[int, LedgerSegment] = {}

    def add(self, segment: UploadedSegment) -> None:
        if segment.index < len(self.segments):
            return  # told again, or kept from an earlier attempt
        self.init = self.init or segment.init
        duration = round(segment.duration * 1_000_000)
        self.ahead[segment.index] = LedgerSegment(segment.path, duration, segment.size)
        while (next_one := self.ahead.pop(len(self.segments), None)) is not None:
            self.segments.append(next_one)

    def ledger(self) -> PlaylistLedger:
        return PlaylistLedger(self.playlist, self.init, tuple(self.segments))


class SegmentLedgerKeeper:
    def __init__(
        self, jobs: JobStore, job_id: str, attempt: int, start: SegmentLedger,
        *, clock: Callable[[], float], interval: float = DEFAULT_INTERVAL,
        on_cancel: Callable[[], object] = lambda: None,
    ) -> None:  # fmt: skip
        """``start``: the encode's playlists, every one the plan makes (a playlist with no
        segment yet holds the rows at 0), with the rows this attempt keeps from an earlier
        one (:class:`core.attempt.resume.ResumePoint`), or none. ``clock``: seconds,
        monotonic."""
        self._jobs = jobs
        self._job_id = job_id
        self._attempt = attempt
        self._fingerprint = start.fingerprint
        self._runs = {p.playlist: _Run(p) for p in start.playlists}
        self._clock = clock
        self._interval = interval
        self._on_cancel = on_cancel
        self._written_rows = -1  # none written by this attempt yet
        self._written_at: float | None = None
        self._too_large = False
        self._lock = asyncio.Lock()  # one write at a time, each of the latest ledger

    @property
    def ledger(self) -> SegmentLedger:
        """The segments told so far, in order without holes."""
        return SegmentLedger(self._fingerprint, tuple(r.ledger() for r in self._runs.values()))

    async def begin(self) -> None:
        """Write the rows this attempt starts from (none: the record's ledger is cleared)."""
        await self._write(force=True)

    async def uploaded(self, segment: UploadedSegment) -> None:
        """The segment is in the bucket. A playlist the plan does not make is ignored."""
        run = self._runs.get(segment.playlist)
        if run is None:
            log.warning("ledger.unknown_playlist", playlist=segment.playlist)
            return
        run.add(segment)
        await self._write(force=False)

    async def flush(self) -> None:
        """The last write: every row told so far, whenever the last write was."""
        await self._write(force=True)

    def _due(self, rows: int, force: bool) -> bool:
        if force and self._written_rows < 0:
            return True  # the attempt's first: what it starts from, even no row
        if rows <= max(self._written_rows, 0):
            return False
        if force or self._written_at is None:
            return True
        return self._clock() - self._written_at >= self._interval

    async def _write(self, *, force: bool) -> None:
        async with self._lock:
            rows = min((len(r.segments) for r in self._runs.values()), default=0)
            if self._too_large or not self._due(rows, force):
                return
            ledger = self.ledger  # built only to be written: a film's has thousands
            data = encode_ledger(ledger)
            if len(data) > MAX_LEDGER_BYTES:
                self._too_large = True  # the resume covers the rows written so far
                log.warning("ledger.too_large", bytes=len(data), rows=ledger.rows)
                return
            try:
                noted = await self._jobs.note_segments(self._job_id, ledger, self._attempt)
            except JobCancelled:
                self._on_cancel()
                raise
            except FfapiError as exc:  # a saving, not the job: the next segment tries again
                log.warning("ledger.write_failed", code=exc.code, reason=exc.message)
                return
            if not noted:
                raise LeaseLost(f"attempt {self._attempt} no longer holds job {self._job_id}")
            self._written_rows, self._written_at = ledger.rows, self._clock()


def start_ledger(fingerprint: str, playlists: Sequence[str]) -> SegmentLedger:
    """A fresh encode's ledger: its playlists, no segment yet."""
    return SegmentLedger(fingerprint, tuple(PlaylistLedger(p) for p in playlists))


def media_playlists(plan: StreamingPlan) -> tuple[str, ...]:
    """The media playlists the plan's muxer writes, in its order (the rungs, then the audio
    renditions): CMAF one per output stream; hls-ts one per ``-var_stream_map`` variant
    (a rung with its copy of the audio, or an audio-only rendition of several tracks)."""
    if plan.kind == "hls-ts":
        alone = len(plan.audio) if plan.video and several_tracks(plan.audio) else 0
        count = len(plan.video) + alone or 1
    else:
        count = len(plan.video) + len(plan.audio)
    return tuple(f"{plan.package_dir}/media_{n}.m3u8" for n in range(count))
