"""Cancelling a job in each state, on the dispatcher with the shipped in-memory adapters: a
queued or retrying job never starts; a running one is stopped (whether the cancel is handled
in its own process, or another process's cancel reaches it through its lease renewal or its
progress write), records CANCELLED, leaves nothing under its output prefix and announces one
``job.cancelled``; a flag its dead worker left is acted on by the next claim; a finished job
stays as it ended; a second cancel says nothing more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from core.attempt.ledger_sink import AttemptLedger
from core.attempt.pipeline import Report
from core.errors import StorageUnavailable
from core.events.progress import ProgressUpdate
from core.jobs.outcome import Disposition, Outcome
from core.jobs.results import JobResult, JobStatus, output_key
from core.models import JobRequest
from core.ports import JobDir, QueueMessage
from core.presets import OutputPreset

from .dispatch_harness import OUT, Harness, s3_put
from .fakes import FakePipeline


def job_id_of_s3_put() -> str:
    return Harness(FakePipeline()).handle(s3_put()).jobs[0].job_id


JOB_ID = job_id_of_s3_put()


def cancel_body(job_id: str = JOB_ID) -> str:
    return json.dumps({"version": 2, "cancel": {"job_id": job_id}})


def handle(h: Harness, body: str, message_id: str = "msg-1") -> Outcome:
    async def run() -> Outcome:  # a guard, not a timing: a cancel that is lost would hang
        return await asyncio.wait_for(h.dispatcher.handle(QueueMessage(message_id, body)), 30)

    return asyncio.run(run())


class RunsUntilStopped(FakePipeline):
    """An attempt that uploads a segment ahead, calls ``act`` (how the cancel arrives), then
    encodes until it is stopped."""

    def __init__(self, h: Harness, act: Callable[[str, Report | None], object]) -> None:
        super().__init__()
        self.h, self.act = h, act
        self.stopped = False

    async def run(
        self, job_id: str, request: JobRequest, preset: OutputPreset, jobdir: JobDir,
        attempt: int, report: Report | None = None, ledger: AttemptLedger | None = None,
    ) -> JobResult:  # fmt: skip
        self.runs.append((job_id, attempt))
        key = output_key(OUT, job_id, "video/seg-1.m4s")
        await self.h.objects.put_bytes(b"segment", OUT.bucket, key, "video/mp4", None)
        said = self.act(job_id, report)
        if asyncio.iscoroutine(said):
            await said
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.stopped = True
            raise
        raise AssertionError("unreachable")


def assert_cancelled_while_running(h: Harness, pipeline: RunsUntilStopped, out: Outcome) -> None:
    assert pipeline.stopped  # the attempt's task was cancelled: its ffmpeg killed
    assert [(j.job_id, j.status) for j in out.jobs] == [(JOB_ID, "CANCELLED")]
    assert out.disposition is Disposition.ACK  # the job's message goes: it is over
    record = h.jobs.records[JOB_ID]
    assert (record["status"], record["announced"]) == (JobStatus.CANCELLED, True)
    assert record["error"]["code"] == "cancelled"
    assert h.events.types == ["ffapi.job.received", "ffapi.job.started", "ffapi.job.cancelled"]
    cancelled = h.events.published[-1]
    assert cancelled.data["status"] == "CANCELLED"
    assert cancelled.data["input"]["key"] == "incoming/My Clip+1.mp4"
    assert asyncio.run(h.objects.list_keys(OUT.bucket, f"{OUT.prefix}/{JOB_ID}/")) == []


def test_a_queued_job_is_cancelled_and_its_delivery_never_starts_it() -> None:
    h = Harness(FakePipeline())

    out = handle(h, cancel_body())

    assert [(j.job_id, j.status) for j in out.jobs] == [(JOB_ID, "CANCELLED")]
    assert out.disposition is Disposition.ACK
    [event] = h.events.published
    assert (event.type.value, event.subject) == ("ffapi.job.cancelled", JOB_ID)
    assert (event.data["input"], event.data["attempt"]) == (None, 1)  # no worker read it yet
    assert h.jobs.records[JOB_ID]["announced"] is True
    later = h.handle(s3_put())  # the job's own message, delivered after the cancel
    assert [j.status for j in later.jobs] == ["DUPLICATE"]
    assert later.disposition is Disposition.ACK
    assert h.pipeline.runs == []
    assert h.events.types == ["ffapi.job.cancelled"]


def test_a_retrying_job_is_cancelled_and_not_run_again() -> None:
    h = Harness(FakePipeline(StorageUnavailable("s3 down")))
    assert [j.status for j in h.handle(s3_put()).jobs] == ["RETRYING"]

    out = handle(h, cancel_body())

    assert [j.status for j in out.jobs] == ["CANCELLED"]
    event = h.events.published[-1]
    assert (event.type.value, event.data["attempt"]) == ("ffapi.job.cancelled", 1)
    assert event.data["input"]["key"] == "incoming/My Clip+1.mp4"  # its record knew it
    assert [j.status for j in h.handle(s3_put(), receive_count=2).jobs] == ["DUPLICATE"]
    assert len(h.pipeline.runs) == 1
    assert h.events.types.count("ffapi.job.cancelled") == 1


def test_a_cancel_handled_where_the_job_runs_stops_it_at_once() -> None:
    h = Harness(FakePipeline())  # the lease (60 s) is never renewed in this test
    cancels: list[Outcome] = []

    async def cancel_here(job_id: str, report: Report | None) -> None:
        cancels.append(await h.dispatcher.handle(QueueMessage("msg-2", cancel_body(job_id))))

    pipeline = RunsUntilStopped(h, cancel_here)
    h.use(pipeline)

    out = handle(h, s3_put())

    assert [j.status for j in cancels[0].jobs] == ["CANCELLED"]  # asked; the attempt says it
    assert_cancelled_while_running(h, pipeline, out)


def test_another_process_s_cancel_reaches_the_attempt_through_its_lease_renewal() -> None:
    h = Harness(FakePipeline(), lease_seconds=0.03)  # renewals every 10 ms

    async def cancel_elsewhere(job_id: str, report: Report | None) -> None:
        answer = await h.jobs.cancel(job_id)  # as `ffapi cancel` does: the store alone
        assert answer.outcome == "requested"

    pipeline = RunsUntilStopped(h, cancel_elsewhere)
    h.use(pipeline)

    out = handle(h, s3_put())

    assert h.jobs.renewals >= 1
    assert_cancelled_while_running(h, pipeline, out)


def test_another_process_s_cancel_reaches_the_attempt_through_its_progress() -> None:
    h = Harness(FakePipeline())  # a lease of 60 s: no renewal comes before the progress

    async def cancel_then_progress(job_id: str, report: Report | None) -> None:
        await h.jobs.cancel(job_id)
        assert report is not None
        report(ProgressUpdate(phase="encode", percent=30.0))

    pipeline = RunsUntilStopped(h, cancel_then_progress)
    h.use(pipeline)

    out = handle(h, s3_put())

    assert h.jobs.renewals == 0
    assert_cancelled_while_running(h, pipeline, out)
    assert "progress" not in h.jobs.records[JOB_ID]  # the refused write wrote nothing


def test_a_flag_left_by_a_dead_worker_makes_the_next_claim_cancel_instead_of_run() -> None:
    h = Harness(FakePipeline())
    request = JobRequest.model_validate({"input": {"bucket": "ffapi-input", "key": "k"}})
    asyncio.run(h.jobs.claim(JOB_ID, request, 60))  # the worker that died
    assert asyncio.run(h.jobs.cancel(JOB_ID)).outcome == "requested"
    h.jobs.now += 120  # its lease lapsed

    out = h.handle(s3_put(), receive_count=2)

    assert [j.status for j in out.jobs] == ["CANCELLED"]
    assert h.pipeline.runs == []
    assert h.events.types == ["ffapi.job.cancelled"]
    assert h.events.published[0].data["attempt"] == 2
    assert h.jobs.records[JOB_ID]["status"] == JobStatus.CANCELLED


def test_a_completed_job_stays_completed_and_a_second_cancel_says_nothing() -> None:
    h = Harness(FakePipeline())
    h.handle(s3_put())

    out = handle(h, cancel_body())

    assert [j.status for j in out.jobs] == ["DUPLICATE"]
    assert h.jobs.records[JOB_ID]["status"] == JobStatus.COMPLETED
    assert "ffapi.job.cancelled" not in h.events.types

    queued = Harness(FakePipeline())
    handle(queued, cancel_body())
    again = handle(queued, cancel_body(), message_id="msg-2")
    assert [j.status for j in again.jobs] == ["DUPLICATE"]
    assert queued.events.types == ["ffapi.job.cancelled"]


def test_a_cancel_naming_no_job_id_of_ours_is_refused() -> None:
    h = Harness(FakePipeline())

    out = handle(h, json.dumps({"version": 2, "cancel": {"job_id": "j-../../x"}}))

    assert [(j.status, j.error.code if j.error else None) for j in out.jobs] == [
        ("FAILED", "invalid_request")
    ]
    assert h.jobs.records == {}


def test_a_cancellation_whose_announcement_failed_is_said_by_the_job_s_delivery() -> None:
    h = Harness(FakePipeline())
    h.events.outage = {"ffapi.job.cancelled"}  # the topic fails the first one
    with pytest.raises(StorageUnavailable):  # the consumer hands the cancel message back
        handle(h, cancel_body())
    assert h.jobs.records[JOB_ID]["status"] == JobStatus.CANCELLED  # recorded, unannounced
    assert h.jobs.records[JOB_ID]["announced"] is False

    later = h.handle(s3_put())

    assert [j.status for j in later.jobs] == ["DUPLICATE"]
    assert h.pipeline.runs == []
    [event] = h.events.published
    assert (event.type.value, event.data["input"]) == ("ffapi.job.cancelled", None)  # as first
    assert h.jobs.records[JOB_ID]["announced"] is True


def test_a_cancelled_job_leaves_nothing_in_its_further_destinations_either() -> None:
    h = Harness(FakePipeline())
    mirror = {"bucket": OUT.bucket, "prefix": "outputs/mirror"}
    request = {"version": 2, "input": {"bucket": "ffapi-input", "key": "incoming/My Clip+1.mp4"},
               "destinations": [mirror]}  # fmt: skip

    async def copied_then_cancelled(job_id: str, report: Report | None) -> None:
        key = f"outputs/mirror/{job_id}/video/seg-1.m4s"  # a copy the attempt had made
        await h.objects.put_bytes(b"segment", OUT.bucket, key, "video/mp4", None)
        await h.dispatcher.handle(QueueMessage("msg-2", cancel_body(job_id)))

    pipeline = RunsUntilStopped(h, copied_then_cancelled)
    h.use(pipeline)

    out = handle(h, json.dumps(request))

    [job] = out.jobs
    assert (job.status, pipeline.stopped) == ("CANCELLED", True)
    for prefix in (f"{OUT.prefix}/{job.job_id}/", f"outputs/mirror/{job.job_id}/"):
        assert asyncio.run(h.objects.list_keys(OUT.bucket, prefix)) == []
    assert h.events.types.count("ffapi.job.cancelled") == 1
