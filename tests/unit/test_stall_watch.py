"""infra.ffmpeg.StallWatch: what counts as progress, on a fake clock."""

from __future__ import annotations

import asyncio

from infra.ffmpeg import StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_until_stalled(watch: StallWatch, clock: Clock, written: list[int]) -> float:
    """One second of the fake clock a look, and the next of ``written`` more bytes on disk;
    the time the watch says it stalled."""

    async def go() -> float:
        task = asyncio.ensure_future(watch.stalled())
        more = iter(written)
        total = 0
        watch.writing(lambda: total)
        while not task.done():
            clock.now += 1.0
            total += next(more, 0)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        return clock.now

    watch.POLL = 0.0  # look at every turn of the fake clock
    return asyncio.run(go())


def test_outputs_growing_before_the_first_block_keep_a_late_output_alive() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    # 30 s of outputs growing (no block: one output has not started yet), then nothing
    stalled_at = run_until_stalled(watch, clock, [65536] * 30)
    assert 40.0 <= stalled_at <= 42.0


def test_after_the_first_block_only_the_encoded_time_counts() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    written = [0]
    watch.writing(lambda: written[0])
    watch.feed("out_time_us=1000000")
    clock.now, written[0] = 11.0, 10**6  # writing all along, the encoded time standing still
    asyncio.run(asyncio.wait_for(watch.stalled(), 1.0))  # returns at once: stalled


def test_a_run_that_writes_nothing_before_its_first_block_stalls_on_time() -> None:
    """Wedged, or spinning on a damaged input: busy or not, nothing reaches the disk."""
    clock = Clock()
    watch = StallWatch(10.0, clock)
    stalled_at = run_until_stalled(watch, clock, [])
    assert 10.0 <= stalled_at <= 12.0
