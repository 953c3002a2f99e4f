"""The lease a running job holds: lost to another worker, it stops the attempt; let go
when the job goes quiet, it lets a live worker take over."""

from __future__ import annotations

import asyncio

import pytest

from core.attempt.ledger_sink import AttemptLedger
from core.attempt.pipeline import Report
from core.jobs import pulse
from core.jobs.outcome import Disposition, Outcome
from core.jobs.results import JobResult, JobStatus
from core.models import JobRequest
from core.ports import JobDir, QueueMessage
from core.presets import OutputPreset

from .dispatch_harness import Harness, s3_put
from .fakes import FakeJobs, FakePipeline


class TakenOver(FakePipeline):
    """A pipeline that stalls past its lease: meanwhile another worker claims the job."""

    def __init__(self, jobs: FakeJobs) -> None:
        super().__init__(None)
        self.jobs = jobs

    async def run(
        self,
        job_id: str,
        request: JobRequest,
        preset: OutputPreset,
        jobdir: JobDir,
        attempt: int,
        report: Report | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:
        self.jobs.now += 10_000  # the lease lapsed...
        await self.jobs.claim(job_id, request, 60)  # ...and another delivery claimed it
        return await super().run(job_id, request, preset, jobdir, attempt)


def test_a_worker_whose_lease_was_taken_over_neither_records_nor_announces() -> None:
    h = Harness(FakePipeline())
    h.use(TakenOver(h.jobs))

    outcome = h.handle(s3_put())

    assert outcome.disposition is Disposition.RETRY  # the message is the new owner's too
    assert outcome.jobs[0].status == "SUPERSEDED"
    job_id = outcome.jobs[0].job_id
    assert h.jobs.records[job_id]["status"] == JobStatus.RUNNING  # the new claim stands
    assert h.jobs.records[job_id]["attempts"] == 2
    assert h.events.types == [
        "ffapi.job.received",
        "ffapi.job.started",
    ]


class Stalls(FakePipeline):
    """An attempt that hangs while another worker takes its job over."""

    def __init__(self, jobs: FakeJobs) -> None:
        super().__init__()
        self.jobs = jobs
        self.cancelled = False

    async def run(
        self,
        job_id: str,
        request: JobRequest,
        preset: OutputPreset,
        jobdir: JobDir,
        attempt: int,
        report: Report | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:
        self.runs.append((job_id, attempt))
        self.jobs.records[job_id]["attempts"] += 1  # another worker's claim
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


def test_losing_the_lease_stops_the_attempt() -> None:
    h = Harness(FakePipeline(), lease_seconds=0.03)  # renewals every 10 ms
    stalls = Stalls(h.jobs)
    h.use(stalls)

    outcome = h.handle(s3_put())

    assert stalls.cancelled  # our ffmpeg would be killed, not left racing the new owner
    assert outcome.jobs[0].status == "SUPERSEDED"
    assert outcome.disposition is Disposition.RETRY
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started"]


class GoesQuiet(FakePipeline):
    """An attempt that shows no life for a while (stuck where nothing times it out), then
    beats again; the clock of its pulse is the test's."""

    def __init__(self, jobs: FakeJobs, clock: list[float]) -> None:
        super().__init__(None)
        self.jobs, self.clock = jobs, clock
        self.renewals: dict[str, int] = {}

    async def run(
        self,
        job_id: str,
        request: JobRequest,
        preset: OutputPreset,
        jobdir: JobDir,
        attempt: int,
        report: Report | None = None,
        ledger: AttemptLedger | None = None,
    ) -> JobResult:
        self.clock[0] += 100  # quiet past the stall time
        self.renewals["quiet"] = await self._renewals_over(0.1)
        pulse.beat()  # alive again (ffmpeg wrote a line, bytes moved)
        self.renewals["alive"] = await self._renewals_over(0.1)
        return await super().run(job_id, request, preset, jobdir, attempt)

    async def _renewals_over(self, seconds: float) -> int:
        before = self.jobs.renewals
        await asyncio.sleep(seconds)
        return self.jobs.renewals - before


@pytest.mark.parametrize("kept", [True, False])
def test_a_quiet_job_stops_renewing_its_lease_where_a_pulse_is_kept(kept: bool) -> None:
    clock = [0.0]
    h = Harness(FakePipeline(), lease_seconds=0.03, stall_seconds=10)  # renewals every 10 ms
    quiet = GoesQuiet(h.jobs, clock)
    h.use(quiet)

    async def handle() -> Outcome:
        message = QueueMessage("msg-1", s3_put(), 1)
        if not kept:  # Lambda: no pulse, the invocation's own timeout bounds the job
            return await h.dispatcher.handle(message)
        with pulse.bound(pulse.Pulse(clock=lambda: clock[0])):
            return await h.dispatcher.handle(message)

    outcome = asyncio.run(handle())

    assert outcome.jobs[0].status == "COMPLETED"
    assert quiet.renewals["alive"] > 0
    if kept:
        assert quiet.renewals["quiet"] == 0  # the lease lapses: another worker may take over
    else:
        assert quiet.renewals["quiet"] > 0
