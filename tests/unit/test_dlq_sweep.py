"""The dead-letter sweep (core/jobs/dlq_sweep.py) on the dispatcher's in-memory ports: a job
dead-lettered with no outcome is failed and announced once, as ``max_attempts`` (cause
``worker_lost``), only when no live delivery can still finish it; a finished job is left
alone, an unannounced outcome announced; the letter stays for a redrive, which runs the job
again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.errors import StorageUnavailable
from core.events.cloudevent import EventType
from core.jobs.dlq_sweep import DeadLetterSweep, SweepReport
from core.jobs.results import JobStatus
from core.ports import QueueMessage

from .dispatch_harness import Harness, body, s3_put
from .fakes import FakePipeline

LETTER = "msg-1"  # the message id the harness delivers under, kept by the DLQ


class FakeDeadLetters:
    """The DLQ port on a list: every letter visited on each pass, none taken."""

    def __init__(self, *letters: QueueMessage, outage: bool = False) -> None:
        self.letters = list(letters)
        self.outage = outage

    async def visit(self, limit: int, visitor: Callable[[QueueMessage], Awaitable[None]]) -> int:
        if self.outage:
            raise StorageUnavailable("sqs:ReceiveMessage: ServiceUnavailable")
        for letter in self.letters[:limit]:
            await visitor(letter)
        return min(limit, len(self.letters))


def _sweep(h: Harness, dlq: FakeDeadLetters) -> DeadLetterSweep:
    return DeadLetterSweep(h.settings, h.objects, h.jobs, dlq, h.dispatcher.reannounce)


def _killed_on_every_delivery(attempts: int = 2) -> tuple[Harness, str]:
    """A job claimed ``attempts`` times under message msg-1, each worker killed mid-attempt
    (its lease left to lapse), the message then dead-lettered."""
    h = Harness(FakePipeline(StorageUnavailable("s3 down")))
    [job] = h.handle(s3_put()).jobs  # RETRYING: the record exists, carried by msg-1
    record = h.jobs.records[job.job_id]
    record.update(
        status=JobStatus.RUNNING, attempts=attempts, carrier=LETTER, lease_until=h.jobs.now - 1
    )
    h.events.published.clear()
    return h, job.job_id


def _failed(h: Harness) -> list[dict[str, Any]]:
    return [e.data for e in h.events.published if e.type is EventType.FAILED]


def test_a_job_whose_workers_died_is_failed_once_as_max_attempts() -> None:
    h, job_id = _killed_on_every_delivery(attempts=2)
    sweep = _sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3)))

    first = asyncio.run(sweep.sweep())
    again = asyncio.run(sweep.sweep())

    assert (first.letters, first.failed, first.announced) == (1, [job_id], [])
    assert (again.failed, again.announced) == ([], [])
    [event] = [e for e in h.events.published if e.type is EventType.FAILED]
    assert event.subject == job_id
    error = event.data["error"]
    assert error["code"] == "max_attempts"
    assert error["details"]["cause"]["code"] == "worker_lost"
    assert event.data["attempt"] == 2
    record = h.jobs.records[job_id]
    assert (record["status"], record["retryable"], record["announced"]) == (
        JobStatus.FAILED,
        True,
        True,
    )


def test_a_live_lease_is_waited_for_then_the_job_is_failed() -> None:
    h, job_id = _killed_on_every_delivery()
    h.jobs.records[job_id]["lease_until"] = h.jobs.now + 30  # the killed worker's, not lapsed
    sweep = _sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3)))

    assert asyncio.run(sweep.sweep()).failed == []
    assert _failed(h) == []
    h.jobs.now += 31
    assert asyncio.run(sweep.sweep()).failed == [job_id]
    assert len(_failed(h)) == 1


def test_a_job_carried_by_another_message_is_left_to_it() -> None:
    h, job_id = _killed_on_every_delivery()
    h.jobs.records[job_id]["carrier"] = "msg-2"  # a live message took the job over
    report = asyncio.run(_sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3))).sweep())

    assert report.failed == []
    assert h.jobs.records[job_id]["status"] == JobStatus.RUNNING
    assert _failed(h) == []


def test_a_job_handed_back_and_never_run_again_is_failed() -> None:
    h, job_id = _killed_on_every_delivery()
    h.jobs.records[job_id].update(status=JobStatus.RETRYING, lease_until=0)
    report = asyncio.run(_sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3))).sweep())
    assert report.failed == [job_id]


def test_a_job_never_claimed_is_failed_with_its_request_recorded() -> None:
    h = Harness(FakePipeline())
    report = asyncio.run(_sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3))).sweep())

    [job_id] = report.failed
    [event] = _failed(h)
    assert event["attempt"] == 1
    assert event["input"]["key"] == "incoming/My Clip+1.mp4"
    assert event["input"]["size"] == 1234  # pinned by a HEAD, as the dispatcher pins it
    assert h.jobs.records[job_id]["request"]["input"]["key"] == "incoming/My Clip+1.mp4"
    assert h.jobs.records[job_id]["attempts"] == 0
    h.use(FakePipeline(None))  # the same message, redriven: the dispatcher's job id
    assert [j.job_id for j in h.handle(s3_put()).jobs] == [job_id]


def test_finished_jobs_are_left_alone_and_an_unannounced_one_is_announced() -> None:
    h = Harness(FakePipeline(None))
    [job] = h.handle(s3_put()).jobs  # completed and announced
    h.events.published.clear()
    sweep = _sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3)))

    assert asyncio.run(sweep.sweep()) == SweepReport(letters=1)
    assert h.events.published == []

    h.jobs.records[job.job_id]["announced"] = False  # its worker died before saying it
    assert asyncio.run(sweep.sweep()).announced == [job.job_id]
    assert [e.type for e in h.events.published] == [EventType.COMPLETED]
    assert h.jobs.records[job.job_id]["status"] == JobStatus.COMPLETED


def test_two_sweepers_of_one_letter_announce_once() -> None:
    h, _ = _killed_on_every_delivery()
    dlq = FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3))

    async def both() -> list[SweepReport]:
        return list(await asyncio.gather(_sweep(h, dlq).sweep(), _sweep(h, dlq).sweep()))

    reports = asyncio.run(both())
    assert sorted(len(r.failed) for r in reports) == [0, 1]
    assert len(_failed(h)) == 1


def test_letters_that_are_no_job_or_whose_input_is_gone_are_skipped() -> None:
    h = Harness(FakePipeline())
    gone = s3_put().replace("My+Clip%2B1.mp4", "deleted.mp4")
    dlq = FakeDeadLetters(QueueMessage("m-a", "not json"), QueueMessage("m-b", gone))
    report = asyncio.run(_sweep(h, dlq).sweep())

    assert (report.letters, report.skipped, report.failed) == (2, 2, [])
    assert h.events.published == []
    assert h.jobs.records == {}


def test_a_redriven_letter_runs_the_failed_job_again() -> None:
    h, job_id = _killed_on_every_delivery(attempts=2)
    asyncio.run(_sweep(h, FakeDeadLetters(QueueMessage(LETTER, s3_put(), 3))).sweep())
    h.use(FakePipeline(None))

    [job] = h.handle(s3_put(), message_id="msg-redriven").jobs  # `ffapi dlq redrive`

    assert (job.job_id, job.status) == (job_id, "COMPLETED")
    assert h.pipeline.runs == [(job_id, 3)]
    assert [e.type for e in h.events.published][-1] is EventType.COMPLETED


def test_the_loop_outlives_a_failed_pass_and_ends_on_stop() -> None:
    h = Harness(FakePipeline())
    dlq = FakeDeadLetters(QueueMessage(LETTER, body("job-request.json")), outage=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(_sweep(h, dlq).run(stop, every=0))
        for _ in range(5):  # several passes, each failing on the DLQ
            await asyncio.sleep(0)
        assert not loop.done()
        stop.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(run())
    assert h.events.published == []
