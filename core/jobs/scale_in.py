"""Scale-in protection while jobs run: a task busy with a job is not the one a scale-in stops.

The dispatcher holds the guard around each job it has claimed (a message that runs no job
asks the agent nothing). Protection is one state of the whole task, so the guard counts: the
first job to start turns it on, the last one to end turns it off, and in between it is
renewed on its own timer (no per-job flips: with N jobs at once the agent sees one
``protect`` and one ``release``, plus renewals).

Its expiry outlasts the job's lease (twice it, and a minute more), so a worker that dies
without releasing is stoppable again soon after its jobs could be taken over; it is renewed
every third of the lease, as the lease is. Protection is a courtesy, never a condition: a
refused or unanswered call is logged and tried again a second later, and the job goes on.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog

from core.jobs.keepalive import MAX_WAIT_SECONDS, RETRY_SECONDS
from core.ports import TaskProtection

log = structlog.get_logger("ffapi.scale_in")

MAX_MINUTES = 2880  # the agent's bound: 48 hours
RENEWALS_PER_LEASE = 3  # as the lease itself is renewed (core/jobs/keepalive.py)

Sleep = Callable[[float], Awaitable[None]]


def protection_minutes(lease_seconds: float) -> int:
    """Longer than the lease: twice it, rounded up to minutes, and one more (1..2880)."""
    return max(1, min(MAX_MINUTES, math.ceil(lease_seconds * 2 / 60) + 1))


class ScaleInGuard:
    """``async with guard.job():`` around each job. ``port`` None (not on ECS): nothing
    happens."""

    def __init__(
        self, port: TaskProtection | None, lease_seconds: float, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._port = port
        self._minutes = protection_minutes(lease_seconds)
        self._interval = lease_seconds / RENEWALS_PER_LEASE
        self._sleep = sleep
        self._running = 0
        self._renewals: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # one transition at a time, in the order asked

    @property
    def running(self) -> int:
        return self._running

    @asynccontextmanager
    async def job(self) -> AsyncIterator[None]:
        """Protected before the job starts (or after one refused try); released when the
        last running job ends, however it ends."""
        if self._port is None:
            yield
            return
        self._running += 1
        try:
            await self._settle(self._port)
            yield
        finally:
            self._running -= 1
            # shielded: a job cancelled on a drain still releases the task
            await asyncio.shield(self._settle(self._port))

    async def _settle(self, port: TaskProtection) -> None:
        """Bring the agent's state in line with the count (a no-op if it already is)."""
        async with self._turn:
            if self._running and self._renewals is None:
                accepted = False
                try:
                    accepted = await self._call(port.protect(self._minutes), "protect")
                finally:  # even if cancelled mid-call (the agent may have applied it): the
                    # last job's exit finds renewals to stop, and releases
                    first = self._interval if accepted else min(RETRY_SECONDS, self._interval)
                    self._renewals = asyncio.create_task(self._renew(port, first))
            elif not self._running and self._renewals is not None:
                self._renewals.cancel()
                # a renewal in flight ends before the release goes out, never after it
                await asyncio.gather(self._renewals, return_exceptions=True)
                self._renewals = None
                await self._call(port.release(), "release")

    async def _renew(self, port: TaskProtection, first: float) -> None:
        delay = first
        while True:
            await self._sleep(delay)
            accepted = await self._call(port.protect(self._minutes), "renew")
            delay = self._interval if accepted else min(RETRY_SECONDS, self._interval)

    async def _call(self, call: Awaitable[bool], action: str) -> bool:
        """One call to the agent, bounded: a job never waits long on it."""
        try:
            async with asyncio.timeout(MAX_WAIT_SECONDS):
                accepted = await call
        except TimeoutError:
            accepted = False
        except Exception:  # an adapter's bug must not fail the job it was protecting
            log.exception("scale_in.error", action=action)
            accepted = False
        if accepted and action != "renew":  # renewals are routine: not logged
            log.info(f"scale_in.{action}", expires_minutes=self._minutes, running=self._running)
        elif not accepted:
            log.warning("scale_in.failed", action=action, running=self._running)
        return accepted
