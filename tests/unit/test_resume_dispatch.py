"""The segment ledger through the dispatcher, on the shipped in-memory adapters: the
ledger a claim carries reaches the pipeline (a first attempt's: none); a keeper's
write refused by a cancel ends the job CANCELLED (not FAILED), and one refused because
another attempt holds the job ends this one SUPERSEDED."""

from __future__ import annotations

import asyncio

from core.attempt.ledger import LedgerSegment, PlaylistLedger, SegmentLedger
from core.attempt.ledger_sink import AttemptLedger
from core.attempt.pipeline import Report
from core.errors import StorageUnavailable
from core.jobs.outcome import Disposition
from core.jobs.results import JobResult, JobStatus
from core.models import JobRequest
from core.ports import JobDir
from core.presets import OutputPreset

from .dispatch_harness import Harness, s3_put
from .fakes import FakePipeline

LEDGER = SegmentLedger(
    "f" * 24,
    (PlaylistLedger("cmaf/media_0.m3u8", "cmaf/init-0.m4s",
                    (LedgerSegment("cmaf/seg-0-00001.m4s", 4_000_000, 1234),)),),
)  # fmt: skip


class WritesLedger(FakePipeline):
    """An attempt whose keeper writes the ledger it starts from, after ``before`` (a cancel
    requested, or the job taken over), then encodes until it is stopped."""

    def __init__(self, h: Harness, before: str) -> None:
        super().__init__()
        self.h, self.before = h, before

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Report | None = None, ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        self.runs.append((job_id, attempt))
        assert ledger is not None
        if self.before == "cancel":
            await self.h.jobs.cancel(job_id)  # another process's cancel: the flag only
        else:
            self.h.jobs.now += 10_000  # the lease lapsed...
            await self.h.jobs.claim(job_id, request, 60)  # ...and another delivery claimed it
        await ledger.keeper(LEDGER).begin()  # refused
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class LosesAfterWriting(FakePipeline):
    """Attempt 1 writes its ledger, then fails as a lost worker's job comes back (a
    retryable error); attempt 2 succeeds."""

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Report | None = None, ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        if attempt == 1:
            assert ledger is not None
            await ledger.keeper(LEDGER).begin()
            self.script = [StorageUnavailable("the worker's network went away")]
        return await super().run(job_id, request, preset, jobdir, attempt, report, ledger)


def test_the_claims_ledger_reaches_the_pipeline_with_a_keeper_of_the_attempt() -> None:
    h = Harness(LosesAfterWriting())
    first = h.handle(s3_put())
    assert [j.status for j in first.jobs] == ["RETRYING"]
    job_id = first.jobs[0].job_id

    again = h.handle(s3_put(), receive_count=2)

    assert [j.status for j in again.jobs] == ["COMPLETED"]
    assert h.pipeline.runs == [(job_id, 1), (job_id, 2)]
    assert h.pipeline.ledgers[0] is not None
    assert h.pipeline.ledgers[0].previous is None  # a first attempt keeps nothing
    handed = h.pipeline.ledgers[1]
    assert handed is not None
    assert handed.previous == LEDGER  # what attempt 1 wrote, carried by the claim


def test_a_ledger_write_refused_by_a_cancel_ends_the_job_cancelled() -> None:
    h = Harness(FakePipeline())
    h.use(WritesLedger(h, "cancel"))

    out = h.handle(s3_put())

    assert [j.status for j in out.jobs] == ["CANCELLED"]
    assert out.disposition is Disposition.ACK
    record = h.jobs.records[out.jobs[0].job_id]
    assert record["status"] == JobStatus.CANCELLED
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.cancelled"]


def test_a_ledger_write_refused_by_a_takeover_ends_the_attempt_superseded() -> None:
    h = Harness(FakePipeline())
    h.use(WritesLedger(h, "takeover"))

    out = h.handle(s3_put())

    assert [j.status for j in out.jobs] == ["SUPERSEDED"]
    assert out.disposition is Disposition.RETRY
    record = h.jobs.records[out.jobs[0].job_id]
    assert (record["status"], record["attempts"]) == (JobStatus.RUNNING, 2)  # the new claim's
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started"]
