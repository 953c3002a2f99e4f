"""The segment ledger's keeper (core.attempt.ledger_keeper) on the in-memory job store: the
ledger has no holes whatever order the uploads finish in, it is written only when the rows
advance and at most once per interval, flushed at the end, started from the rows a resumed
attempt keeps; a refused write stops the attempt (LeaseLost, or JobCancelled after telling
``on_cancel``), a failed one does not."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.attempt.ledger import SegmentLedger
from core.attempt.ledger_keeper import SegmentLedgerKeeper, media_playlists, start_ledger
from core.errors import JobCancelled, LeaseLost, StorageUnavailable
from core.models import JobRequest, S3ObjectRef
from infra.memory_jobs import MemoryJobStore
from tests.unit.test_renditions import after, maps, plan, source

FP = "fp-1"
REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")
PLAYLISTS = ("cmaf/media_0.m3u8", "cmaf/media_1.m3u8")


@dataclass(frozen=True, slots=True)
class Landed:
    """As core.streaming.segment_watch.LandedSegment."""

    playlist: str
    path: str
    init: str | None
    index: int
    start: float
    duration: float
    size: int


def landed(rung: int, index: int, duration: float = 4.0) -> Landed:
    return Landed(
        f"cmaf/media_{rung}.m3u8", f"cmaf/seg-{rung}-{index + 1:05d}.m4s",
        f"cmaf/init-{rung}.m4s", index, index * 4.0, duration, 1000 * rung + index,
    )  # fmt: skip


class Jobs(MemoryJobStore):
    def __init__(self) -> None:
        super().__init__(lambda: 1_000.0)
        self.notes: list[int] = []  # the rows of each ledger written
        self.down = False

    async def note_segments(self, job_id: str, ledger: SegmentLedger, attempt: int) -> bool:
        if self.down:
            raise StorageUnavailable("dynamodb down")
        self.notes.append(ledger.rows)
        return await super().note_segments(job_id, ledger, attempt)


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def keeper(
    jobs: Jobs, clock: Clock, start: SegmentLedger | None = None, **kw: object
) -> SegmentLedgerKeeper:
    return SegmentLedgerKeeper(
        jobs, "j-1", 1, start or start_ledger(FP, PLAYLISTS), clock=clock, interval=10.0,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def run(check: object) -> None:
    async def main() -> None:
        jobs = Jobs()
        await jobs.claim("j-1", REQUEST, 60, "m-1")
        await check(jobs, Clock())  # type: ignore[operator]

    asyncio.run(main())


def test_uploads_finishing_out_of_order_leave_no_hole() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        keep = keeper(jobs, clock)
        for rung, index in [(0, 1), (0, 2), (1, 0)]:
            await keep.uploaded(landed(rung, index))
        assert [len(p.segments) for p in keep.ledger.playlists] == [0, 1]
        assert jobs.notes == []  # no row yet: media_0 waits for its first segment
        await keep.uploaded(landed(0, 0))
        assert [len(p.segments) for p in keep.ledger.playlists] == [3, 1]
        assert jobs.notes == [1]
        first = keep.ledger.playlists[0]
        assert [s.path for s in first.segments] == [f"cmaf/seg-0-0000{n}.m4s" for n in (1, 2, 3)]
        assert (first.init, first.segments[0].duration_us) == ("cmaf/init-0.m4s", 4_000_000)

    run(check)


@given(st.permutations([(rung, k) for rung in range(2) for k in range(6)]))
def test_any_order_of_uploads_ends_in_the_same_ledger(order: list[tuple[int, int]]) -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        keep = keeper(jobs, clock)
        for rung, index in order:
            clock.now += 20  # every write due: each one is checked
            await keep.uploaded(landed(rung, index))
            for p in keep.ledger.playlists:  # no hole, whatever has landed
                assert [s.path for s in p.segments] == [
                    landed(int(p.playlist[-6]), k).path for k in range(len(p.segments))
                ]
        await keep.flush()
        assert keep.ledger.rows == 6
        assert jobs.notes == sorted(set(jobs.notes))  # the rows written only ever grow
        record = await jobs.get("j-1")
        assert record is not None
        assert record.segments == keep.ledger

    run(check)


def test_it_writes_when_the_rows_advance_at_most_once_per_interval() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        keep = keeper(jobs, clock)
        for index in range(6):
            clock.now += 4
            await keep.uploaded(landed(0, index))
            await keep.uploaded(landed(1, index))
            await keep.uploaded(landed(1, index))  # told twice: nothing changes
        # a row every 4 s: written at 4 s (1 row), at 16 s (the 3 rows complete when its
        # first segment 3 lands), not again by 24 s
        assert jobs.notes == [1, 3]
        await keep.flush()
        await keep.flush()  # nothing new
        assert jobs.notes == [1, 3, 6]
        record = await jobs.get("j-1")
        assert record is not None
        assert record.segments == keep.ledger

    run(check)


def test_a_resumed_attempt_starts_from_the_rows_it_keeps() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        earlier = keeper(jobs, clock)
        for index in range(3):
            await earlier.uploaded(landed(0, index))
            await earlier.uploaded(landed(1, index))
        await earlier.flush()
        kept = earlier.ledger.head(2)
        keep = keeper(jobs, clock, kept)
        await keep.begin()  # the record says what this attempt keeps, before it overwrites
        record = await jobs.get("j-1")
        assert record is not None
        assert record.segments == kept
        await keep.uploaded(landed(0, 1))  # kept already: ignored
        await keep.uploaded(landed(0, 2))
        await keep.uploaded(landed(1, 2))
        await keep.flush()
        assert keep.ledger.rows == 3
        assert jobs.notes[-2:] == [2, 3]

    run(check)


def test_a_fresh_attempt_clears_an_earlier_ledger() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        earlier = keeper(jobs, clock)
        await earlier.uploaded(landed(0, 0))
        await earlier.uploaded(landed(1, 0))
        await keeper(jobs, clock, start_ledger("fp-2", PLAYLISTS)).begin()
        record = await jobs.get("j-1")
        assert record is not None
        assert record.segments == start_ledger("fp-2", PLAYLISTS)

    run(check)


def test_a_write_refused_by_a_takeover_stops_the_attempt() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        keep = keeper(jobs, clock)
        await jobs.release("j-1", 1)
        await jobs.claim("j-1", REQUEST, 60, "m-2")  # attempt 2 holds it now
        await keep.uploaded(landed(0, 0))
        with pytest.raises(LeaseLost):
            await keep.uploaded(landed(1, 0))

    run(check)


def test_a_write_refused_for_a_cancel_tells_on_cancel_and_raises() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        told: list[str] = []
        keep = keeper(jobs, clock, on_cancel=lambda: told.append("stop"))
        assert (await jobs.cancel("j-1")).outcome == "requested"
        await keep.uploaded(landed(0, 0))
        with pytest.raises(JobCancelled):
            await keep.uploaded(landed(1, 0))
        assert told == ["stop"]
        record = await jobs.get("j-1")
        assert record is not None
        assert record.segments is None

    run(check)


def test_a_failed_write_is_tried_again_with_the_next_segment() -> None:
    async def check(jobs: Jobs, clock: Clock) -> None:
        keep = keeper(jobs, clock)
        jobs.down = True
        await keep.uploaded(landed(0, 0))
        await keep.uploaded(landed(1, 0))  # logged, not raised
        jobs.down = False
        await keep.uploaded(landed(0, 1))
        assert jobs.notes == [1]
        await keep.uploaded(landed(9, 0))  # a playlist the plan does not make: ignored
        assert keep.ledger.playlist("cmaf/media_9.m3u8") is None

    run(check)


def test_a_ledger_past_its_limit_is_no_longer_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.attempt.ledger_keeper.MAX_LEDGER_BYTES", 150)

    async def check(jobs: Jobs, clock: Clock) -> None:
        keep = keeper(jobs, clock)
        for index in range(40):
            clock.now += 20
            await keep.uploaded(landed(0, index))
            await keep.uploaded(landed(1, index))
        await keep.flush()
        assert jobs.notes
        assert jobs.notes[-1] < 40
        record = await jobs.get("j-1")
        assert record is not None
        assert record.segments is not None
        assert record.segments.rows == jobs.notes[-1]

    run(check)


@pytest.mark.parametrize(
    ("preset", "probe"),
    [
        ("web-hls", source()),
        ("web-hls", source(audio=False)),
        ("audio-only", source(video=False)),
        ("hls-ts", source()),
        ("hls-ts", source(audio=False)),
    ],
)
def test_the_playlists_are_those_the_muxer_writes(preset: str, probe: object) -> None:
    p = plan(probe, preset)  # type: ignore[arg-type]
    names = media_playlists(p)
    assert names == tuple(f"{p.package_dir}/media_{n}.m3u8" for n in range(len(names)))
    argv = p.argv[: p.argv.index("-f", p.argv.index("-i"))]  # the package's own output
    if p.kind == "hls-ts":
        assert len(names) == len(after(p.argv, "-var_stream_map").split())
    else:
        assert len(names) == len(maps(argv))  # a representation per output stream
