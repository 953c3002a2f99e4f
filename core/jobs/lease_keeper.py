"""The running attempt's lease: renewed while the job shows life, handed back on a stop.

Every third of the lease the claim is renewed (one fenced write), unless the job has been
quiet longer than the stall time (:mod:`core.jobs.pulse`): then the lease is let lapse, so a
worker that is alive may take the job over. A renewal refused for a cancel
(:class:`core.errors.JobCancelled`) keeps the lease and stops the attempt
(:mod:`core.jobs.cancel`): the job store answers the cancel on a write the attempt makes
anyway, so no job is polled for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from core.errors import FfapiError, JobCancelled
from core.jobs import pulse
from core.jobs.keepalive import keep_alive
from core.ports import JobStore

log = structlog.get_logger("ffapi.dispatch")


class LeaseKeeper:
    def __init__(
        self, jobs: JobStore, lease_seconds: float, stall_seconds: float | None,
        stop: Callable[[str], object],
    ) -> None:  # fmt: skip
        self._jobs = jobs
        self._lease = lease_seconds
        self._stall = stall_seconds
        self._stop = stop  # stops the job's running attempt (a cancel was requested)

    async def keep(self, job_id: str, attempt: int) -> None:
        """Renew the lease every third of it while the job shows life; return when it is
        lost (taken over)."""

        async def renew() -> bool:
            if self._stuck():
                return True  # let it lapse: a worker that is alive may take the job over
            try:
                return await self._jobs.renew(job_id, self._lease, attempt)
            except JobCancelled:  # the lease holds; the attempt stops (core.jobs.cancel)
                self._stop(job_id)
                return True

        await keep_alive(renew, self._lease / 3, "lease.renew_failed")

    def _stuck(self) -> bool:
        job = pulse.current()
        if self._stall is None or job is None or job.quiet_for() <= self._stall:
            return False
        log.warning("lease.withheld", quiet_for=round(job.quiet_for(), 1))
        return True

    async def release(self, job_id: str, attempt: int, work: Awaitable[object]) -> None:
        """The worker is stopping mid-job: wait for the attempt to stop (its ffmpeg killed,
        its directory removed), then hand the job back so another worker need not wait for
        the lease to lapse. Shielded: this runs while we are being cancelled."""

        async def release() -> None:
            await asyncio.gather(work, return_exceptions=True)
            try:
                released = await self._jobs.release(job_id, attempt)
            except FfapiError as exc:  # the lease lapses on its own
                log.warning("job.release_failed", code=exc.code, reason=exc.message)
                return
            log.info("job.released", attempt=attempt, released=released)

        await asyncio.shield(release())
