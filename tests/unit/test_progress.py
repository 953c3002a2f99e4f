"""core.events.progress and core.events.reporting: ffmpeg's -progress blocks -> throttled updates ->
the job record and ffapi.job.progress events, without holding up the encode."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from core.errors import StorageUnavailable
from core.events.cloudevent import CloudEvent
from core.events.progress import EncodeProgress, ProgressBlocks, ProgressThrottle, ProgressUpdate
from core.events.reporting import ProgressReporter

from .fakes import FakeEvents, FakeJobs

# What ffmpeg 5.1 writes with -progress pipe:1 (two blocks, the second the end).
RAW = """frame=69
fps=66.60
stream_0_0_q=29.0
bitrate=1806.5kbits/s
total_size=524336
out_time_us=2321995
out_time_ms=2321995
out_time=00:00:02.321995
dup_frames=0
drop_frames=0
speed=2.24x
progress=continue
frame=300
out_time_us=10005333
speed=2.5x
progress=end
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_blocks_are_assembled_from_lines_and_parsed() -> None:
    seen: list[EncodeProgress] = []
    blocks = ProgressBlocks(seen.append)
    for line in RAW.splitlines(keepends=True):
        blocks.feed(line)
    assert seen == [EncodeProgress(2.321995, 2.24, False), EncodeProgress(10.005333, 2.5, True)]


def test_a_block_without_a_time_yet_is_skipped_but_the_end_never_is() -> None:
    seen: list[EncodeProgress] = []
    blocks = ProgressBlocks(seen.append)
    for line in [
        "out_time_us=N/A",
        "speed=N/A",
        "progress=continue",
        "garbage",
        "out_time_us=N/A",
        "progress=end",
    ]:
        blocks.feed(line)
    assert seen == [EncodeProgress(0.0, None, True)]


def throttle(clock: Clock, total: float = 100.0) -> ProgressThrottle:
    return ProgressThrottle(total, interval=5.0, step=5.0, clock=clock)


def test_the_first_report_goes_out_then_only_after_both_the_interval_and_the_step() -> None:
    clock = Clock()
    t = throttle(clock)
    first = t.offer(EncodeProgress(1.0, 1.0, False))
    assert first == ProgressUpdate(phase="encode", percent=1.0, speed=1.0, eta_seconds=99.0)
    clock.now = 10.0
    assert t.offer(EncodeProgress(5.0, 1.0, False)) is None  # 10 s but 4 %: not yet
    clock.now = 11.0
    update = t.offer(EncodeProgress(6.5, 2.0, False))
    assert update is not None
    assert (update.percent, update.eta_seconds) == (6.5, 46.8)  # (100 - 6.5) s at 2x
    clock.now = 12.0
    assert t.offer(EncodeProgress(50.0, 2.0, False)) is None  # 43 % but 1 s: not yet


def test_the_end_always_goes_out_at_100_and_nothing_after_it() -> None:
    clock = Clock()
    t = throttle(clock)
    t.offer(EncodeProgress(1.0, 1.0, False))
    end = t.offer(EncodeProgress(99.0, 3.0, True))  # at once, whatever the throttle says
    assert end == ProgressUpdate(phase="encode", percent=100.0, speed=3.0, eta_seconds=0.0)
    clock.now = 100.0
    assert t.offer(EncodeProgress(100.0, 3.0, True)) is None


def test_progress_never_goes_back_and_stays_under_100_until_the_end() -> None:
    """A fallback starts the encode again on the next tier: the percent holds meanwhile."""
    clock = Clock()
    t = throttle(clock)
    t.offer(EncodeProgress(40.0, 1.0, False))
    clock.now = 10.0
    assert t.offer(EncodeProgress(3.0, 1.0, False)) is None  # 3 % is behind 40 %
    clock.now = 20.0
    late = t.offer(EncodeProgress(120.0, 1.0, False))  # past the probed length
    assert late is not None
    assert late.percent == 99.9


def test_an_unknown_length_reports_only_the_start_and_the_end() -> None:
    clock = Clock()
    t = throttle(clock, total=0.0)
    assert t.offer(EncodeProgress(1.0, 1.0, False)) == ProgressUpdate(
        phase="encode", percent=0.0, speed=1.0, eta_seconds=None
    )
    clock.now = 60.0
    assert t.offer(EncodeProgress(50.0, 1.0, False)) is None
    end = t.offer(EncodeProgress(90.0, 1.0, True))
    assert end is not None
    assert end.percent == 100.0


NOW = datetime(2026, 11, 24, tzinfo=UTC)


def reporter(jobs: FakeJobs, events: FakeEvents) -> ProgressReporter:
    jobs.records["j-1"] = {"status": "RUNNING", "attempts": 1}
    return ProgressReporter("j-1", 1, {"preset": "web-hls"}, jobs, events.publish, lambda: NOW)


def update(percent: float) -> ProgressUpdate:
    return ProgressUpdate(phase="encode", percent=percent, speed=1.0, eta_seconds=1.0)


class SlowEvents(FakeEvents):
    """A topic that takes its time: the first publish waits until ``go`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def publish(self, event: CloudEvent) -> None:
        await self.go.wait()
        await super().publish(event)


def test_the_reporter_records_and_publishes_and_skips_stale_updates() -> None:
    jobs, events = FakeJobs(), SlowEvents()
    report = reporter(jobs, events)

    async def scenario() -> None:
        report(update(10.0))
        await asyncio.sleep(0)  # 10 % is in flight, held up by the topic
        report(update(20.0))  # superseded before its turn...
        report(update(30.0))  # ...by this one: the encode never waits for the topic
        events.go.set()
        await report.flush()

    asyncio.run(scenario())
    published: list[CloudEvent] = events.published
    percents = [e.data["progress"]["percent"] for e in published]
    assert percents == [10.0, 30.0]
    assert {e.type.value for e in published} == {"ffapi.job.progress"}
    assert len({e.id for e in published}) == 2
    assert published[0].data["preset"] == "web-hls"
    assert published[0].data["attempt"] == 1
    assert published[0].attributes["status"] == "progress"
    assert jobs.records["j-1"]["progress"]["percent"] == 30.0


class DownEvents(FakeEvents):
    async def publish(self, event: CloudEvent) -> None:
        raise StorageUnavailable("sns: connection refused")


def test_a_failure_to_announce_progress_is_not_the_jobs() -> None:
    jobs = FakeJobs()
    report = reporter(jobs, DownEvents())

    async def scenario() -> None:
        report(update(50.0))
        await report.flush()  # no exception

    asyncio.run(scenario())
    assert jobs.records["j-1"]["progress"]["percent"] == 50.0


@pytest.mark.parametrize("percent", [0.0, 12.5, 100.0])
def test_progress_event_ids_are_stable_per_percent(percent: float) -> None:
    """A progress event sent again (a redelivered attempt) carries the same id."""
    ids = []
    for _ in range(2):
        events = FakeEvents()
        report = reporter(FakeJobs(), events)

        async def scenario(r: ProgressReporter = report, p: float = percent) -> None:
            r(update(p))
            await r.flush()

        asyncio.run(scenario())
        ids.append(events.published[0].id)
    assert ids[0] == ids[1]
