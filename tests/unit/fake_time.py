"""Time that moves only when a test says so: ``sleep`` waits until ``advance`` reaches its
deadline, sleepers woken in deadline order, every ready task let run in between."""

from __future__ import annotations

import asyncio


async def settle() -> None:
    """Let every task that can run, run (a few rounds: wakeups cascade)."""
    for _ in range(50):
        await asyncio.sleep(0)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, woken))
        try:
            await woken
        finally:
            self._sleepers = [(t, f) for t, f in self._sleepers if f is not woken]

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await settle()
        while due := [(t, f) for t, f in self._sleepers if t <= target and not f.done()]:
            deadline, woken = min(due, key=lambda pair: pair[0])
            self.now = max(self.now, deadline)
            woken.set_result(None)
            await settle()
        self.now = target
        await settle()
