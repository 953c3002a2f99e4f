"""An attempt's segment ledger at work: what the dispatcher hands the pipeline
(:class:`AttemptLedger`), and the sink that tells the keeper of each segment once it is in
the bucket (:class:`LedgerSink`).

The dispatcher knows the job record (the previous attempt's ledger comes with the claim)
and the attempt's fencing; the pipeline knows the plan. :class:`AttemptLedger` carries the
one to the other: the previous ledger, and a factory of this attempt's
:class:`~core.attempt.ledger_keeper.SegmentLedgerKeeper` given the ledger it starts from.

:class:`LedgerSink` is told of segments by the segment watch after the upload ahead: it
waits in the background for their upload (the watch must not wait on the network), then
tells the keeper, which writes the record. A rung's init segment goes up ahead with its
first segment (measured: the dash muxer writes it once, before the first segment, and never
again): a resumed attempt keeps it, since a range encode's own init segments are not the
whole encode's. A refused write (:class:`~core.errors.JobCancelled`,
:class:`~core.errors.LeaseLost`) is raised by the next :meth:`LedgerSink.landed` or by
:meth:`LedgerSink.close`; an upload's failure is the upload's to raise, not this sink's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.attempt.ledger import SegmentLedger
from core.attempt.ledger_keeper import DEFAULT_INTERVAL, SegmentLedgerKeeper
from core.errors import FfapiError
from core.ports import JobStore
from core.streaming.segment_watch import LandedSegment


@dataclass(frozen=True, slots=True)
class AttemptLedger:
    """The previous attempt's ledger (None: none kept) and this attempt's keeper, made
    from the ledger it starts from."""

    previous: SegmentLedger | None
    keeper: Callable[[SegmentLedger], SegmentLedgerKeeper]


def attempt_ledger(
    jobs: JobStore, job_id: str, attempt: int, previous: SegmentLedger | None,
    on_cancel: Callable[[], object], interval: float = DEFAULT_INTERVAL,
) -> AttemptLedger:  # fmt: skip
    """An attempt's: its keeper writes fenced by ``attempt``, at most once per ``interval``
    seconds, telling ``on_cancel`` of a cancel as the progress reporter does."""

    def keeper(start: SegmentLedger) -> SegmentLedgerKeeper:
        return SegmentLedgerKeeper(
            jobs, job_id, attempt, start, clock=time.monotonic, interval=interval,
            on_cancel=on_cancel,
        )  # fmt: skip

    return AttemptLedger(previous, keeper)


class AheadUploads(Protocol):
    """Where the segments go (:class:`core.attempt.upload.UploadAhead`)."""

    def send_files(self, paths: Iterable[str]) -> None: ...
    async def delivered(self, paths: Iterable[str]) -> None: ...


class LedgerSink:
    def __init__(
        self, keeper: SegmentLedgerKeeper, uploads: AheadUploads, video: Sequence[str]
    ) -> None:
        """``video``: the video rungs' media playlists, whose init segments go up ahead."""
        self._keeper = keeper
        self._uploads = uploads
        self._video = frozenset(video)
        self._inits: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._error: FfapiError | None = None

    async def landed(self, segments: Sequence[LandedSegment]) -> None:
        self._raise()
        inits = {s.init for s in segments if s.init and s.playlist in self._video} - self._inits
        self._inits |= {i for i in inits if i}
        self._uploads.send_files(sorted(i for i in inits if i))
        self._tasks.append(asyncio.create_task(self._note(tuple(segments))))

    async def _note(self, segments: tuple[LandedSegment, ...]) -> None:
        try:
            paths = [*(s.path for s in segments), *(s.init for s in segments if s.init)]
            await self._uploads.delivered(paths)  # a rung's init segment with its first
        except Exception:
            return
        try:
            for segment in segments:
                await self._keeper.uploaded(segment)
        except FfapiError as exc:  # a refused write: the attempt must stop
            self._error = self._error or exc

    async def close(self) -> None:
        """Every segment told is noted; the last write."""
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks)
        self._raise()
        await self._keeper.flush()

    async def abort(self) -> None:
        """The attempt failed: nothing more is written."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
