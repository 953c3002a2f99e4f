"""infra.ffmpeg.StallWatch: what counts as progress, on a fake clock."""

from __future__ import annotations

import asyncio

from infra.ffmpeg import StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_until_stalled(watch: StallWatch, clock: Clock, step: float, cpu: list[float]) -> float:
    """Advance the fake clock by ``step`` a look, the CPU time by the next of ``cpu``; the
    time the watch says it stalled."""

    async def go() -> float:
        task = asyncio.ensure_future(watch.stalled())
        used = iter(cpu)
        total = 0.0
        watch.working(lambda: total)
        while not task.done():
            clock.now += step
            total += next(used, 0.0)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        return clock.now

    watch.CPU_POLL = 0.0  # look at every turn of the fake clock
    return asyncio.run(go())


def test_cpu_work_before_the_first_block_keeps_a_late_output_alive() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    # 30 s of busy CPU (no block: an output not started yet), then nothing
    stalled_at = run_until_stalled(watch, clock, 1.0, [0.8] * 30)
    assert 40.0 <= stalled_at <= 42.0


def test_after_the_first_block_only_the_encoded_time_counts() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    used = [0.0]
    watch.working(lambda: used[0])
    watch.feed("out_time_us=1000000")
    clock.now, used[0] = 11.0, 9.0  # busy all along, the encoded time standing still
    asyncio.run(asyncio.wait_for(watch.stalled(), 1.0))  # returns at once: stalled


def test_an_idle_process_before_its_first_block_stalls_on_time() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    stalled_at = run_until_stalled(watch, clock, 1.0, [])
    assert 10.0 <= stalled_at <= 12.0
