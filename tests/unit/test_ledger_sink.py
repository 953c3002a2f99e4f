"""The ledger's sink (core.attempt.ledger_sink) on the in-memory job store: a segment is
noted only once its upload is delivered; each video rung's init segment is sent ahead once,
the sound's never (its language is written into it later); a write refused by a takeover
is raised by the next ``landed`` or by ``close``; and whether a failed attempt leaves its
segments for the next (core.attempt.resume_run.keeps_segments)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from core.attempt.ledger_keeper import SegmentLedgerKeeper, start_ledger
from core.attempt.ledger_sink import AttemptLedger, LedgerSink
from core.attempt.resume_run import keeps_segments
from core.errors import LeaseLost, QcFailed, StorageUnavailable
from core.models import JobRequest, S3ObjectRef
from core.streaming.segment_watch import LandedSegment
from infra.memory_jobs import MemoryJobStore

REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")
PLAYLISTS = ("cmaf/media_0.m3u8", "cmaf/media_1.m3u8")  # a video rung, the sound


def seg(rung: int, index: int) -> LandedSegment:
    return LandedSegment(f"cmaf/media_{rung}.m3u8", f"cmaf/seg-{rung}-{index + 1:05d}.m4s",
                         f"cmaf/init-{rung}.m4s", index, index * 4.0, 4.0, 100)  # fmt: skip


class Uploads:
    """Uploads that are delivered when the test says so."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()

    def send_files(self, paths: Iterable[str]) -> None:
        self.sent.extend(paths)

    async def delivered(self, paths: Iterable[str]) -> None:
        await self.gate.wait()


async def sink_on(jobs: MemoryJobStore, uploads: Uploads) -> tuple[LedgerSink, SegmentLedgerKeeper]:
    await jobs.claim("j-1", REQUEST, 60, "m")
    keeper = SegmentLedgerKeeper(jobs, "j-1", 1, start_ledger("fp", PLAYLISTS),
                                 clock=lambda: 0.0, interval=0)  # fmt: skip
    await keeper.begin()
    return LedgerSink(keeper, uploads, PLAYLISTS[:1]), keeper


def test_segments_are_noted_once_delivered_and_video_inits_go_ahead_once() -> None:
    async def main() -> None:
        jobs, uploads = MemoryJobStore(lambda: 1_000.0), Uploads()
        sink, keeper = await sink_on(jobs, uploads)
        await sink.landed([seg(0, 0), seg(1, 0)])
        await sink.landed([seg(0, 1), seg(1, 1)])
        await asyncio.sleep(0)
        assert keeper.ledger.rows == 0  # not in the bucket yet
        uploads.gate.set()
        await sink.close()
        assert keeper.ledger.rows == 2
        assert uploads.sent == ["cmaf/init-0.m4s"]  # the rung's, once; the sound's never

    asyncio.run(main())


def test_a_write_refused_by_a_takeover_is_raised_at_close() -> None:
    async def main() -> None:
        clock = [1_000.0]
        jobs, uploads = MemoryJobStore(lambda: clock[0]), Uploads()
        sink, _ = await sink_on(jobs, uploads)
        clock[0] += 10_000
        await jobs.claim("j-1", REQUEST, 60, "m")  # another attempt holds the job
        uploads.gate.set()
        await sink.landed([seg(0, 0), seg(1, 0)])
        with pytest.raises(LeaseLost):
            await sink.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("error", "kept"),
    [(StorageUnavailable("s3 down"), True), (LeaseLost("taken over"), True),
     (QcFailed("bad package"), False), (RuntimeError("a bug"), False)],
)  # fmt: skip
def test_a_retryable_failure_keeps_the_segments_for_the_next_attempt(
    error: Exception, kept: bool
) -> None:
    ledger = AttemptLedger(None, lambda start: None)  # type: ignore[arg-type, return-value]
    assert keeps_segments(ledger, error) is kept
    assert keeps_segments(None, error) is False  # no ledger kept: nothing to resume from
